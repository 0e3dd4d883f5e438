from django import forms

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
