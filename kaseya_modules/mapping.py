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
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from organizations.models import Organization
from organizations.terms import current_term

from .models import (
    BatchKind,
    KaseyaModule,
    MappingAction,
    MappingBatch,
    MappingSuggestion,
    ModuleMappingChange,
    ModuleOrganization,
    OrganizationModuleIgnore,
)
from .suggestions import queue_refresh_below

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


@transaction.atomic
def bulk_map_module_organizations(items, organization, user=None) -> int:
    """Map several module organizations to one organization in one action: `items` is a list of
    (module organization, expected state). All or nothing: one refusal or conflict (its message
    names the row) and none is mapped. Returns how many changed."""
    validate_target(organization)
    changed = 0
    for module_org, expected in items:
        before = ModuleOrgState.of(module_org)
        result = map_module_organization(module_org, organization, user, expected=expected)
        changed += ModuleOrgState.of(result) != before
    return changed


@transaction.atomic
def bulk_ignore_module_organizations(items, user=None) -> int:
    """Ignore several module organizations in one action (`items` as for
    bulk_map_module_organizations), all or nothing. Returns how many changed; each change is in
    the history, so un-ignoring undoes it."""
    changed = 0
    for module_org, expected in items:
        result = ignore_module_organization(module_org, user, expected=expected)
        changed += not expected.ignored and result.ignored
    return changed


# --- Bulk ignore: "nothing in this module" for many organizations, as one undoable batch ----
# A batch writes its ignores and history rows with bulk_create (a few queries for any number of
# organizations); the ignores it created point at it, so an undo removes exactly those still
# standing and leaves alone any made or removed since.

BULK_SIZE = 500


def _batch_change(batch, module_id, action, organization_id, name, user):
    side = "new" if action == MappingAction.IGNORE else "old"
    return ModuleMappingChange(
        module_id=module_id,
        action=action,
        batch=batch,
        changed_by=user,
        **{f"{side}_organization_id": organization_id, f"{side}_organization_name": name},
    )


def _apply_batch(kind, module, pairs, user):
    """Ignore every (module pk, organization pk, organization name) of `pairs` as one batch."""
    if not pairs:
        return None
    batch = MappingBatch.objects.create(kind=kind, module=module, created_by=user, count=len(pairs))
    try:
        with transaction.atomic():
            OrganizationModuleIgnore.objects.bulk_create(
                [
                    OrganizationModuleIgnore(
                        organization_id=org_id, module_id=module_id, created_by=user, batch=batch
                    )
                    for module_id, org_id, _ in pairs
                ],
                batch_size=BULK_SIZE,
            )
    except IntegrityError:
        raise ValidationError(
            "Someone else ignored some of these at the same time. Nothing was saved; try again."
        ) from None
    ModuleMappingChange.objects.bulk_create(
        [_batch_change(batch, m, MappingAction.IGNORE, o, name, user) for m, o, name in pairs],
        batch_size=BULK_SIZE,
    )
    return batch


@transaction.atomic
def bulk_ignore_organizations(organization_ids, module, user=None):
    """Record that each of `organization_ids` has nothing in `module`, as one batch, all or
    nothing: a non-billable organization, or one with a module organization of the module mapped
    to it (ignoring would unmap it), refuses the whole selection. Organizations already ignoring
    the module are left as they are. Returns the batch (None when nothing changed)."""
    validate_module(module)
    ids = sorted(set(organization_ids))
    # Locked as a single cell save locks them, so the two take turns.
    found = list(Organization.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    if len(found) != len(ids):
        raise ValidationError(f"A selected {current_term().lower} no longer exists; reload.")
    billable = set(Organization.objects.billable().filter(pk__in=ids).values_list("pk", flat=True))
    for organization in found:
        if organization.pk not in billable:
            validate_target(organization)
    mapped = (
        ModuleOrganization.objects.filter(module=module, organization_id__in=ids)
        .order_by("organization__name_upper", "name")
        .values_list("organization__name", "name")
    )
    first = mapped.first()
    if first is not None:
        raise ValidationError(
            f"{first[0]} now has {first[1]} mapped in {module.name}: ignoring would unmap it. "
            "Nothing was saved; unmap it first or leave it out of the selection."
        )
    already = set(
        OrganizationModuleIgnore.objects.filter(module=module, organization_id__in=ids).values_list(
            "organization_id", flat=True
        )
    )
    pairs = [(module.pk, o.pk, o.name) for o in found if o.pk not in already]
    return _apply_batch(BatchKind.SELECTION, module, pairs, user)


def _no_evidence(module) -> Q:
    """Organizations with no evidence of anything in `module`: nothing of the module mapped to
    them (active or not), no ignore, and no stored suggestion (any rank) of a module
    organization still to map."""
    mapped = ModuleOrganization.objects.filter(module=module, organization__isnull=False)
    ignored = OrganizationModuleIgnore.objects.filter(module=module)
    suggested = MappingSuggestion.objects.filter(
        module=module,
        module_organization__active=True,
        module_organization__organization__isnull=True,
        module_organization__ignored=False,
    )
    return (
        ~Q(pk__in=mapped.values("organization_id"))
        & ~Q(pk__in=ignored.values("organization_id"))
        & ~Q(pk__in=suggested.values("organization_id"))
    )


def organizations_without_evidence(module):
    """Billable organizations that "ignore everything with no evidence" would ignore in `module`."""
    return Organization.objects.billable().filter(_no_evidence(module))


def without_evidence_counts(modules) -> dict[int, int]:
    """{module pk: organizations without evidence in it} for the synced `modules`, one query."""
    if not modules:
        return {}
    totals = Organization.objects.billable().aggregate(
        **{f"m{m.pk}": Count("pk", filter=_no_evidence(m)) for m in modules}
    )
    return {m.pk: totals[f"m{m.pk}"] for m in modules}


@transaction.atomic
def ignore_without_evidence(modules, user=None, *, module=None, expected=None):
    """Ignore, in each of `modules`, every organization without evidence in it, as one batch
    (`module`: the one module it is for, None for every synced module). `expected`: the total
    the reviewer saw; when the organizations changed since, nothing is saved. Returns the batch
    (None when there was nothing to ignore)."""
    for each in modules:
        validate_module(each)
    pairs = []
    for each in modules:
        found = organizations_without_evidence(each).order_by("pk").values_list("pk", "name")
        pairs += [(each.pk, pk, name) for pk, name in found]
    if expected is not None and expected != len(pairs):
        raise ValidationError(
            f"The {current_term().lower_plural} changed since you reviewed them ({expected} then, "
            f"{len(pairs)} now). Nothing was saved; review the list again."
        )
    return _apply_batch(BatchKind.NO_EVIDENCE, module, pairs, user)


def bulk_actions():
    """Every batch, newest first, with its module, who made and undid it, and how many of its
    ignores still stand (`standing`)."""
    return (
        MappingBatch.objects.select_related("module", "created_by", "undone_by")
        .annotate(standing=Count("ignores"))
        .order_by("-created_at", "-pk")
    )


@transaction.atomic
def undo_batch(batch, user=None):
    """Un-ignore the pairs of `batch` whose ignore it made still stands (one history row each,
    in the batch) and mark it undone; pairs changed since are skipped (`skipped_count`)."""
    batch = MappingBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.undone_at is not None:
        raise ValidationError("This bulk action has already been undone.")
    standing = list(
        OrganizationModuleIgnore.objects.filter(batch=batch).values_list(
            "pk", "module_id", "organization_id", "organization__name"
        )
    )
    for start in range(0, len(standing), BULK_SIZE):
        chunk = [row[0] for row in standing[start : start + BULK_SIZE]]
        OrganizationModuleIgnore.objects.filter(pk__in=chunk).delete()
    ModuleMappingChange.objects.bulk_create(
        [_batch_change(batch, m, MappingAction.UNIGNORE, o, n, user) for _, m, o, n in standing],
        batch_size=BULK_SIZE,
    )
    batch.undone_at, batch.undone_by, batch.undone_count = timezone.now(), user, len(standing)
    batch.save(update_fields=["undone_at", "undone_by", "undone_count"])
    return batch


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


# --- Review suggestions --------------------------------------------------------------------


def accept_suggestions(items, user=None) -> tuple[int, list[tuple[str, str]]]:
    """Accept stored suggestions in one action: `items` is a list of (module organization,
    organization it was suggested to, expected ModuleOrgState) as the page showed them. One
    transaction, each row in a savepoint: a row changed by someone else since (MappingConflict)
    or now refused (ValidationError, e.g. the organization became Dead) is skipped and named, the
    others are mapped. Returns (accepted count, [(module organization name, reason), …])."""
    accepted, skipped = 0, []
    with transaction.atomic():
        for module_org, organization, expected in items:
            try:
                with transaction.atomic():
                    map_module_organization(module_org, organization, user, expected=expected)
            except MappingConflict as exc:
                skipped.append(
                    (module_org.name, f"changed by someone else: now {_describe(exc.current)}")
                )
            except ValidationError as exc:
                skipped.append((module_org.name, " ".join(exc.messages)))
            else:
                accepted += 1
    return accepted, skipped
