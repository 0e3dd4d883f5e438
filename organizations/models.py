from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper

from mapping_portal.lib.runs import Run, RunQuerySet, RunStatus


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
    # Tax details as the PSA keeps them (Autotask taxID / isTaxExempt); not sent to QuickBooks.
    tax_id = models.CharField("tax ID", max_length=64, blank=True)
    tax_exempt = models.BooleanField(default=False)

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


class PsaSettings(models.Model):
    """How to reach the PSA (Autotask REST) that organizations are synced from; a single row
    (pk=1). The secret and the integration code are never rendered back in full, never logged."""

    base_url = models.CharField("base URL", max_length=500, blank=True)
    username = models.CharField("API username", max_length=254, blank=True)
    secret = models.CharField(max_length=500, blank=True)
    integration_code = models.CharField("API integration code", max_length=500, blank=True)
    # The zone's REST base the last run was given by zoneInformation (shown, not trusted).
    zone_url = models.CharField("zone URL", max_length=500, blank=True, editable=False)
    last_sync_succeeded_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The sync lease, claimed with a conditional UPDATE (organizations/psa_sync.py): one sync at a
    # time, and a run that outlived its lease cannot apply over a newer run.
    sync_locked_until = models.DateTimeField(null=True, blank=True, editable=False)
    sync_lease_holder = models.PositiveBigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "PSA settings"
        verbose_name_plural = "PSA settings"
        permissions = [("configure_psa", "Can configure the PSA (Autotask) sync")]

    def __str__(self):
        return "Autotask PSA settings"

    @classmethod
    def load(cls) -> "PsaSettings":
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.username and self.secret and self.integration_code)

    @staticmethod
    def mask(value: str) -> str:
        """Enough to recognise which value is stored, never enough to use it."""
        if not value:
            return ""
        return "••••" if len(value) <= 8 else f"••••{value[-4:]}"

    @property
    def masked_secret(self) -> str:
        return self.mask(self.secret)

    @property
    def masked_integration_code(self) -> str:
        return self.mask(self.integration_code)


PsaSyncStatus = RunStatus


class PsaSyncTrigger(models.TextChoices):
    NIGHTLY = "nightly", "Nightly"
    MANUAL = "manual", "Manual"


class PsaSyncRun(Run):
    """One sync of organizations from the PSA: all or nothing, with what it changed."""

    trigger = models.CharField(max_length=16, choices=PsaSyncTrigger.choices)
    companies_fetched = models.PositiveIntegerField(default=0)
    # Requests sent to the PSA (every attempt counts against Autotask's hourly threshold).
    requests_made = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField("created", default=0)

    objects = RunQuerySet.as_manager()

    class Meta(Run.Meta):
        indexes = [models.Index(fields=["-queued_at"], name="psa_sync_run_queued_idx")]

    def __str__(self):
        return f"PSA {self.get_trigger_display()} sync #{self.pk}"
