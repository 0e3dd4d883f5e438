from django import forms

from .models import SourceKind


class SourceForm(forms.Form):
    source_kind = forms.ChoiceField(label="Source", choices=SourceKind.choices)
    base_url = forms.CharField(label="Base URL", max_length=500)
    credentials = forms.CharField(
        label="Token",
        required=False,
        max_length=1000,
        # Never render the stored token back into the page.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, module, **kwargs):
        self.module = module
        super().__init__(*args, **kwargs)
        # Fixture files are the demo's stand-in for a module API: offered only where the demo
        # set them up, never as a choice for a real module.
        if module.source_kind != SourceKind.FIXTURE:
            self.fields["source_kind"].choices = [
                choice for choice in SourceKind.choices if choice[0] != SourceKind.FIXTURE
            ]
        if module.credentials:
            self.fields[
                "credentials"
            ].help_text = f"Stored: {module.masked_credentials}. Leave blank to keep it."

    def clean(self):
        data = super().clean()
        kind, base_url = data.get("source_kind"), (data.get("base_url") or "").strip()
        if kind and base_url:
            from django.core.exceptions import ValidationError

            from .sources.base import validate_base_url

            try:
                validate_base_url(kind, base_url)
            except ValidationError as exc:
                self.add_error("base_url", exc)
        token = data.get("credentials") or ""
        if kind in (SourceKind.FEED, SourceKind.DATTO_RMM, SourceKind.DATTO_PARTNER) and not (
            token or self.module.credentials
        ):
            self.add_error("credentials", "Enter the API token.")
        elif kind == SourceKind.DATTO_PARTNER and token:
            from .sources.datto_partner import key_pair

            if key_pair(token) is None:
                self.add_error("credentials", "Enter the Datto API keys as PUBLIC_KEY:SECRET_KEY.")
        return data


class ToggleForm(forms.Form):
    enabled = forms.BooleanField(required=False)
    # Disabling takes a module off every mapping page: only from its confirmation page.
    confirm = forms.BooleanField(required=False)


class SyncEmailForm(forms.Form):
    subscribe = forms.BooleanField(required=False)


class StatusForm(forms.Form):
    runs = forms.BooleanField(required=False)


# --- Kaseya Module Organization Mapping ---------------------------------------------------


class ByOrganizationFilterForm(forms.Form):
    STATUS_CHOICES = [
        ("", "All"),
        ("unmapped", "Has unmapped modules"),
        ("ignored", "Has ignored modules"),
    ]
    q = forms.CharField(required=False, max_length=100)
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    page = forms.IntegerField(required=False, min_value=1)


class ByModuleOrganizationFilterForm(forms.Form):
    STATUS_CHOICES = [
        ("", "All active"),
        ("unmapped", "Unmapped"),
        ("mapped", "Mapped"),
        ("ignored", "Ignored"),
        ("inactive", "Inactive"),
    ]
    q = forms.CharField(required=False, max_length=100)
    module = forms.ChoiceField(required=False)
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    organization = forms.IntegerField(required=False, min_value=1)
    page = forms.IntegerField(required=False, min_value=1)

    def __init__(self, *args, modules, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["module"].choices = [("", "All modules")] + [
            (module.code, module.name) for module in modules
        ]


class CellForm(forms.Form):
    """A Map by Organization cell: pick a module organization (op missing or "map"), Ignore, or
    clear. `expected` is the cell's state as it was rendered (CellState.token)."""

    op = forms.ChoiceField(
        choices=[("map", "Map"), ("ignore", "Ignore"), ("clear", "Clear")], required=False
    )
    module_organization = forms.IntegerField(required=False, min_value=1)
    expected = forms.CharField(required=False, max_length=2000)

    def clean_expected(self):
        from .mapping import CellState

        return CellState.parse(self.cleaned_data["expected"])

    def clean(self):
        data = super().clean()
        data["op"] = data.get("op") or "map"
        if data["op"] == "map" and not data.get("module_organization"):
            self.add_error("module_organization", "Choose a module organization from the list.")
        return data


class RowForm(forms.Form):
    """A Map by Module Organization row. The organization field accepts any organization so that
    a refusal can say why (Dead, Cancelation) rather than "invalid choice"."""

    op = forms.ChoiceField(
        choices=[
            ("map", "Map"),
            ("unmap", "Unmap"),
            ("ignore", "Ignore"),
            ("unignore", "Un-ignore"),
        ],
        required=False,  # picking an organization posts no op: it means "map"
    )
    organization = forms.IntegerField(required=False, min_value=1)
    expected_organization = forms.IntegerField(required=False, min_value=1)
    expected_ignored = forms.BooleanField(required=False)

    def clean(self):
        from organizations.models import Organization
        from organizations.terms import current_term

        data = super().clean()
        data["op"] = data.get("op") or "map"
        if data["op"] == "map":
            org = None
            if data.get("organization"):
                org = Organization.objects.filter(pk=data["organization"]).first()
            if org is None:
                self.add_error("organization", f"Choose {current_term().a} from the list.")
            data["organization"] = org
        return data

    @property
    def expected(self):
        from .mapping import ModuleOrgState

        return ModuleOrgState(
            self.cleaned_data.get("expected_organization"),
            bool(self.cleaned_data.get("expected_ignored")),
        )


class BulkMapForm(forms.Form):
    ids = forms.TypedMultipleChoiceField(coerce=int, required=True, choices=())
    organization = forms.IntegerField(required=False, min_value=1)
    op = forms.ChoiceField(choices=[("map", "Map"), ("ignore", "Ignore")], required=False)
    # Set by the confirmation that lists rows already billing elsewhere.
    confirm = forms.BooleanField(required=False)

    def __init__(self, data, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        # Any integer is a valid choice here: the view looks the rows up and the services judge.
        self.fields["ids"].choices = [(v, v) for v in data.getlist("ids") if str(v).isdigit()]
        self.fields["ids"].error_messages["required"] = "Select at least one row."

    def clean_op(self):
        return self.cleaned_data.get("op") or "map"

    def clean_organization(self):
        from organizations.models import Organization
        from organizations.terms import current_term

        if self.data.get("op") == "ignore":
            return None
        pk = self.cleaned_data.get("organization")
        org = Organization.objects.filter(pk=pk).first() if pk else None
        if org is None:
            raise forms.ValidationError(f"Choose {current_term().a} from the list.")
        return org


class ReviewFilterForm(forms.Form):
    """Review suggestions: which module (a code, or all) and which confidence (or all)."""

    CONFIDENCE_CHOICES = [
        ("all", "All confidences"),
        ("high", "High"),
        ("medium", "Medium"),
        ("low", "Low"),
    ]
    module = forms.ChoiceField(required=False)
    confidence = forms.ChoiceField(choices=CONFIDENCE_CHOICES, required=False)
    page = forms.IntegerField(required=False, min_value=1)

    def __init__(self, *args, modules, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["module"].choices = [("all", "All modules")] + [
            (module.code, module.name) for module in modules
        ]

    def clean_module(self):
        return "" if self.cleaned_data["module"] in ("", "all") else self.cleaned_data["module"]

    def clean_confidence(self):
        value = self.cleaned_data["confidence"]
        return "" if value in ("", "all") else value


class AcceptSuggestionsForm(forms.Form):
    """Review suggestions' Accept selected: the selected module organizations; each row posts
    the organization it was suggested to and the state it was rendered with."""

    ids = forms.TypedMultipleChoiceField(coerce=int, required=True, choices=())

    def __init__(self, data, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        # Any integer is a valid choice here: the view looks the rows up and the service judges.
        self.fields["ids"].choices = [(v, v) for v in data.getlist("ids") if str(v).isdigit()]
        self.fields["ids"].error_messages["required"] = "Select at least one suggestion."


class ColumnsForm(forms.Form):
    """The column chooser: the order shown (module codes, comma-separated) and one move."""

    order = forms.CharField(required=False, max_length=4000)
    move = forms.RegexField(regex=r"^[-\w]+:(-1|1)$", required=False)

    def clean_order(self):
        return [code for code in self.cleaned_data["order"].split(",") if code.strip()]
