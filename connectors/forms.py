from django import forms
from django.core.exceptions import ValidationError

from organizations.models import Organization
from organizations.terms import current_term

from .models import OrganizationConnectorMapping, WebConnector
from .services import ANY, validate_mapping


class WebConnectorForm(forms.ModelForm):
    class Meta:
        model = WebConnector
        fields = [
            "name",
            "company_file",
            "username",
            "run_every_minutes",
            "qbxml_version",
            "active",
        ]

    def clean_active(self):
        active = self.cleaned_data["active"]
        if not active and self.instance.pk and self.instance.is_default:
            raise ValidationError(
                "The default web connector cannot be deactivated. Make another connector the "
                "default first."
            )
        return active


class MappingFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100)
    connector = forms.ModelChoiceField(
        queryset=WebConnector.objects.filter(is_default=False), required=False
    )
    page = forms.IntegerField(required=False, min_value=1)


class MappingForm(forms.Form):
    """The Organization Mapping dialog. The organization field accepts any organization so that a
    refusal can say *why* (Dead, Cancelation, already mapped) rather than "invalid choice"."""

    organization = forms.ModelChoiceField(
        queryset=Organization.objects.all(),
        error_messages={"required": "Choose an organization from the list."},
    )
    connector = forms.ModelChoiceField(
        queryset=WebConnector.objects.all(),
        label="QuickBooks Web Connector",
        error_messages={"required": "Choose a QuickBooks Web Connector."},
    )
    # The connector the Edit dialog was rendered with, so a save from a stale dialog is refused.
    expected_connector = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, mapping: OrganizationConnectorMapping | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.mapping = mapping
        term = current_term()
        self.fields["organization"].label = term.singular
        self.fields["organization"].error_messages["required"] = f"Choose {term.a} from the list."
        # Only active non-default connectors are offered; validation still names the reason if
        # another one is posted.
        self.fields["connector"].choices = [("", "Choose a web connector")] + [
            (c.pk, c.name) for c in WebConnector.objects.mappable()
        ]
        if mapping is not None:
            self.fields["organization"].disabled = True
            self.initial.setdefault("organization", mapping.organization_id)
            self.initial.setdefault("connector", mapping.connector_id)
            self.initial.setdefault("expected_connector", mapping.connector_id)

    def expected(self):
        """The connector the dialog showed, for the service's check (ANY when not posted, so a
        client that predates the field still saves)."""
        if "expected_connector" not in self.data:
            return ANY
        return self.cleaned_data.get("expected_connector")

    def clean(self):
        cleaned = super().clean()
        org, connector = cleaned.get("organization"), cleaned.get("connector")
        if org is not None and connector is not None:
            try:
                validate_mapping(org, connector)
            except ValidationError as exc:
                for field, errors in exc.error_dict.items():
                    for error in errors:
                        self.add_error(field, error)
        if org is not None and self.mapping is None and "organization" not in self.errors:
            existing = (
                OrganizationConnectorMapping.objects.select_related("connector")
                .filter(organization=org)
                .first()
            )
            if existing is not None:
                self.existing_mapping = existing
                self.add_error(
                    "organization",
                    ValidationError(
                        f"{org.name} is already mapped to {existing.connector.name}. "
                        "Edit the existing mapping instead.",
                        code="already_mapped",
                    ),
                )
        return cleaned
