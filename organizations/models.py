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

# What QuickBooks takes from an organization, besides its name (sent by qbwc_soap, imported by CSV).
BILLING_FIELDS = (
    "address1", "address2", "city", "state", "postal_code", "country", "phone", "email",
)  # fmt: skip


def _upper(text: str):
    # Upper-cased by the database, exactly as the stored name_upper column was.
    return Upper(models.Value(text, output_field=models.CharField()))


class OrganizationQuerySet(models.QuerySet):
    def billable(self):
        """Organizations that may be mapped anywhere: every type but Dead and Cancelation."""
        return self.exclude(org_type__in=NON_BILLABLE_TYPES)

    def search(self, query: str):
        """Case-insensitive substring match on the name (a trigram index on the stored upper-case
        name serves it on PostgreSQL), or an exact Autotask ID when the query is a number."""
        query = (query or "").strip()
        if not query:
            return self
        condition = Q(name_upper__contains=_upper(query))
        if query.isdigit():
            condition |= Q(autotask_id=int(query))
        return self.filter(condition)

    def typeahead(self, query: str, limit: int) -> list["Organization"]:
        """Up to `limit` organizations whose name contains `query` (any case): names that start
        with it first, then the others, each alphabetical. Two queries instead of one ranked
        query: each can stop at `limit` rows on an index, where ranking every match cannot."""
        query = (query or "").strip()
        if not query:
            return []
        upper = _upper(query)
        if len(query) >= 3:
            # Ordered by `name`, which no index covers: with a LIMIT the planner would otherwise
            # walk the (name_upper, id) btree in order (the whole table when nothing matches)
            # instead of taking the trigram index and sorting only the matches.
            ordered = self.order_by("name", "pk")
        else:
            # Too short for trigrams: walking the btree in order stops early on common prefixes.
            ordered = self.order_by("name_upper", "pk")
        found = list(ordered.filter(name_upper__startswith=upper)[:limit])
        if len(found) < limit:
            found += ordered.filter(name_upper__contains=upper).exclude(
                name_upper__startswith=upper
            )[: limit - len(found)]
        return found


class Organization(models.Model):
    autotask_id = models.BigIntegerField("Autotask ID", unique=True)
    name = models.CharField(max_length=255)
    # Stored so that searching and sorting 100,000+ names needs no per-row function call.
    name_upper = models.GeneratedField(
        expression=Upper("name"), output_field=models.CharField(max_length=255), db_persist=True
    )
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
        ordering = ["name_upper", "pk"]
        indexes = [models.Index(fields=["name_upper", "id"], name="org_name_upper_idx")]

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
