from datetime import timedelta

from django.db import models
from django.utils import timezone

# QBWC gives no logout guarantee, so a ticket dies after this much silence (consolibyte's 1800 s).
SESSION_IDLE_TIMEOUT = timedelta(minutes=30)


class QbwcSessionQuerySet(models.QuerySet):
    def live(self):
        """Sessions whose ticket may still be used: open and seen within the idle timeout."""
        return self.filter(
            status=QbwcSession.Status.OPEN,
            last_seen_at__gte=timezone.now() - SESSION_IDLE_TIMEOUT,
        )


class QbwcSession(models.Model):
    """One QBWC update session, from authenticate to closeConnection (or silence)."""

    class Status(models.TextChoices):
        OPEN = "open", "In progress"
        NOTHING = "none", "Nothing to send"
        DONE = "done", "Finished"
        ERROR = "error", "Failed"
        EXPIRED = "expired", "Timed out"

    ticket = models.CharField(max_length=64, unique=True)
    connector = models.ForeignKey(
        "connectors.WebConnector", on_delete=models.CASCADE, related_name="qbwc_sessions"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    # What QuickBooks reported on the first sendRequestXML.
    qb_product = models.CharField("QuickBooks product", max_length=255, blank=True)
    qb_version = models.CharField("QuickBooks version", max_length=20, blank=True)
    qb_company_name = models.CharField("company name", max_length=255, blank=True)
    company_file_path = models.CharField(max_length=500, blank=True)
    qbxml_version = models.CharField("qbXML version", max_length=8, blank=True)

    # Work over every request kind (qbwc_soap.pipeline): how many requests' worth the session had
    # at the start, how many are done (confirmed or failed), and the answers applied so far
    # (bound into every requestID's MAC, so an answer applies to one message only).
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    round_trips = models.PositiveIntegerField(default=0)
    progress = models.PositiveSmallIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    # Per kind (by name), what it did, for kinds with no columns of their own:
    # {"invoices": {"sent": 3}}.
    counts = models.JSONField(default=dict, blank=True)
    # Per kind (by code), its progress in this session, for kinds with no columns of their own.
    kind_state = models.JSONField(default=dict, blank=True)

    # The customers kind (qbwc_soap.kinds.customers): where its scan of the routed organizations
    # is, whether it is over, and whether follow-ups (3100 → query → …) may be waiting, so a
    # round trip without any skips looking for them; what it did.
    cursor = models.BigIntegerField(default=0)
    scan_done = models.BooleanField(default=False)
    followups_waiting = models.BooleanField(default=False)
    added = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    linked = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    summary = models.CharField(max_length=255, blank=True)

    objects = QbwcSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["connector", "-started_at"], name="qbwc_session_conn_idx")]
        verbose_name = "QBWC session"

    def __str__(self):
        return f"{self.connector} @ {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def is_expired(self) -> bool:
        return self.last_seen_at < timezone.now() - SESSION_IDLE_TIMEOUT


class CustomerTransfer(models.Model):
    """What one connector's QuickBooks company file holds for one organization."""

    class Next(models.TextChoices):
        NONE = "", "—"
        QUERY_NAME = "query_name", "Look up by name"
        QUERY_ID = "query_id", "Look up by ListID"
        ADD = "add", "Add"
        MOD = "mod", "Update"

    # No index of its own: the (organization, connector) unique constraint's index serves every
    # lookup by organization, and one index fewer is less to write for every transfer.
    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.CASCADE,
        related_name="qb_transfers",
        db_index=False,
    )
    connector = models.ForeignKey(
        "connectors.WebConnector", on_delete=models.CASCADE, related_name="qb_transfers"
    )
    list_id = models.CharField("ListID", max_length=64, blank=True)
    edit_sequence = models.CharField(max_length=32, blank=True)
    qb_name = models.CharField("QuickBooks name", max_length=64, blank=True)
    # Fingerprint of the values QuickBooks last confirmed; empty until it confirms any.
    fingerprint = models.CharField(max_length=64, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    transferred_at = models.DateTimeField(null=True, blank=True)
    next_action = models.CharField(max_length=16, choices=Next.choices, blank=True, default="")
    # Follow-ups (3100 → query → add …) in the current attempt; bounds retry loops.
    followups = models.PositiveSmallIntegerField(default=0)
    last_error_code = models.IntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    adjustments = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "connector"], name="one_transfer_per_org_connector"
            )
        ]
        indexes = [
            models.Index(
                fields=["connector", "next_action"],
                condition=~models.Q(next_action=""),
                name="qbwc_transfer_followup_idx",
            )
        ]

    def __str__(self):
        return f"{self.organization_id} → {self.connector_id}"
