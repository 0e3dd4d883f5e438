from django.conf import settings
from django.db import models
from django.db.models import Q

from mapping_portal.lib.runs import Run, RunQuerySet, RunStatus

from .sources.base import PAGE_CAP, REQUEST_DEADLINE, SYNC_DEADLINE


class SourceKind(models.TextChoices):
    FEED = "feed", "Module Organization Feed v1 (HTTP)"
    DATTO_RMM = "datto_rmm", "Datto RMM API (sites and device counts)"
    DATTO_PARTNER = "datto_partner", "Datto partner API (SaaS Protection, BCDR)"
    FIXTURE = "fixture", "Fixture files (demo)"


class KaseyaModuleQuerySet(models.QuerySet):
    def icb_enabled(self):
        """Modules taking part in Integrated Customer Billing (synced nightly)."""
        return self.filter(icb_enabled=True)

    def synced(self):
        """ICB-enabled modules whose first sync has completed: only their organizations are
        offered for mapping."""
        return self.filter(icb_enabled=True, first_sync_completed_at__isnull=False)


class KaseyaModule(models.Model):
    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=128)
    # From the catalog: [{"code", "name", "unit": "count"|"boolean", "source"}].
    billing_types = models.JSONField(default=list, blank=True)

    icb_enabled = models.BooleanField("Integrated Customer Billing enabled", default=False)
    icb_enabled_at = models.DateTimeField(null=True, blank=True)
    icb_enabled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    source_kind = models.CharField(max_length=16, choices=SourceKind.choices, blank=True)
    base_url = models.CharField("base URL", max_length=500, blank=True)
    # The API token (or "key:secret" for Datto RMM and the Datto partner API). Never rendered
    # back in full, never logged.
    credentials = models.CharField(max_length=1000, blank=True)

    first_sync_completed_at = models.DateTimeField(null=True, blank=True)
    last_sync_succeeded_at = models.DateTimeField(null=True, blank=True)

    # Lease for the per-module sync lock, claimed with a conditional UPDATE (see sync.py). A lease
    # rather than a flag so that a worker killed mid-sync does not block the module forever.
    sync_locked_until = models.DateTimeField(null=True, blank=True, editable=False)
    # The SyncRun holding the lease. A run may apply only while it still holds it (checked in the
    # apply's own transaction), so a run that outlived its lease cannot overwrite a newer one.
    sync_lease_holder = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    # The night (local date) the nightly fan-out last queued this module: a conditional UPDATE on
    # it makes two simultaneous fan-outs queue each module once.
    nightly_queued_for = models.DateField(null=True, blank=True, editable=False)
    # When kaseya_modules/suggestion_store.py last stored this module's mapping suggestions.
    suggestions_computed_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = KaseyaModuleQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [("manage_icb", "Can manage Integrated Customer Billing")]

    def __str__(self):
        return self.name

    @property
    def waiting_for_first_sync(self) -> bool:
        return self.first_sync_completed_at is None

    @property
    def has_source(self) -> bool:
        return bool(self.source_kind and self.base_url)

    @property
    def masked_credentials(self) -> str:
        """Enough to recognise which token is stored, never enough to use it."""
        if not self.credentials:
            return ""
        if len(self.credentials) <= 8:
            return "••••"
        return f"••••{self.credentials[-4:]}"

    def clean(self):
        from django.core.exceptions import ValidationError

        from .sources.base import validate_base_url

        if self.source_kind or self.base_url:
            if not self.source_kind:
                raise ValidationError({"source_kind": "Choose how to reach this module's API."})
            if not self.base_url:
                raise ValidationError({"base_url": "Enter the module API's base URL."})
            try:
                validate_base_url(self.source_kind, self.base_url)
            except ValidationError as exc:
                raise ValidationError({"base_url": exc.messages}) from None

    def billing_type_codes(self) -> set[str]:
        return {item["code"] for item in self.billing_types}


class OrganizationKind(models.TextChoices):
    ORGANIZATION = "organization", "Organization"
    SITE = "site", "Site"
    LOCATION = "location", "Location"


class ModuleOrganizationQuerySet(models.QuerySet):
    def mappable(self):
        """Active module organizations of ICB-enabled modules whose first sync has completed."""
        return self.filter(
            active=True, module__icb_enabled=True, module__first_sync_completed_at__isnull=False
        )

    def typeahead(self, query: str, limit: int) -> list["ModuleOrganization"]:
        """Up to `limit` module organizations whose name contains `query` (any case): names that
        start with it first, then the others, each alphabetical."""
        query = (query or "").strip()
        if not query:
            return []
        ordered = self.order_by("name", "pk")
        found = list(ordered.filter(name__istartswith=query)[:limit])
        if len(found) < limit:
            found += ordered.filter(name__icontains=query).exclude(name__istartswith=query)[
                : limit - len(found)
            ]
        return found


class ModuleOrganization(models.Model):
    module = models.ForeignKey(KaseyaModule, on_delete=models.CASCADE, related_name="organizations")
    external_id = models.CharField("ID in the module", max_length=255)
    name = models.CharField(max_length=255)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    kind = models.CharField(
        max_length=16, choices=OrganizationKind.choices, default=OrganizationKind.ORGANIZATION
    )
    active = models.BooleanField(default=True, help_text="Seen in the latest successful sync.")
    first_seen_at = models.DateTimeField()
    # Written on insert, change and deactivation only, so an unchanged re-sync writes no rows; for
    # an active row the true "last seen" is the module's last_sync_succeeded_at (see `seen_at`).
    last_seen_at = models.DateTimeField()

    organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="module_organizations",
        help_text="The organization this module organization bills to.",
    )
    ignored = models.BooleanField(default=False)
    # The PSA's id for this customer (an Autotask company id) when the module records one: the
    # strongest evidence a mapping suggestion can have.
    psa_id = models.BigIntegerField("PSA id", null=True, blank=True)

    objects = ModuleOrganizationQuerySet.as_manager()

    class Meta:
        ordering = ["module", "name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["module", "external_id"], name="module_org_unique_external_id"
            ),
            models.CheckConstraint(
                condition=~Q(parent=models.F("pk")) | Q(parent__isnull=True),
                name="module_org_not_own_parent",
            ),
        ]
        indexes = [
            models.Index(fields=["module", "active"], name="module_org_active_idx"),
            # Map by Module Organization pages through a module's organizations by name.
            models.Index(fields=["module", "name", "id"], name="module_org_name_idx"),
        ]

    def __str__(self):
        return f"{self.name} ({self.module})"

    def clean(self):
        # The same rules as the mapping services, so the Django admin refuses what they refuse.
        from .mapping import validate_mapping

        validate_mapping(self)

    @property
    def seen_at(self):
        if self.active and self.module.last_sync_succeeded_at:
            return self.module.last_sync_succeeded_at
        return self.last_seen_at


class Confidence(models.TextChoices):
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


class MappingSuggestionQuerySet(models.QuerySet):
    def best(self):
        """The best suggestion of each module organization (rank 1), with its organization."""
        return self.filter(rank=1).select_related("organization")

    def review(self, module=None, confidence=None):
        """Best suggestions still worth showing — their module organization active, unmapped and
        not ignored — with the module organization and the organization, strongest first: one
        query for a page of any length (Review suggestions)."""
        found = self.best().filter(
            module_organization__active=True,
            module_organization__organization__isnull=True,
            module_organization__ignored=False,
        )
        if module is not None:
            found = found.filter(module=module)
        if confidence is not None:
            found = found.filter(confidence=confidence)
        return found.select_related("module_organization", "module").order_by(
            "-score", "module_organization__name", "pk"
        )

    def for_module_organizations(self, module_orgs):
        """Every stored suggestion of `module_orgs` (instances or primary keys), best first."""
        pks = [getattr(item, "pk", item) for item in module_orgs]
        return (
            self.filter(module_organization__in=pks)
            .select_related("organization")
            .order_by("module_organization", "rank")
        )


class MappingSuggestion(models.Model):
    """What an unmapped module organization is suggested to map to (computed after each sync and
    after organizations change, by kaseya_modules/suggestion_store.py with the rules of
    kaseya_modules/suggestions.py; never per page view)."""

    # Led by the unique (module organization, rank) index, which serves both "its suggestions"
    # and "its best suggestion" (rank = 1).
    module_organization = models.ForeignKey(
        ModuleOrganization, on_delete=models.CASCADE, related_name="suggestions", db_index=False
    )
    # Copied from the module organization, so a module's suggestions are replaced with one
    # DELETE and a Review page filters a module's best suggestions on one index.
    module = models.ForeignKey(
        KaseyaModule, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    rank = models.PositiveSmallIntegerField()  # 1 is the best
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="+"
    )
    score = models.PositiveSmallIntegerField()  # 0-100
    confidence = models.CharField(max_length=8, choices=Confidence.choices)
    reasons = models.JSONField(default=list)
    computed_at = models.DateTimeField()

    objects = MappingSuggestionQuerySet.as_manager()

    class Meta:
        ordering = ["module_organization", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["module_organization", "rank"], name="mapping_suggestion_unique_rank"
            )
        ]
        indexes = [
            # A module's best suggestions by confidence and score (Review suggestions).
            models.Index(
                fields=["module", "confidence", "-score"],
                condition=Q(rank=1),
                name="mapping_suggestion_best_idx",
            ),
            # Replacing a module's suggestions.
            models.Index(fields=["module"], name="mapping_suggestion_module_idx"),
        ]

    def __str__(self):
        return f"{self.module_organization_id} → {self.organization_id} #{self.rank}"


class ModuleUsage(models.Model):
    # Lookups by module organization use the unique constraint's index (it leads with it).
    module_organization = models.ForeignKey(
        ModuleOrganization, on_delete=models.CASCADE, related_name="usage", db_index=False
    )
    billing_type = models.CharField(max_length=64)
    day = models.DateField()
    # Counts as numbers, booleans as 1 / 0 (the catalog's unit says which).
    quantity = models.DecimalField(max_digits=16, decimal_places=4)

    class Meta:
        ordering = ["-day", "billing_type"]
        constraints = [
            models.UniqueConstraint(
                fields=["module_organization", "billing_type", "day"],
                name="module_usage_unique_day",
            )
        ]
        # A sync reads one day's usage of a module: without this it would read every day kept.
        indexes = [models.Index(fields=["day", "module_organization"], name="module_usage_day_idx")]

    def __str__(self):
        return f"{self.module_organization} {self.billing_type} {self.day}: {self.quantity}"


class SyncTrigger(models.TextChoices):
    NIGHTLY = "nightly", "Nightly"
    MANUAL = "manual", "Manual"
    ENABLEMENT = "enablement", "Enablement"


SyncStatus = RunStatus


class SyncLimit(models.TextChoices):
    """What ended a run that did not finish on its own."""

    REQUEST_DEADLINE = REQUEST_DEADLINE, "Request deadline"
    SYNC_DEADLINE = SYNC_DEADLINE, "Sync deadline"
    PAGE_CAP = PAGE_CAP, "Page cap"
    SUPERSEDED = "superseded", "Superseded by a newer sync"


class SyncRun(Run):
    module = models.ForeignKey(KaseyaModule, on_delete=models.CASCADE, related_name="sync_runs")
    trigger = models.CharField(max_length=16, choices=SyncTrigger.choices)
    organizations_fetched = models.PositiveIntegerField(default=0)
    new_count = models.PositiveIntegerField("new", default=0)
    stopped_by = models.CharField(max_length=32, choices=SyncLimit.choices, blank=True)
    # Set when the email about this run's new unmapped module organizations was claimed, so a
    # task run twice sends it once.
    notified_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = RunQuerySet.as_manager()

    class Meta(Run.Meta):
        indexes = [models.Index(fields=["module", "-queued_at"], name="sync_run_module_idx")]

    def __str__(self):
        return f"{self.module} {self.get_trigger_display()} sync #{self.pk}"


class BatchKind(models.TextChoices):
    SELECTION = "selection", "Ignore the selected"
    NO_EVIDENCE = "no_evidence", "Ignore everything with no evidence"


class MappingBatch(models.Model):
    """One bulk action ("this organization has nothing in this module" for many organizations at
    once): its history rows and the ignores it created point here, so it can be undone as one."""

    kind = models.CharField(max_length=16, choices=BatchKind.choices)
    # The module it applied to; empty when it applied to every synced module.
    module = models.ForeignKey(
        KaseyaModule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # How many of `count` the undo put back (the others had been changed since).
    undone_count = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk} ({self.count})"

    @property
    def skipped_count(self) -> int:
        return self.count - (self.undone_count or 0)


class OrganizationModuleIgnore(models.Model):
    """ "This organization has nothing in this module": the module is left unmapped for the
    organization and no longer counts as yet to be mapped. (ModuleOrganization.ignored is the
    other meaning: a module organization that bills to nobody.)"""

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="module_ignores"
    )
    module = models.ForeignKey(KaseyaModule, on_delete=models.CASCADE, related_name="ignores")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The bulk action that created it: an undo removes only the ignores it still owns, so one
    # removed and made again since (by hand or by another batch) is left alone.
    batch = models.ForeignKey(
        MappingBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="ignores"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "module"], name="org_module_ignore_unique"
            )
        ]

    def __str__(self):
        return f"{self.organization} ignores {self.module}"


class MappingAction(models.TextChoices):
    MAP = "map", "Mapped"
    UNMAP = "unmap", "Unmapped"
    IGNORE = "ignore", "Ignored"
    UNIGNORE = "unignore", "Un-ignored"


class ModuleMappingChange(models.Model):
    """History: every map, unmap, ignore and un-ignore, of a module organization (module
    organization set) or of a module for an organization (module organization empty)."""

    module = models.ForeignKey(KaseyaModule, on_delete=models.CASCADE, related_name="+")
    module_organization = models.ForeignKey(
        ModuleOrganization, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Names kept as text so that history still reads right after a rename or a deletion.
    module_organization_name = models.CharField(max_length=255, blank=True)
    action = models.CharField(max_length=16, choices=MappingAction.choices)
    old_organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    new_organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    old_organization_name = models.CharField(max_length=255, blank=True)
    new_organization_name = models.CharField(max_length=255, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    # Set on the rows written by a bulk action and by its undo.
    batch = models.ForeignKey(
        MappingBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )

    class Meta:
        ordering = ["-changed_at", "-pk"]
        indexes = [
            models.Index(fields=["old_organization", "-changed_at"], name="module_change_old_idx"),
            models.Index(fields=["new_organization", "-changed_at"], name="module_change_new_idx"),
        ]

    def __str__(self):
        subject = self.module_organization_name or str(self.module)
        return f"{subject}: {self.get_action_display()}"


class ModuleColumnPreference(models.Model):
    """The order of module columns a user picked on Map by Organization (codes; modules not
    listed are appended in name order)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="module_column_preference"
    )
    module_codes = models.JSONField(default=list, blank=True)

    def __str__(self):
        return f"Module column order of {self.user}"


class SyncEmailSubscription(models.Model):
    """An Integrated Customer Billing administrator who asked for an email after each sync that
    finds new module organizations yet to be mapped."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sync_email_subscription"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"Sync emails for {self.user}"
