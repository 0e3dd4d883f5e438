"""Every module organization mapping as CSV, and back: an export to review or edit in a
spreadsheet, and an import that is previewed row by row, then applied all-or-nothing through the
mapping services (history, the same refusals, optimistic concurrency)."""

from django.core.exceptions import ValidationError

from mapping_portal.lib.csv_io import Change, ImportPlan, RowError
from organizations.models import Organization

from . import mapping
from .mapping import ModuleOrgState
from .models import KaseyaModule, ModuleOrganization

HEADER = [
    "module",
    "external_id",
    "module_organization",
    "parent",
    "autotask_id",
    "organization",
    "status",
    "ignored",
]
REQUIRED = ("module", "external_id", "autotask_id")
_YES = {"yes", "y", "true", "1", "ignored"}
_NO = {"", "no", "n", "false", "0"}


def export_rows():
    """One row per module organization of every ICB-enabled module, in HEADER's order."""
    queryset = (
        ModuleOrganization.objects.filter(module__icb_enabled=True)
        .select_related("module", "parent", "organization")
        .order_by("module__name", "name", "pk")
    )
    for mo in queryset.iterator(chunk_size=2000):
        yield [
            mo.module.code,
            mo.external_id,
            mo.name,
            mo.parent.name if mo.parent else "",
            mo.organization.autotask_id if mo.organization else "",
            mo.organization.name if mo.organization else "",
            "active" if mo.active else "inactive",
            "yes" if mo.ignored else "no",
        ]


def _describe(state: ModuleOrgState, organizations_by_pk) -> str:
    if state.ignored:
        return "ignored"
    if state.organization_id is None:
        return "not mapped"
    return f"mapped to {organizations_by_pk[state.organization_id]}"


def plan(rows) -> ImportPlan:
    """What importing `rows` would change, and every row it refuses (with its line)."""
    result = ImportPlan()
    modules = {module.code: module for module in KaseyaModule.objects.all()}
    keys, autotask_ids = set(), set()
    for _, cells in rows:
        keys.add((cells.get("module", ""), cells.get("external_id", "")))
        if cells.get("autotask_id", "").isdigit():
            autotask_ids.add(int(cells["autotask_id"]))
    module_orgs = {
        (mo.module.code, mo.external_id): mo
        for mo in ModuleOrganization.objects.filter(
            module__code__in={code for code, _ in keys},
            external_id__in={external_id for _, external_id in keys},
        ).select_related("module", "organization")
    }
    organizations = {
        org.autotask_id: org for org in Organization.objects.filter(autotask_id__in=autotask_ids)
    }
    names = {org.pk: org.name for org in organizations.values()}
    names.update(
        Organization.objects.filter(
            pk__in={mo.organization_id for mo in module_orgs.values() if mo.organization_id}
        ).values_list("pk", "name")
    )
    billable = set(
        Organization.objects.billable()
        .filter(autotask_id__in=autotask_ids)
        .values_list("autotask_id", flat=True)
    )
    seen = {}
    for line, cells in rows:
        try:
            change = _plan_row(line, cells, modules, module_orgs, organizations, billable, seen)
        except ValidationError as exc:
            result.refusals.append(RowError(line, " ".join(exc.messages)))
            continue
        if change is None:
            result.unchanged += 1
            continue
        module_org, before, after, organization = change
        result.changes.append(
            Change(
                line=line,
                subject=f"{module_org.module.name}: {module_org.name} ({module_org.external_id})",
                before=_describe(before, names),
                after=_describe(after, names),
                apply=_applier(module_org, before, after, organization),
            )
        )
    return result


def _plan_row(line, cells, modules, module_orgs, organizations, billable, seen):
    code, external_id = cells.get("module", ""), cells.get("external_id", "")
    if code not in modules:
        raise ValidationError(f"There is no module with the code {code!r}.")
    module_org = module_orgs.get((code, external_id))
    if module_org is None:
        raise ValidationError(
            f"{modules[code].name} has no module organization with the ID {external_id!r}."
        )
    if (code, external_id) in seen:
        raise ValidationError(
            f"{module_org.name} is also on line {seen[code, external_id]}; list it once."
        )
    seen[code, external_id] = line
    ignored_text = cells.get("ignored", "").lower()
    if ignored_text not in _YES | _NO:
        raise ValidationError(f"ignored must be yes or no (not {cells['ignored']!r}).")
    raw_id = cells.get("autotask_id", "")
    organization = None
    if raw_id:
        if not raw_id.isdigit():
            raise ValidationError(f"autotask_id must be a number (not {raw_id!r}).")
        organization = organizations.get(int(raw_id))
        if organization is None:
            raise ValidationError(f"There is no organization with the Autotask ID {raw_id}.")
    if organization is not None and ignored_text in _YES:
        raise ValidationError("A row cannot both name an organization and be ignored.")
    after = ModuleOrgState(organization.pk if organization else None, ignored_text in _YES)
    before = ModuleOrgState.of(module_org)
    if after == before:
        return None
    # The services' own rules, asked only of rows that break them, so the messages are theirs.
    if organization is not None and organization.autotask_id not in billable:
        mapping.validate_target(organization)
    if after.organization_id is not None or after.ignored:
        if not module_org.active or module_org.module.waiting_for_first_sync:
            mapping.validate_module_organization(module_org)
        if not module_org.module.icb_enabled:
            mapping.validate_module(module_org.module)
    return module_org, before, after, organization


def _applier(module_org, before, after, organization):
    def apply(user):
        if after.ignored:
            mapping.ignore_module_organization(module_org, user, expected=before)
        elif organization is not None:
            mapping.map_module_organization(module_org, organization, user, expected=before)
        elif before.ignored:
            mapping.unignore_module_organization(module_org, user, expected=before)
        else:
            mapping.unmap_module_organization(module_org, user, expected=before)

    return apply
