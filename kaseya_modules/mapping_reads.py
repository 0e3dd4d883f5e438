"""Reading the mappings for the pages: cells of Map by Organization, the yet-to-be-mapped
counts, latest usage, the stored suggestions each picker offers, and
each user's column order. Writing goes
through kaseya_modules.mapping."""

from collections import defaultdict
from datetime import date

from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.db.models.expressions import RawSQL
from django.utils import timezone

from organizations.models import Organization

from .mapping import Cell
from .models import (
    KaseyaModule,
    MappingSuggestion,
    ModuleColumnPreference,
    ModuleOrganization,
    ModuleUsage,
    OrganizationModuleIgnore,
)
from .suggestion_store import best_suggestions

# --- Reading: cells, counts, usage ----------------------------------------------------------


def cells_for(organization_ids, modules) -> dict:
    """{(organization pk, module pk): Cell} for a page of organizations and the given modules, in
    two queries whatever their number."""
    module_ids = [module.pk for module in modules]
    cells = defaultdict(Cell)
    mapped = (
        ModuleOrganization.objects.filter(
            organization_id__in=organization_ids, module_id__in=module_ids
        )
        .order_by("name", "pk")
        .values("id", "name", "active", "module_id", "organization_id")
    )
    for row in mapped:
        cells[row["organization_id"], row["module_id"]].mapped.append(row)
    ignores = OrganizationModuleIgnore.objects.filter(
        organization_id__in=organization_ids, module_id__in=module_ids
    ).values_list("organization_id", "module_id")
    for key in ignores:
        cells[key].ignored = True
    return cells


def unmapped_counts() -> dict[int, int]:
    """{module pk: module organizations yet to be mapped} (mappable, not mapped, not ignored)."""
    rows = (
        ModuleOrganization.objects.mappable()
        .filter(organization__isnull=True, ignored=False)
        .values("module_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["module_id"]: row["n"] for row in rows}


def _covered_sql(module_ids):
    """SQL for the organizations that have every one of `module_ids` either mapped (an active
    module organization bills to them) or ignored: one grouped pass, no per-organization
    subquery, so the planner can hash it once."""
    mo = ModuleOrganization._meta.db_table
    ignore = OrganizationModuleIgnore._meta.db_table
    marks = ", ".join(["%s"] * len(module_ids))
    sql = (
        f"SELECT p.organization_id FROM ("
        f"SELECT organization_id, module_id FROM {mo} WHERE organization_id IS NOT NULL "
        f"AND active = %s AND module_id IN ({marks}) "
        f"UNION SELECT organization_id, module_id FROM {ignore} WHERE module_id IN ({marks})"
        f") p GROUP BY p.organization_id HAVING COUNT(*) = %s"
    )
    return RawSQL(sql, [True, *module_ids, *module_ids, len(module_ids)])


def organizations_with_unmapped_modules(modules=None):
    """Billable organizations with at least one synced module neither mapped nor ignored."""
    if modules is None:
        modules = list(KaseyaModule.objects.synced())
    module_ids = [module.pk for module in modules if not module.waiting_for_first_sync]
    if not module_ids:
        return Organization.objects.none()
    return Organization.objects.billable().exclude(pk__in=_covered_sql(module_ids))


def organization_ignored_modules():
    """Billable organizations that ignore at least one module (to list and un-ignore them)."""
    return Organization.objects.billable().filter(
        pk__in=OrganizationModuleIgnore.objects.values("organization_id")
    )


def yet_to_be_mapped(modules) -> dict:
    """The counts on the mapping pages for the ICB-enabled `modules`: unmapped module
    organizations per module (None while a module waits for its first sync) and in all, and
    organizations with modules neither mapped nor ignored (two queries)."""
    by_module = unmapped_counts()
    per_module = [
        (module, None if module.waiting_for_first_sync else by_module.get(module.pk, 0))
        for module in modules
    ]
    return {
        "per_module": per_module,
        "module_organizations": sum(count or 0 for _, count in per_module),
        "organizations": organizations_with_unmapped_modules(modules).count(),
    }


def latest_usage(module_orgs) -> dict[int, list]:
    """{module organization pk: [(billing type name, quantity), …]} on each one's latest usage
    day, in one query (the latest day per module organization is a correlated subquery on the
    (module organization, billing type, day) index). `module_orgs`: module organizations with
    their module loaded; billing types are named as their module's catalog names them."""
    modules = {mo.pk: mo.module for mo in module_orgs}
    if not modules:
        return {}
    names = {module.pk: _billing_type_names(module) for module in modules.values()}
    latest_day = (
        ModuleUsage.objects.filter(module_organization=OuterRef("module_organization"))
        .order_by("-day")
        .values("day")[:1]
    )
    rows = (
        ModuleUsage.objects.filter(module_organization_id__in=list(modules))
        .filter(day=Subquery(latest_day))
        .order_by("billing_type")
        .values_list("module_organization_id", "billing_type", "quantity")
    )
    usage = defaultdict(list)
    for module_org_id, billing_type, quantity in rows:
        name = names[modules[module_org_id].pk].get(billing_type, billing_type)
        usage[module_org_id].append((name, quantity))
    return usage


def annotate_rows(rows) -> None:
    """Give each Map by Module Organization row (module organizations with module and
    organization loaded) its `latest` usage and its `suggestion`: the stored best suggestion,
    only for a row still to map (active, unmapped, not ignored) and only while the suggested
    organization can receive bills. Two queries whatever the number of rows."""
    usage = latest_usage(rows)
    open_rows = [row for row in rows if row.active and not row.organization_id and not row.ignored]
    suggestions = best_suggestions(open_rows) if open_rows else {}
    for row in rows:
        row.latest = usage.get(row.pk, [])
        suggestion = suggestions.get(row.pk)
        row.suggestion = suggestion if suggestion and suggestion.organization.is_billable else None


def suggested_cells(organization_ids, modules, cells) -> dict:
    """{(organization pk, module pk): MappingSuggestion} for the cells (from `cells_for`) with
    nothing mapped and not ignored: the strongest module organization of that module, still to
    map, whose best suggestion is that organization. One query whatever the number of cells,
    none when every cell is mapped or ignored."""

    def closed(key):
        cell = cells.get(key)
        return cell is not None and bool(cell.mapped or cell.ignored)

    if all(closed((pk, module.pk)) for pk in organization_ids for module in modules):
        return {}
    found = MappingSuggestion.objects.review().filter(
        organization_id__in=organization_ids, module_id__in=[module.pk for module in modules]
    )
    suggested = {}
    for suggestion in found:  # strongest first, so the first one per cell wins
        key = suggestion.organization_id, suggestion.module_id
        if not closed(key):
            suggested.setdefault(key, suggestion)
    return suggested


def _billing_type_names(module) -> dict[str, str]:
    return {item["code"]: item.get("name", item["code"]) for item in module.billing_types or []}


def unbilled_usage(modules) -> list[dict]:
    """Usage that currently bills to nobody: the latest sync's usage of active module
    organizations neither mapped nor ignored, summed by module and billing type (one query)."""
    days: dict[date, list[int]] = defaultdict(list)
    for module in modules:
        if module.last_sync_succeeded_at and not module.waiting_for_first_sync:
            days[timezone.localdate(module.last_sync_succeeded_at)].append(module.pk)
    if not days:
        return []
    # An active module organization was in the latest successful sync, which wrote its usage for
    # that sync's local day: so the module's latest day is every such row's latest usage.
    condition = Q()
    for day, module_ids in days.items():
        condition |= Q(day=day, module_organization__module_id__in=module_ids)
    rows = (
        ModuleUsage.objects.filter(condition)
        .filter(
            module_organization__active=True,
            module_organization__organization__isnull=True,
            module_organization__ignored=False,
        )
        .values("module_organization__module_id", "billing_type")
        .annotate(quantity=Sum("quantity"), sources=Count("module_organization_id"))
        .order_by()
    )
    by_pk = {module.pk: module for module in modules}
    result = []
    for row in rows:
        module = by_pk[row["module_organization__module_id"]]
        result.append(
            {
                "module": module,
                "billing_type": _billing_type_names(module).get(
                    row["billing_type"], row["billing_type"]
                ),
                "quantity": row["quantity"],
                "sources": row["sources"],
            }
        )
    return sorted(result, key=lambda row: (row["module"].name, row["billing_type"]))


# --- Column order -----------------------------------------------------------------------------


def ordered_columns(user, modules) -> list:
    """ICB-enabled `modules` in the order `user` picked; modules enabled since are appended in
    name order, and codes of modules no longer enabled are skipped."""
    codes = (
        ModuleColumnPreference.objects.filter(user=user)
        .values_list("module_codes", flat=True)
        .first()
    ) or []
    by_code = {module.code: module for module in modules}
    ordered = [by_code.pop(code) for code in codes if code in by_code]
    return ordered + sorted(by_code.values(), key=lambda module: (module.name, module.pk))


def save_column_order(user, codes: list[str], modules) -> list:
    """Store `user`'s column order. The chooser only reorders: every enabled module stays, so
    codes missing from `codes` keep their place at the end and unknown codes are dropped."""
    known = {module.code for module in modules}
    clean = []
    for code in codes:
        if code in known and code not in clean:
            clean.append(code)
    ModuleColumnPreference.objects.update_or_create(user=user, defaults={"module_codes": clean})
    return ordered_columns(user, modules)


def moved(codes: list[str], code: str, step: int) -> list[str]:
    """`codes` with `code` moved `step` places (−1 left, +1 right), clamped at the ends."""
    codes = list(codes)
    if code not in codes:
        return codes
    index = codes.index(code)
    target = max(0, min(len(codes) - 1, index + step))
    codes.insert(target, codes.pop(index))
    return codes
