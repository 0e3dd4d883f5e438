"""Many mapping changes in one action: bulk map and ignore of module organizations, "nothing in
this module" for many organizations as one undoable batch, and accepting reviewed suggestions.
Each goes through the single-change services and rules of kaseya_modules.mapping."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from organizations.models import Organization
from organizations.terms import current_term

from .mapping import (
    MappingConflict,
    ModuleOrgState,
    _describe,
    ignore_module_organization,
    map_module_organization,
    validate_module,
    validate_target,
)
from .models import (
    BatchKind,
    MappingAction,
    MappingBatch,
    MappingSuggestion,
    ModuleMappingChange,
    ModuleOrganization,
    OrganizationModuleIgnore,
)


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
