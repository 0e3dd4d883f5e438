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
        if kind in (SourceKind.FEED, SourceKind.DATTO_RMM) and not (
            data.get("credentials") or self.module.credentials
        ):
            self.add_error("credentials", "Enter the API token.")
        return data


class ToggleForm(forms.Form):
    enabled = forms.BooleanField(required=False)


class StatusForm(forms.Form):
    runs = forms.BooleanField(required=False)
