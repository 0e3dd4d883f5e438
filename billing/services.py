"""What an organization is billed for a period — the one rule (quantity, rate, sites rolling up)
— and the workflows around it: prices, item mappings, invoices from draft to approved.

The Invoices page, `create_invoices`, the organization page's and the Mappings page's preview all
call `bills_for`; nobody else sums usage into money. Writing workflows live in
billing/invoicing.py and are re-exported here, so callers import one module.
"""

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from kaseya_modules.models import KaseyaModule, ModuleOrganization, ModuleUsage, OrganizationKind
from organizations.models import Organization

from .models import Price

CENT = Decimal("0.01")
DESCRIPTION_LIMIT = 4095  # QuickBooks' Desc on an invoice line
# A site or location that is neither mapped nor ignored bills where its parent bills.
ROLLS_UP = (OrganizationKind.SITE, OrganizationKind.LOCATION)
MAX_DEPTH = 20  # parent chains deeper than this are treated as broken (and a cycle ends there)
PERIOD_FORMAT = re.compile(r"^(\d{4})-(\d{2})$")


# --- Periods -----------------------------------------------------------------------------------


def parse_period(value) -> date:
    """The first day of the month `value` names ("YYYY-MM", or any date in it)."""
    if isinstance(value, date):
        return value.replace(day=1)
    match = PERIOD_FORMAT.match((value or "").strip())
    if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 2000:
        raise ValidationError(f"{value!r} is not a period: write it as YYYY-MM, e.g. 2026-10.")
    return date(int(match[1]), int(match[2]), 1)


def next_period(period: date) -> date:
    return date(period.year + period.month // 12, period.month % 12 + 1, 1)


def last_month(today: date | None = None) -> date:
    today = today or timezone.localdate()
    return date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)


# --- What is billed -----------------------------------------------------------------------------


@dataclass
class BillLine:
    """One line of what an organization is billed: a module billing type, summed over the module
    organizations that bill to it. Quacks like InvoiceLine for ItemMapping.objects.items_for."""

    module: KaseyaModule
    billing_type: str
    billing_type_name: str
    quantity: Decimal = Decimal(0)
    rate: Decimal = Decimal(0)
    unpriced: bool = False
    sources: list = field(default_factory=list)  # [(module organization name, quantity)]
    note: str = ""

    @property
    def module_id(self) -> int:
        return self.module.pk

    @property
    def amount(self) -> Decimal:
        return (self.quantity * self.rate).quantize(CENT, rounding=ROUND_HALF_UP)

    @property
    def description(self) -> str:
        return describe(self.module.name, self.billing_type_name, self.sources, self.note)


def describe(module_name: str, billing_type_name: str, sources, note: str = "") -> str:
    """ "Graphus — Mailboxes: ACME Corp (10), Front Desk (2)", cut to QuickBooks' 4095 characters
    with "… and N more" when too many module organizations were counted."""
    head = f"{module_name} — {billing_type_name}"
    if note:
        head = f"{head} ({note})"
    parts = [f"{name} ({quantity.normalize():f})" for name, quantity in sorted(sources)]
    text = f"{head}: {', '.join(parts)}"
    if len(text) <= DESCRIPTION_LIMIT:
        return text
    for shown in range(len(parts) - 1, -1, -1):
        tail = f" … and {len(parts) - shown} more"
        text = f"{head}: {', '.join(parts[:shown])}{tail}"
        if len(text) <= DESCRIPTION_LIMIT:
            return text
    return head[:DESCRIPTION_LIMIT]


@dataclass
class Unbilled:
    """Usage in the period of module organizations that bill to nobody."""

    module_organization: ModuleOrganization
    reason: str
    usage: list = field(default_factory=list)  # [(billing type name, quantity)]


class _Tree:
    """The module organizations of synced modules, for resolving whom each bills to."""

    def __init__(self, rows):
        # pk → (pk, parent, kind, organization, ignored, active, name, module)
        self.rows = {row[0]: row for row in rows}
        self._memo = {}

    def target(self, pk) -> tuple[int | None, str]:
        """(organization pk or None, why not) for module organization `pk`."""
        if pk in self._memo:
            return self._memo[pk]
        chain, found, why = [], None, "not mapped"
        current = pk
        while current is not None and len(chain) <= MAX_DEPTH:
            if current in self._memo:
                found, why = self._memo[current]
                break
            chain.append(current)
            _, parent, kind, organization, ignored = self.rows[current][:5]
            if ignored:
                why = "ignored" if current == pk else "its parent is ignored"
                break
            if organization is not None:
                found = organization
                break
            if kind not in ROLLS_UP or parent not in self.rows:
                why = "not mapped"
                break
            current = parent
        for each in chain:
            self._memo[each] = (found, why)
        return found, why


def _tree(organization_ids=None) -> _Tree:
    """All module organizations of synced modules (one query), or — for a few organizations —
    those mapped to them and the unmapped sites below them (one query per level of sites)."""
    columns = (
        "pk",
        "parent_id",
        "kind",
        "organization_id",
        "ignored",
        "active",
        "name",
        "module_id",
    )
    synced = ModuleOrganization.objects.filter(module__in=KaseyaModule.objects.synced())
    if organization_ids is None:
        return _Tree(synced.values_list(*columns))
    rows = list(synced.filter(organization_id__in=organization_ids).values_list(*columns))
    frontier = [row[0] for row in rows]
    for _ in range(MAX_DEPTH):
        if not frontier:
            break
        below = list(
            synced.filter(
                parent_id__in=frontier, organization__isnull=True, ignored=False, kind__in=ROLLS_UP
            ).values_list(*columns)
        )
        rows += below
        frontier = [row[0] for row in below]
    return _Tree(rows)


def latest_usage_in(period: date, module_orgs=None):
    """(module organization pk, billing type, quantity) of the latest day recorded within the
    month `period` for each module organization and billing type: one query, a window over the
    (module organization, billing type, day) index. `module_orgs`: a queryset or pks to read."""
    latest = Window(
        RowNumber(),
        partition_by=[F("module_organization_id"), F("billing_type")],
        order_by=F("day").desc(),
    )
    rows = ModuleUsage.objects.filter(day__gte=period, day__lt=next_period(period))
    if module_orgs is not None:
        rows = rows.filter(module_organization__in=module_orgs)
    return (
        rows.annotate(latest=latest)
        .filter(latest=1)
        .values_list("module_organization_id", "billing_type", "quantity")
    )


def _units(module) -> dict[str, tuple[str, str]]:
    return {
        item["code"]: (item.get("name", item["code"]), item.get("unit", "count"))
        for item in module.billing_types or []
    }


def bills_for(period, organization_ids=None) -> dict[int, list[BillLine]]:
    """{organization pk: [BillLine]} — what each billable organization is billed for the month
    `period`, for every organization at once (or only `organization_ids`), in a few queries:

    - quantity per module and billing type: the latest daily usage recorded within the period of
      each active module organization (of a synced, ICB-enabled module) that bills to the
      organization, summed; a module organization bills to the organization it is mapped to, or
      — a site or location neither mapped nor ignored — where its parent bills. A True/False
      billing type counts 1 for each module organization reporting true. Zero quantities bill
      nothing.
    - rate: the organization's price, else the default; no price at all bills at 0, flagged
      `unpriced`.
    - amount: quantity × rate rounded to cents, half up.
    """
    period = parse_period(period)
    tree = _tree(organization_ids)
    billable = Organization.objects.billable()
    if organization_ids is not None:
        billable = billable.filter(pk__in=organization_ids)
    billable_ids = set(billable.values_list("pk", flat=True))
    # The tree holds every module organization of a synced module: the active ones are mappable.
    if organization_ids is None:
        read = ModuleOrganization.objects.mappable().values("pk")
    else:
        read = [pk for pk, row in tree.rows.items() if row[5]]
    modules = {m.pk: m for m in KaseyaModule.objects.synced()}
    units = {pk: _units(module) for pk, module in modules.items()}
    lines: dict[tuple, BillLine] = {}
    for module_org_id, billing_type, quantity in latest_usage_in(period, read) if read else ():
        organization_id, _ = tree.target(module_org_id)
        if organization_id not in billable_ids:
            continue
        _, _, _, _, _, _, module_org_name, module_id = tree.rows[module_org_id]
        name, unit = units[module_id].get(billing_type, (billing_type, "count"))
        if unit == "boolean":
            quantity = Decimal(1) if quantity > 0 else Decimal(0)
        if quantity <= 0:
            continue
        key = (organization_id, module_id, billing_type)
        line = lines.get(key)
        if line is None:
            line = lines[key] = BillLine(modules[module_id], billing_type, name)
        line.quantity += quantity
        line.sources.append((module_org_name, quantity))
    _price(lines)
    bills: dict[int, list[BillLine]] = {}
    for (organization_id, _, _), line in sorted(lines.items(), key=_line_order):
        bills.setdefault(organization_id, []).append(line)
    return bills


def _line_order(item):
    (organization_id, _, billing_type), line = item
    codes = [entry["code"] for entry in line.module.billing_types or []]
    position = codes.index(billing_type) if billing_type in codes else len(codes)
    return organization_id, line.module.name, position, billing_type


def _price(lines: dict) -> None:
    """Give each line its rate: the organization's price, else the default (one query)."""
    if not lines:
        return
    module_ids = {module_id for _, module_id, _ in lines}
    organization_ids = {organization_id for organization_id, _, _ in lines}
    prices = Price.objects.filter(module_id__in=module_ids).filter(
        Q(organization__isnull=True) | Q(organization_id__in=organization_ids)
    )
    found = {(p.organization_id, p.module_id, p.billing_type): p.amount for p in prices}
    for (organization_id, module_id, billing_type), line in lines.items():
        rate = found.get((organization_id, module_id, billing_type))
        if rate is None:
            rate = found.get((None, module_id, billing_type))
        line.unpriced = rate is None
        line.rate = rate if rate is not None else Decimal(0)


def unbilled(period) -> list[Unbilled]:
    """Usage within `period` of active module organizations that bill to nobody: ignored, not
    mapped (nor a site whose parent bills), or mapped to an organization that cannot receive
    bills. Three queries."""
    period = parse_period(period)
    tree = _tree()
    billable_ids = set(Organization.objects.billable().values_list("pk", flat=True))
    # Only these can bill to nobody; the others are mapped to a billable organization.
    candidates = ModuleOrganization.objects.mappable().filter(
        Q(organization__isnull=True) | ~Q(organization__in=Organization.objects.billable())
    )
    usage: dict[int, list] = {}
    for module_org_id, billing_type, quantity in latest_usage_in(period, candidates.values("pk")):
        organization_id, why = tree.target(module_org_id)
        if organization_id in billable_ids or quantity <= 0:
            continue
        usage.setdefault(module_org_id, []).append((billing_type, quantity, why))
    if not usage:
        return []
    found = []
    for module_org in (
        ModuleOrganization.objects.filter(pk__in=list(usage))
        .select_related("module", "organization", "parent")
        .order_by("module__name", "name", "pk")
    ):
        rows = usage[module_org.pk]
        why = rows[0][2]
        if module_org.organization_id is not None:
            why = f"mapped to {module_org.organization.name}, which cannot receive bills"
        units = _units(module_org.module)
        found.append(
            Unbilled(
                module_org,
                why,
                sorted((units.get(bt, (bt,))[0], quantity) for bt, quantity, _ in rows),
            )
        )
    return found


def preview(organization) -> list[BillLine]:
    """What `organization` is billed for this month so far (the organization page's and the
    Mappings page's billing preview)."""
    return bills_for(timezone.localdate(), [organization.pk]).get(organization.pk, [])


# --- Workflows (defined beside, imported from here) ---------------------------------------------

from .invoicing import (  # noqa: E402
    Approval,
    RunSummary,
    create_invoices,
    regenerate,
    retry,
)
from .invoicing import approve_invoices as approve  # noqa: E402
from .prices import (  # noqa: E402
    find_item,
    map_item,
    request_item_refresh,
    set_price,
    validate_billing_type,
)

__all__ = [
    "Approval",
    "BillLine",
    "RunSummary",
    "Unbilled",
    "approve",
    "bills_for",
    "create_invoices",
    "find_item",
    "last_month",
    "map_item",
    "next_period",
    "parse_period",
    "preview",
    "regenerate",
    "request_item_refresh",
    "retry",
    "set_price",
    "unbilled",
    "validate_billing_type",
]
