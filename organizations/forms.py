from django import forms

from mapping_portal.lib.text import validate_clean_text

from .models import OrganizationTerm, OrganizationType, PortalSettings

PAGE_SIZES = (25, 50, 100)


class OrganizationFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
    type = forms.ChoiceField(required=False, choices=[("", "All types"), *OrganizationType.choices])
    page = forms.IntegerField(required=False, min_value=1)


class TypeaheadForm(forms.Form):
    q = forms.CharField(required=False, max_length=100)
    limit = forms.IntegerField(required=False, min_value=1, max_value=50)


class BrowseForm(forms.Form):
    q = forms.CharField(required=False, max_length=100)
    page = forms.IntegerField(required=False, min_value=1)


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="UTF-8, comma-separated, with a header row.")


class TermForm(forms.ModelForm):
    organization_term = forms.ChoiceField(
        choices=OrganizationTerm.choices,
        widget=forms.RadioSelect,
        label="What should the portal call an organization?",
    )

    class Meta:
        model = PortalSettings
        fields = ["organization_term"]


class PsaSettingsForm(forms.Form):
    base_url = forms.CharField(
        label="Base URL",
        max_length=500,
        validators=[validate_clean_text],
        help_text="Autotask's REST root, from which the API user's zone is looked up: "
        "https://webservices.autotask.net/ATServicesRest",
    )
    username = forms.CharField(
        label="API username", max_length=254, validators=[validate_clean_text]
    )
    # Never rendered back into the page: blank keeps the stored value.
    secret = forms.CharField(
        label="Secret",
        required=False,
        max_length=500,
        validators=[validate_clean_text],
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    integration_code = forms.CharField(
        label="API integration code",
        required=False,
        max_length=500,
        validators=[validate_clean_text],
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args, psa, **kwargs):
        super().__init__(*args, **kwargs)
        for field, masked in (
            ("secret", psa.masked_secret),
            ("integration_code", psa.masked_integration_code),
        ):
            if masked:
                self.fields[field].help_text = f"Stored: {masked}. Leave blank to keep it."
