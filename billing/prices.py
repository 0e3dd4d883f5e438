"""Changing prices and item mappings (re-exported by billing.services: import them from there)."""

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from connectors.models import WebConnector
from kaseya_modules.models import KaseyaModule

from .models import ItemCatalog, ItemMapping, Price, PriceChange, QuickBooksItem

MAX_PRICE = Decimal("9999999999.9999")  # max_digits=14, decimal_places=4


def validate_billing_type(module: KaseyaModule, billing_type: str) -> str:
    """The billing type's name in the module's catalog; refuses one the catalog lacks."""
    for item in module.billing_types or []:
        if item["code"] == billing_type:
            return item.get("name", billing_type)
    known = ", ".join(sorted(module.billing_type_codes())) or "none"
    raise ValidationError(
        f"{module.name} has no billing type {billing_type!r} (its billing types: {known})."
    )


def clean_amount(amount) -> Decimal:
    try:
        value = Decimal(str(amount).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{amount!r} is not an amount.") from None
    if not value.is_finite():
        raise ValidationError(f"{amount!r} is not an amount.")
    if value < 0:
        raise ValidationError("A price cannot be negative.")
    if value > MAX_PRICE:
        raise ValidationError(f"A price cannot pass {MAX_PRICE}.")
    if value != value.quantize(Decimal("0.0001")):
        raise ValidationError("A price has at most four decimals.")
    return value.quantize(Decimal("0.0001"))


def set_price(module, billing_type, amount, organization=None, user=None) -> Price | None:
    """Set the default price of a module billing type (`organization` None) or one
    organization's own; `amount` None removes an organization's own price (it then pays the
    default). Records a PriceChange when the price changed. Returns the price (None if
    removed)."""
    validate_billing_type(module, billing_type)
    if amount is None and organization is None:
        raise ValidationError("The default price cannot be removed: set it to 0 to bill nothing.")
    if amount is not None:
        amount = clean_amount(amount)
    if organization is not None and not organization.is_billable:
        raise ValidationError(
            f"{organization.name} is {organization.get_org_type_display()} and cannot be billed."
        )
    with transaction.atomic():
        # Two admins setting the same (new) price at once: the second waits, then updates.
        KaseyaModule.objects.select_for_update().filter(pk=module.pk).first()
        price = Price.objects.filter(
            module=module, billing_type=billing_type, organization=organization
        ).first()
        old = price.amount if price else None
        if old == amount:
            return price
        now = timezone.now()
        if amount is None:
            price.delete()
            price = None
        elif price is None:
            price = Price.objects.create(
                module=module,
                billing_type=billing_type,
                organization=organization,
                amount=amount,
                changed_at=now,
                changed_by=user,
            )
        else:
            price.amount, price.changed_at, price.changed_by = amount, now, user
            price.save(update_fields=["amount", "changed_at", "changed_by"])
        PriceChange.objects.create(
            module=module,
            billing_type=billing_type,
            organization=organization,
            old_amount=old,
            new_amount=amount,
            changed_at=now,
            changed_by=user,
        )
    return price


def map_item(connector, module, billing_type, item, user=None) -> ItemMapping | None:
    """Invoice `module`'s `billing_type` as `item` on `connector`'s company file; `item` None
    removes the mapping. The item must be one of that connector's active items."""
    validate_billing_type(module, billing_type)
    if item is not None:
        if item.connector_id != connector.pk:
            raise ValidationError(
                f"{item.full_name} is an item of another company file, not {connector.name}'s."
            )
        if not item.active:
            raise ValidationError(f"{item.full_name} is inactive in QuickBooks.")
    with transaction.atomic():
        WebConnector.objects.select_for_update().filter(pk=connector.pk).first()
        mapping = ItemMapping.objects.filter(
            connector=connector, module=module, billing_type=billing_type
        ).first()
        if item is None:
            if mapping is not None:
                mapping.delete()
            return None
        if mapping is None:
            return ItemMapping.objects.create(
                connector=connector,
                module=module,
                billing_type=billing_type,
                item=item,
                changed_by=user,
            )
        if mapping.item_id != item.pk:
            mapping.item, mapping.changed_at, mapping.changed_by = item, timezone.now(), user
            mapping.save(update_fields=["item", "changed_at", "changed_by"])
        return mapping


def find_item(connector, full_name: str) -> QuickBooksItem:
    """`connector`'s active item called `full_name` (any case), for scripts."""
    items = QuickBooksItem.objects.filter(connector=connector, full_name__iexact=full_name.strip())
    item = items.filter(active=True).first()
    if item is None:
        why = "inactive" if items.exists() else "not among the items read from QuickBooks"
        raise ValidationError(f"{connector.name} has no active item {full_name!r} ({why}).")
    return item


def request_item_refresh(connector) -> ItemCatalog:
    """Ask the next QBWC conversation of `connector` to read its item list again."""
    with transaction.atomic():
        catalog, _ = ItemCatalog.objects.select_for_update().get_or_create(connector=connector)
        catalog.refresh_requested_at = timezone.now()
        catalog.save(update_fields=["refresh_requested_at"])
    return catalog
