"""Prices, QuickBooks items per connector, and invoices.

Money is Decimal throughout: a unit price may have four decimals (QuickBooks' PRICETYPE allows
more, its AMTTYPE two), a line's amount is its quantity × rate rounded to cents.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Price(models.Model):
    """The unit price of one module billing type: the default (no organization) or one
    organization's own. The current price only; every change is kept in PriceChange."""

    module = models.ForeignKey(
        "kaseya_modules.KaseyaModule", on_delete=models.CASCADE, related_name="prices"
    )
    billing_type = models.CharField(max_length=64)
    organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="prices",
        help_text="Empty for the default price.",
    )
    amount = models.DecimalField(max_digits=14, decimal_places=4)
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["module", "billing_type", "organization"]
        constraints = [
            models.UniqueConstraint(
                fields=["module", "billing_type"],
                condition=Q(organization__isnull=True),
                name="one_default_price",
            ),
            models.UniqueConstraint(
                fields=["module", "billing_type", "organization"],
                condition=Q(organization__isnull=False),
                name="one_organization_price",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="price_not_negative"),
        ]
        indexes = [
            models.Index(
                fields=["organization", "module", "billing_type"],
                condition=Q(organization__isnull=False),
                name="price_org_idx",
            )
        ]
        permissions = [("manage_billing", "Can manage prices, item mappings and invoices")]

    def __str__(self):
        whose = self.organization or "default"
        return f"{self.module} {self.billing_type} ({whose}): {self.amount}"


class PriceChange(models.Model):
    """One change of a price, kept forever: the price history pages show these."""

    module = models.ForeignKey(
        "kaseya_modules.KaseyaModule", on_delete=models.CASCADE, related_name="price_changes"
    )
    billing_type = models.CharField(max_length=64)
    organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="price_changes",
    )
    # None: no price before (old) or the price was removed (new).
    old_amount = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    new_amount = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-changed_at", "-pk"]
        indexes = [
            models.Index(fields=["module", "billing_type", "-changed_at"], name="price_change_idx")
        ]

    def __str__(self):
        return f"{self.module} {self.billing_type}: {self.old_amount} → {self.new_amount}"


class QuickBooksItem(models.Model):
    """An item of one connector's QuickBooks company file, as its last ItemQuery reported it.
    Never deleted: an item QuickBooks no longer lists becomes inactive, so mappings and sent
    invoices keep their reference."""

    class Kind(models.TextChoices):
        SERVICE = "service", "Service"
        NON_INVENTORY = "noninventory", "Non-inventory part"
        OTHER_CHARGE = "othercharge", "Other charge"

    connector = models.ForeignKey(
        "connectors.WebConnector", on_delete=models.CASCADE, related_name="qb_items"
    )
    list_id = models.CharField("ListID", max_length=64)
    # QuickBooks' FullName ("Parent:Child"), at most 159 characters.
    full_name = models.CharField(max_length=159)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=4095, blank=True)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["connector", "full_name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["connector", "list_id"], name="one_item_per_list_id")
        ]
        indexes = [models.Index(fields=["connector", "full_name"], name="qb_item_name_idx")]
        verbose_name = "QuickBooks item"

    def __str__(self):
        return self.full_name


class ItemCatalog(models.Model):
    """When a connector's item list was last read from QuickBooks, and whether an admin asked
    for a fresh read at the next QBWC conversation."""

    connector = models.OneToOneField(
        "connectors.WebConnector", on_delete=models.CASCADE, related_name="item_catalog"
    )
    refreshed_at = models.DateTimeField(null=True, blank=True)
    refresh_requested_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Items of {self.connector}"


class ItemMappingQuerySet(models.QuerySet):
    def items_for(self, connector, lines) -> tuple[dict, list]:
        """({(module id, billing type): QuickBooksItem}, [lines with no active item]) for invoice
        `lines` on `connector`'s company file: the one rule both the Invoices page (what to map
        before sending) and the QBWC invoice request kind (hold it back) apply. One query."""
        keys = {(line.module_id, line.billing_type) for line in lines}
        found = {}
        if keys:
            # Modules × billing types named: a superset of the pairs (a few more rows at most),
            # in a statement far cheaper to build and plan than one OR term per pair.
            mappings = self.filter(
                connector=connector,
                item__active=True,
                module_id__in={module_id for module_id, _ in keys},
                billing_type__in={billing_type for _, billing_type in keys},
            ).select_related("item")
            found = {
                (m.module_id, m.billing_type): m.item
                for m in mappings
                if (m.module_id, m.billing_type) in keys
            }
        missing = [line for line in lines if (line.module_id, line.billing_type) not in found]
        return found, missing


class ItemMapping(models.Model):
    """Which item of a connector's company file a module billing type is invoiced as."""

    connector = models.ForeignKey(
        "connectors.WebConnector", on_delete=models.CASCADE, related_name="item_mappings"
    )
    module = models.ForeignKey(
        "kaseya_modules.KaseyaModule", on_delete=models.CASCADE, related_name="item_mappings"
    )
    billing_type = models.CharField(max_length=64)
    item = models.ForeignKey(QuickBooksItem, on_delete=models.CASCADE, related_name="mappings")
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ItemMappingQuerySet.as_manager()

    class Meta:
        ordering = ["connector", "module", "billing_type"]
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "module", "billing_type"], name="one_item_per_billing_type"
            )
        ]

    def __str__(self):
        return f"{self.connector}: {self.module} {self.billing_type} → {self.item}"


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    APPROVED = "approved", "Approved"
    # Sent to QuickBooks, answer not stored yet: looked up by RefNumber before any resend.
    SENT = "sent", "Sent, awaiting QuickBooks"
    IN_QUICKBOOKS = "in_quickbooks", "In QuickBooks"
    FAILED = "failed", "Refused by QuickBooks"


class Invoice(models.Model):
    """One organization's bill for one period (a calendar month). A draft may be regenerated;
    from approval on its lines never change."""

    Status = InvoiceStatus

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="invoices"
    )
    # The first day of the billed month.
    period = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    # QuickBooks' invoice number (RefNumber, at most 11 characters), given at approval.
    ref_number = models.CharField(max_length=11, null=True, blank=True, unique=True)
    total = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Sending. The connector is chosen at sending time (connectors.services.connector_for) and
    # kept from the first send on: an invoice whose outcome is unknown is looked up in the company
    # file it was sent to, whatever the organization's routing has become since.
    connector = models.ForeignKey(
        "connectors.WebConnector",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    send_attempts = models.PositiveSmallIntegerField(default=0)
    transferred_at = models.DateTimeField(null=True, blank=True)
    txn_id = models.CharField("TxnID", max_length=64, blank=True)
    # Why QuickBooks refused it (its status code and message), or why it is held back.
    error_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    held = models.TextField(blank=True, help_text="Why the invoice is held back from sending.")
    # The connector the organization was routed to when the invoice was approved, by name: the
    # Invoices page says "goes to X (was Y when approved)" when the routing changed since.
    approved_connector_name = models.CharField(max_length=255, blank=True)
    # Holds only what a period's run found beyond the organization's approved invoices.
    supplementary = models.BooleanField(default=False)

    class Meta:
        ordering = ["-period", "organization__name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "period"],
                condition=Q(status="draft"),
                name="one_draft_per_organization_period",
            )
        ]
        indexes = [
            models.Index(fields=["period", "status"], name="invoice_period_status_idx"),
            models.Index(fields=["organization", "-period"], name="invoice_org_idx"),
            models.Index(
                fields=["connector", "status"],
                condition=Q(status__in=["approved", "sent"]),
                name="invoice_to_send_idx",
            ),
        ]

    def __str__(self):
        return f"{self.ref_number or 'Draft'} {self.organization} {self.period:%Y-%m}"

    @property
    def is_locked(self) -> bool:
        """Approved or later: its lines and amounts never change again."""
        return self.status != InvoiceStatus.DRAFT


def held_message(connector, missing_lines) -> str:
    """What an admin must map before an invoice with these unmapped lines can be sent through
    `connector`; "" when nothing is missing."""
    if not missing_lines:
        return ""
    names = sorted({f"{line.module} {line.billing_type_name}" for line in missing_lines})
    return (
        f"Held back: map {', '.join(names)} to a QuickBooks item on {connector.name} "
        "(Billing Item Mapping)."
    )


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(default=0)
    module = models.ForeignKey(
        "kaseya_modules.KaseyaModule", on_delete=models.PROTECT, related_name="invoice_lines"
    )
    billing_type = models.CharField(max_length=64)
    # As the module's catalog named it when the line was made.
    billing_type_name = models.CharField(max_length=255)
    quantity = models.DecimalField(max_digits=16, decimal_places=4)
    rate = models.DecimalField(max_digits=14, decimal_places=4)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    # Names the module and the module organizations counted (QuickBooks Desc: 4095 characters).
    description = models.CharField(max_length=4095)
    # No price (neither the organization's nor a default) when the line was made: billed at 0
    # and shown with a warning; such a draft cannot be approved until a price is set.
    unpriced = models.BooleanField(default=False)

    class Meta:
        ordering = ["invoice", "position", "pk"]

    def __str__(self):
        return f"{self.invoice_id}: {self.module_id} {self.billing_type} {self.quantity}"


class InvoiceEvent(models.Model):
    """What a person (or a script) did to an invoice: the detail page's history, beside the
    sending states the QBWC conversation stamps on the invoice itself."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        REGENERATED = "regenerated", "Regenerated"
        APPROVED = "approved", "Approved"
        RETRIED = "retried", "Queued again after QuickBooks refused it"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=16, choices=Action.choices)
    note = models.CharField(max_length=1000, blank=True)
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self):
        return f"{self.invoice_id}: {self.get_action_display()}"


class InvoiceNumber(models.Model):
    """The last RefNumber given per prefix: one row locked by each approval, so two admins
    approving at once never draw the same number."""

    prefix = models.CharField(max_length=6, unique=True)
    last = models.PositiveBigIntegerField(default=0)

    def __str__(self):
        return f"{self.prefix}{self.last}"
