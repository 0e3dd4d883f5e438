from django import forms
from django.core.exceptions import ValidationError

from organizations.models import Organization

from . import services
from .prices import MAX_PRICE


class PeriodForm(forms.Form):
    """?period=YYYY-MM on the Invoices page (default: last month)."""

    period = forms.CharField(required=False, max_length=7)
    page = forms.IntegerField(required=False, min_value=1)

    def clean_period(self):
        value = self.cleaned_data["period"]
        if not value:
            return services.last_month()
        return services.parse_period(value)


class PriceForm(forms.Form):
    amount = forms.DecimalField(
        required=False, min_value=0, max_value=MAX_PRICE, max_digits=14, decimal_places=4
    )

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization = organization
        # Blank removes an organization's own price; the default must stay a number.
        self.fields["amount"].required = organization is None


class PriceFilterForm(forms.Form):
    """?organization=<pk> on the Prices page: show and edit that organization's own prices."""

    organization = forms.IntegerField(required=False)

    def clean_organization(self):
        pk = self.cleaned_data["organization"]
        if pk is None:
            return None
        organization = Organization.objects.billable().filter(pk=pk).first()
        if organization is None:
            raise ValidationError("Pick an organization that can receive bills.")
        return organization


class ApproveForm(forms.Form):
    period = forms.CharField(max_length=7)
    invoice = forms.TypedMultipleChoiceField(coerce=int, required=False, choices=())
    all = forms.BooleanField(required=False)

    def __init__(self, *args, drafts=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["invoice"].choices = [(pk, pk) for pk in drafts]

    def clean_period(self):
        return services.parse_period(self.cleaned_data["period"])

    def clean(self):
        data = super().clean()
        if not data.get("all") and not data.get("invoice"):
            raise ValidationError("Select the drafts to approve, or approve all.")
        return data
