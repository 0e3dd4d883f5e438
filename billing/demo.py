"""Demo billing: default prices for the demo modules' billing types and one organization's own
price, QuickBooks items for every demo connector as if its ItemQuery had read them, item mappings
for every billing type with usage — except one on a non-default connector, so the Invoices page
shows an invoice held back — and a month of daily usage for last month, so a new user can create,
approve and look at invoices at once. Idempotent."""

from datetime import timedelta

from django.utils import timezone

from connectors.models import WebConnector
from connectors.services import connector_for, map_organization
from kaseya_modules.demo import DEMO_MODULES
from kaseya_modules.models import KaseyaModule, ModuleUsage

from . import services
from .models import ItemCatalog, ItemMapping, Price, QuickBooksItem

PRICES = {"graphus": "3.00", "passly": "4.50", "datto_rmm": "2.25"}
SPECIAL = {("datto_rmm", "server"): "18.00", ("datto_rmm", "total_devices"): "2.00"}
OVERRIDE = ("graphus", "mailboxes", "2.40")  # the first billed organization's own price
# The one billing type left unmapped on a non-default connector.
UNMAPPED = ("datto_rmm", "network_device_other")


def seed(stdout) -> None:
    modules = list(KaseyaModule.objects.filter(code__in=DEMO_MODULES, icb_enabled=True))
    if not modules:
        stdout.write("Billing: no demo module enabled, nothing to price.")
        return
    seed_usage(modules, stdout)
    seed_prices(modules, stdout)
    seed_items(modules, stdout)


def seed_usage(modules, stdout) -> None:
    """Last month's daily usage of every active module organization of the demo modules, from
    its latest synced usage: the same through the month, one more from the 20th for every
    third (so a month billed by its latest day differs from its first)."""
    period = services.last_month()
    days = [period + timedelta(days=n) for n in range((services.next_period(period) - period).days)]
    latest = {}
    for usage in ModuleUsage.objects.filter(
        module_organization__module__in=modules, module_organization__active=True
    ).order_by("module_organization_id", "billing_type", "day"):
        if usage.day >= period + timedelta(days=len(days)):
            latest[usage.module_organization_id, usage.billing_type] = usage.quantity
    rows = []
    for index, ((module_org_id, billing_type), quantity) in enumerate(sorted(latest.items())):
        for day in days:
            grown = quantity + 1 if index % 3 == 0 and day.day >= 20 and quantity > 1 else quantity
            rows.append(
                ModuleUsage(
                    module_organization_id=module_org_id,
                    billing_type=billing_type,
                    day=day,
                    quantity=grown,
                )
            )
    ModuleUsage.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
    stdout.write(f"Billing: daily usage for {period:%B %Y} ({len(latest)} module billing types).")


def seed_prices(modules, stdout) -> None:
    if Price.objects.filter(module__in=modules).exists():
        stdout.write("Billing: demo prices already set.")
        return
    for module in modules:
        for item in module.billing_types:
            amount = SPECIAL.get((module.code, item["code"]), PRICES.get(module.code, "1.00"))
            services.set_price(module, item["code"], amount)
    bills = services.bills_for(services.last_month())
    module = next((m for m in modules if m.code == OVERRIDE[0]), None)
    billed = [pk for pk, lines in bills.items() if any(ln.module == module for ln in lines)]
    if billed:
        from organizations.models import Organization

        organization = Organization.objects.get(pk=min(billed))
        services.set_price(module, OVERRIDE[1], OVERRIDE[2], organization=organization)
        stdout.write(f"Billing: {organization.name} pays its own {OVERRIDE[2]} per mailbox.")
    stdout.write("Billing: default prices set for the demo modules.")


def seed_items(modules, stdout) -> None:
    """Items read from QuickBooks for every connector; mappings for the billing types with
    usage, one left out on a non-default connector (an organization billed there is routed
    there if none is yet)."""
    used = set(
        ModuleUsage.objects.filter(module_organization__module__in=modules)
        .values_list("module_organization__module_id", "billing_type")
        .distinct()
    )
    by_pk = {module.pk: module for module in modules}
    connectors = list(WebConnector.objects.order_by("-is_default", "pk"))
    now = timezone.now()
    for number, connector in enumerate(connectors):
        catalog, _ = ItemCatalog.objects.get_or_create(connector=connector)
        if catalog.refreshed_at is None:
            catalog.refreshed_at = now
            catalog.save(update_fields=["refreshed_at"])
        for module_id, billing_type in sorted(used):
            module = by_pk[module_id]
            name = _name_of(module, billing_type)
            item, _ = QuickBooksItem.objects.get_or_create(
                connector=connector,
                list_id=f"DEMO-{number}-{module.code}-{billing_type}"[:64],
                defaults={
                    "full_name": f"Managed Services:{module.name} {name}"[:159],
                    "kind": QuickBooksItem.Kind.SERVICE,
                    "description": f"{module.name} — {name}",
                    "seen_at": now,
                },
            )
            if number and (module.code, billing_type) == UNMAPPED:
                continue
            if not ItemMapping.objects.filter(
                connector=connector, module=module, billing_type=billing_type
            ).exists():
                services.map_item(connector, module, billing_type, item)
        QuickBooksItem.objects.get_or_create(
            connector=connector,
            list_id=f"DEMO-{number}-consulting",
            defaults={"full_name": "Consulting", "kind": QuickBooksItem.Kind.OTHER_CHARGE},
        )
    _route_one_elsewhere(modules, connectors, stdout)
    stdout.write(f"Billing: QuickBooks items and item mappings for {len(connectors)} connectors.")


def _route_one_elsewhere(modules, connectors, stdout) -> None:
    """So the held-back invoice shows: an organization billed for the unmapped billing type
    goes to the second connector."""
    if len(connectors) < 2:
        return
    module = next((m for m in modules if m.code == UNMAPPED[0]), None)
    if module is None:
        return
    bills = services.bills_for(services.last_month())
    candidates = sorted(
        pk
        for pk, lines in bills.items()
        if any((ln.module_id, ln.billing_type) == (module.pk, UNMAPPED[1]) for ln in lines)
    )
    from organizations.models import Organization

    organizations = list(Organization.objects.filter(pk__in=candidates).order_by("pk"))
    if any(not connector_for(org).is_default for org in organizations):
        return
    if organizations:
        map_organization(organizations[-1], connectors[1])
        stdout.write(
            f"Billing: {organizations[-1].name} goes to {connectors[1].name}, where "
            f"{module.name} {UNMAPPED[1]} has no item yet (its invoice is held back)."
        )


def _name_of(module, billing_type) -> str:
    for item in module.billing_types:
        if item["code"] == billing_type:
            return item.get("name", billing_type)
    return billing_type
