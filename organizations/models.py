from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper


class OrganizationType(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    LEAD = "lead", "Lead"
    PROSPECT = "prospect", "Prospect"
    VENDOR = "vendor", "Vendor"
    PARTNER = "partner", "Partner"
    DEAD = "dead", "Dead"
    CANCELATION = "cancelation", "Cancelation"


NON_BILLABLE_TYPES = (OrganizationType.DEAD, OrganizationType.CANCELATION)


class OrganizationQuerySet(models.QuerySet):
    def billable(self):
        """Organizations that may be mapped anywhere: every type but Dead and Cancelation."""
        return self.exclude(org_type__in=NON_BILLABLE_TYPES)

    def search(self, query: str):
        """Case-insensitive substring match on the name (a trigram index serves it on PostgreSQL),
        or an exact Autotask ID when the query is a number."""
        query = (query or "").strip()
        if not query:
            return self
        condition = Q(name__icontains=query)
        if query.isdigit():
            condition |= Q(autotask_id=int(query))
        return self.filter(condition)

    def ranked_for(self, query: str):
        """Typeahead order: names starting with the query first, then alphabetical."""
        query = (query or "").strip()
        starts = models.Case(
            models.When(name__istartswith=query, then=0),
            default=1,
            output_field=models.IntegerField(),
        )
        return self.search(query).order_by(starts, Upper("name"), "pk")


class Organization(models.Model):
    autotask_id = models.BigIntegerField("Autotask ID", unique=True)
    name = models.CharField(max_length=255)
    org_type = models.CharField(
        "type", max_length=16, choices=OrganizationType.choices, default=OrganizationType.CUSTOMER
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    active = models.BooleanField(default=True)

    # Billing fields, as QuickBooks takes them (lengths are enforced when sending, in qbwc_soap).
    address1 = models.CharField("address line 1", max_length=255, blank=True)
    address2 = models.CharField("address line 2", max_length=255, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField("state / province", max_length=100, blank=True)
    postal_code = models.CharField(max_length=32, blank=True)
    country = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=64, blank=True)
    email = models.CharField(max_length=254, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        ordering = [Upper("name"), "pk"]
        indexes = [models.Index(Upper("name"), "id", name="org_upper_name_idx")]

    def __str__(self):
        return self.name

    @property
    def is_billable(self) -> bool:
        return self.org_type not in NON_BILLABLE_TYPES

    def clean(self):
        errors = {}
        if self.email:
            try:
                validate_email(self.email)
            except ValidationError:
                errors["email"] = "Enter a valid email address."
        if self.parent_id and self.pk and self.parent_id == self.pk:
            errors["parent"] = "An organization cannot be its own parent."
        if errors:
            raise ValidationError(errors)


class OrganizationTerm(models.TextChoices):
    ORGANIZATION = "Organization", "Organization"
    ACCOUNT = "Account", "Account"
    BUSINESS_UNIT = "Business Unit", "Business Unit"
    CLIENT_COMPANY = "Client Company", "Client Company"
    CUSTOMER = "Customer", "Customer"
    SITE = "Site", "Site"


TERM_PLURALS = {
    OrganizationTerm.ORGANIZATION: "Organizations",
    OrganizationTerm.ACCOUNT: "Accounts",
    OrganizationTerm.BUSINESS_UNIT: "Business Units",
    OrganizationTerm.CLIENT_COMPANY: "Client Companies",
    OrganizationTerm.CUSTOMER: "Customers",
    OrganizationTerm.SITE: "Sites",
}


class PortalSettings(models.Model):
    """Portal-wide settings an admin edits in the portal; a single row (pk=1)."""

    organization_term = models.CharField(
        max_length=32, choices=OrganizationTerm.choices, default=OrganizationTerm.ORGANIZATION
    )

    class Meta:
        verbose_name_plural = "portal settings"
        permissions = [("change_organization_term", "Can change what organizations are called")]

    def __str__(self):
        return "Portal settings"

    @classmethod
    def load(cls) -> "PortalSettings":
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj
