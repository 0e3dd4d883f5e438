"""Which organization each Kaseya module organization bills to: every map, unmap, ignore and
un-ignore goes through these services (both mapping tabs, the Mappings page, the Django admin),
so the rules are checked and the history is written in one place.

Rules (issue 5, item 4): the target organization is billable (`Organization.objects.billable()`);
the module organization is active and belongs to an ICB-enabled, synced module
(`ModuleOrganization.objects.mappable()`); a module organization bills to at most one
organization (its `organization` foreign key); and a save based on a stale page is refused with
a `MappingConflict` carrying the current value, never applied over someone else's change.

Concurrency is optimistic: callers pass the value their form was rendered with as `expected`,
and the change is a conditional UPDATE … WHERE the row still holds that value. `expected=ANY`
(the default) skips the check, for scripts and the demo seed.
"""

from dataclasses import dataclass, field

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.db.models import Q

from organizations.models import Organization
from organizations.terms import current_term

from .models import (
    KaseyaModule,
    MappingAction,
    ModuleMappingChange,
    ModuleOrganization,
    OrganizationModuleIgnore,
)
from .suggestion_store import queue_refresh_below

ANY = object()  # `expected=ANY`: apply whatever the current value is


class MappingConflict(ValidationError):
    """Someone else changed the value since the caller's page was rendered. `current` is the value
    now stored (a ModuleOrgState or a CellState), for the page to show."""

    def __init__(self, message, current):
        super().__init__(message, code="conflict")
        self.current = current


@dataclass(frozen=True)
class ModuleOrgState:
    """What a module organization bills to: an organization primary key (or None) and whether it
    is ignored. The value a Map by Module Organization row is rendered with."""

    organization_id: int | None
    ignored: bool

    @classmethod
    def of(cls, module_org) -> "ModuleOrgState":
        return cls(module_org.organization_id, module_org.ignored)


@dataclass(frozen=True)
class CellState:
    """An organization in one module: the module organizations mapped to it and whether the
    organization ignores the module. The value a Map by Organization cell (and a row of the
    Mappings page) is rendered with; `token` is how forms post it back."""

    ids: frozenset = frozenset()
    ignored: bool = False

    @property
    def token(self) -> str:
        if self.ignored:
            return "ignored"
        return ",".join(str(pk) for pk in sorted(self.ids))

    @classmethod
    def parse(cls, token: str) -> "CellState":
        token = (token or "").strip()
        if token == "ignored":
            return cls(frozenset(), True)
        try:
            return cls(frozenset(int(part) for part in token.split(",") if part.strip()), False)
        except ValueError:
            raise ValidationError("The page sent a malformed value; reload it.") from None


@dataclass
class Cell:
    """One organization × module for display: its mapped module organizations (id, name, active)
    and whether it is ignored."""

    mapped: list = field(default_factory=list)
    ignored: bool = False

    @property
    def state(self) -> CellState:
        return CellState(frozenset(item["id"] for item in self.mapped), self.ignored)

    @property
    def single(self):
        return self.mapped[0] if len(self.mapped) == 1 else None


# --- Rules ---------------------------------------------------------------------------------


def validate_target(organization: Organization) -> None:
    """Refuse an organization that may not receive bills (Dead, Cancelation)."""
    if not Organization.objects.billable().filter(pk=organization.pk).exists():
        term = current_term()
        raise ValidationError(
            {
                "organization": f"{organization.name} is a {organization.get_org_type_display()} "
                f"{term.lower} and cannot receive bills."
            }
        )


def validate_module(module: KaseyaModule) -> None:
    """Refuse a module that is not ICB-enabled or still waiting for its first sync."""
    if not KaseyaModule.objects.synced().filter(pk=module.pk).exists():
        module.refresh_from_db(fields=["icb_enabled", "first_sync_completed_at"])
        if not module.icb_enabled:
            reason = f"Integrated Customer Billing is not enabled for {module.name}."
        else:
            reason = f"{module.name} is waiting for its first sync; nothing can be mapped yet."
        raise ValidationError({"module_organization": reason})


def validate_module_organization(module_org: ModuleOrganization) -> None:
    """Refuse a module organization that is inactive or whose module is not mappable."""
    validate_module(module_org.module)
    if not module_org.active:
        raise ValidationError(
            {
                "module_organization": f"{module_org.name} is no longer active in "
                f"{module_org.module.name} and cannot be mapped or ignored."
            }
        )


def validate_mapping(module_org: ModuleOrganization) -> None:
    """The rules for a module organization as it stands (ModuleOrganization.clean, the admin)."""
    if module_org.organization_id is None and not module_org.ignored:
        return
    errors = {}
    if module_org.organization_id is not None and module_org.ignored:
        errors["ignored"] = "A module organization that is ignored cannot bill to anyone."
    try:
        if module_org.organization_id is not None:
            validate_target(module_org.organization)
        validate_module_organization(module_org)
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            # A model form has no module_organization field: the row itself is the subject.
            key = NON_FIELD_ERRORS if key == "module_organization" else key
            errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)


# --- History -------------------------------------------------------------------------------


def _record(action, module, user, *, module_org=None, old=None, new=None):
    """Write the history of a change — every change of a module organization passes here, so
    it is also where the suggestions of its sites (which follow its mapping) are refreshed."""
    if module_org is not None:
        queue_refresh_below(module_org)
    return ModuleMappingChange.objects.create(
        module_id=module.pk if hasattr(module, "pk") else module,
        module_organization=module_org,
        module_organization_name=module_org.name if module_org else "",
        action=action,
        old_organization=old,
        new_organization=new,
        old_organization_name=old.name if old else "",
        new_organization_name=new.name if new else "",
        changed_by=user,
    )


def history_for(organization: Organization):
    """Every recorded change that mapped something to or from `organization`, newest first."""
    return (
        ModuleMappingChange.objects.filter(
            Q(old_organization=organization) | Q(new_organization=organization)
        )
        .select_related("module", "changed_by")
        .order_by("-changed_at", "-pk")
    )


# --- One module organization (Map by Module Organization, the admin) ------------------------


def _describe(state: ModuleOrgState) -> str:
    if state.ignored:
        return "ignored"
    if state.organization_id is None:
        return "not mapped"
    name = Organization.objects.filter(pk=state.organization_id).values_list("name", flat=True)
    return f"mapped to {name.first() or '(deleted)'}"


def _module_org_conflict(module_org_pk):
    module_org = ModuleOrganization.objects.get(pk=module_org_pk)
    current = ModuleOrgState.of(module_org)
    return MappingConflict(
        f"{module_org.name} was changed by someone else while you were editing: it is now "
        f"{_describe(current)}. Nothing was saved; review it and try again.",
        current,
    )


def _locked_module_org(module_org) -> ModuleOrganization:
    return ModuleOrganization.objects.select_related("module", "organization").get(pk=module_org.pk)


def _conditional_update(module_org, expected: ModuleOrgState, **values) -> None:
    """UPDATE … WHERE the row still holds `expected`; a conflict when it no longer does."""
    updated = ModuleOrganization.objects.filter(
        pk=module_org.pk, organization_id=expected.organization_id, ignored=expected.ignored
    ).update(**values)
    if updated != 1:
        raise _module_org_conflict(module_org.pk)


def _expected(module_org, expected) -> ModuleOrgState:
    current = ModuleOrgState.of(module_org)
    if expected is ANY:
        return current
    if expected != current:
        raise _module_org_conflict(module_org.pk)
    return expected


def _drop_organization_ignore(organization, module, user) -> None:
    """Mapping something to an organization in a module ends its "nothing in this module"."""
    deleted, _ = OrganizationModuleIgnore.objects.filter(
        organization=organization, module=module
    ).delete()
    if deleted:
        _record(MappingAction.UNIGNORE, module, user, old=organization)


@transaction.atomic
def map_module_organization(module_org, organization, user=None, *, expected=ANY):
    """Bill `module_org` to `organization` (replacing the organization it billed to before, and
    clearing its ignore). Refused unless the organization is billable and the module
    organization is mappable; a MappingConflict when it no longer holds `expected`."""
    module_org = _locked_module_org(module_org)
    validate_target(organization)
    validate_module_organization(module_org)
    before = _expected(module_org, expected)
    if before == ModuleOrgState(organization.pk, False):
        return module_org
    _conditional_update(module_org, before, organization=organization, ignored=False)
    if before.ignored:
        _record(MappingAction.UNIGNORE, module_org.module, user, module_org=module_org)
    _record(
        MappingAction.MAP,
        module_org.module,
        user,
        module_org=module_org,
        old=module_org.organization,
        new=organization,
    )
    _drop_organization_ignore(organization, module_org.module, user)
    module_org.organization, module_org.ignored = organization, False
    return module_org


@transaction.atomic
def unmap_module_organization(module_org, user=None, *, expected=ANY):
    """Leave `module_org` billing to nobody (allowed whatever its state, so stale mappings of
    inactive module organizations can be cleared)."""
    module_org = _locked_module_org(module_org)
    before = _expected(module_org, expected)
    if before.organization_id is None:
        return module_org
    _conditional_update(module_org, before, organization=None)
    _record(
        MappingAction.UNMAP, module_org.module, user, module_org=module_org,
        old=module_org.organization,
    )  # fmt: skip
    module_org.organization = None
    return module_org


@transaction.atomic
def ignore_module_organization(module_org, user=None, *, expected=ANY):
    """Mark `module_org` as billing to nobody on purpose (unmapping it if it was mapped), so it
    no longer counts as yet to be mapped."""
    module_org = _locked_module_org(module_org)
    validate_module_organization(module_org)
    before = _expected(module_org, expected)
    if before.ignored:
        return module_org
    _conditional_update(module_org, before, organization=None, ignored=True)
    if module_org.organization is not None:
        _record(
            MappingAction.UNMAP, module_org.module, user, module_org=module_org,
            old=module_org.organization,
        )  # fmt: skip
    _record(MappingAction.IGNORE, module_org.module, user, module_org=module_org)
    module_org.organization, module_org.ignored = None, True
    return module_org


@transaction.atomic
def unignore_module_organization(module_org, user=None, *, expected=ANY):
    """Put an ignored module organization back on the yet-to-be-mapped list."""
    module_org = _locked_module_org(module_org)
    before = _expected(module_org, expected)
    if not before.ignored:
        return module_org
    _conditional_update(module_org, before, ignored=False)
    _record(MappingAction.UNIGNORE, module_org.module, user, module_org=module_org)
    module_org.ignored = False
    return module_org


# --- One organization in one module (Map by Organization cells, the Mappings page) ----------


def organization_module_state(organization, module) -> CellState:
    """The current CellState of `organization` in `module`."""
    ids = ModuleOrganization.objects.filter(module=module, organization=organization)
    ignored = OrganizationModuleIgnore.objects.filter(organization=organization, module=module)
    return CellState(frozenset(ids.values_list("pk", flat=True)), ignored.exists())


def _describe_cell(state: CellState) -> str:
    if state.ignored:
        return "ignored"
    if not state.ids:
        return "not mapped"
    names = ModuleOrganization.objects.filter(pk__in=state.ids).order_by("name")
    return "mapped to " + ", ".join(names.values_list("name", flat=True))


def _cell_conflict(organization, module):
    current = organization_module_state(organization, module)
    return MappingConflict(
        f"{organization.name} in {module.name} was changed by someone else while you were "
        f"editing: it is now {_describe_cell(current)}. Nothing was saved; review it and try "
        "again.",
        current,
    )


def _cell_before(organization, module, expected) -> CellState:
    # The organization row is locked so that two saves of the same organization's cells take
    # turns; each change below is still a conditional UPDATE against the module organization.
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    current = organization_module_state(organization, module)
    if expected is not ANY and expected != current:
        raise _cell_conflict(organization, module)
    return current


def _unmap_from_cell(organization, module, ids, user) -> None:
    for module_org in ModuleOrganization.objects.filter(pk__in=ids).order_by("pk"):
        updated = ModuleOrganization.objects.filter(
            pk=module_org.pk, organization=organization
        ).update(organization=None)
        if updated != 1:
            raise _cell_conflict(organization, module)
        _record(MappingAction.UNMAP, module, user, module_org=module_org, old=organization)


@transaction.atomic
def set_organization_module(organization, module, module_org, user=None, *, expected=ANY):
    """Make `module_org` the one module organization of `module` billing to `organization` (or,
    with None, leave the organization with nothing in the module): other module organizations
    of the module mapped to it are unmapped and an ignore is cleared. A module organization
    that bills to another organization is refused rather than taken from it."""
    before = _cell_before(organization, module, expected)
    if module_org is not None:
        module_org = _locked_module_org(module_org)
        if module_org.module_id != module.pk:
            raise ValidationError(
                {"module_organization": f"{module_org.name} is not in {module.name}."}
            )
        validate_target(organization)
        validate_module_organization(module_org)
        if module_org.organization_id not in (None, organization.pk):
            raise ValidationError(
                {
                    "module_organization": f"{module_org.name} already bills to "
                    f"{module_org.organization.name}. Unmap it there first (a module "
                    f"organization bills to one {current_term().lower} only)."
                }
            )
    keep = {module_org.pk} if module_org is not None else set()
    _unmap_from_cell(organization, module, before.ids - keep, user)
    if module_org is not None and module_org.pk not in before.ids:
        updated = ModuleOrganization.objects.filter(
            pk=module_org.pk, organization__isnull=True
        ).update(organization=organization, ignored=False)
        if updated != 1:
            raise _cell_conflict(organization, module)
        if module_org.ignored:
            _record(MappingAction.UNIGNORE, module, user, module_org=module_org)
        _record(MappingAction.MAP, module, user, module_org=module_org, new=organization)
    if before.ignored:
        _drop_organization_ignore(organization, module, user)
    return organization_module_state(organization, module)


@transaction.atomic
def ignore_organization_module(organization, module, user=None, *, expected=ANY):
    """Record that `organization` has nothing in `module`: module organizations of the module
    mapped to it are unmapped, and the module no longer counts as yet to be mapped for it."""
    before = _cell_before(organization, module, expected)
    if before.ignored:
        return before
    validate_target(organization)
    validate_module(module)
    _unmap_from_cell(organization, module, before.ids, user)
    OrganizationModuleIgnore.objects.create(
        organization=organization, module=module, created_by=user
    )
    _record(MappingAction.IGNORE, module, user, new=organization)
    return organization_module_state(organization, module)


@transaction.atomic
def unignore_organization_module(organization, module, user=None, *, expected=ANY):
    """Put `module` back on `organization`'s yet-to-be-mapped list."""
    before = _cell_before(organization, module, expected)
    if before.ignored:
        _drop_organization_ignore(organization, module, user)
    return organization_module_state(organization, module)
