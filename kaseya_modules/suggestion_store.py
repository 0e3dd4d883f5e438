"""Stored mapping suggestions: computing them for a module (with kaseya_modules.suggestions,
which decides what is suggested and why), storing them in MappingSuggestion, refreshing them after
a sync, after organizations change and below a module organization whose mapping changed, and
reading them for the pages (one query for a page of any length)."""

import logging
from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from .models import KaseyaModule, MappingSuggestion, ModuleOrganization
from .suggestions import OrganizationIndex, Subject, Suggestion, suggest

log = logging.getLogger(__name__)

BATCH = 2000  # suggestions written per INSERT


def depth_first(rows: list[tuple]) -> list[tuple]:
    """(pk, …, parent pk, …) rows ordered so every parent comes before its children."""
    parent_of = {row[0]: row[2] for row in rows}
    depth: dict[int, int] = {}
    for pk in parent_of:
        chain, node = [], pk
        while node is not None and node not in depth and node in parent_of and node not in chain:
            chain.append(node)
            node = parent_of[node]
        base = depth.get(node, -1) if node is not None else -1
        for offset, member in enumerate(reversed(chain), start=1):
            depth[member] = base + offset
    return sorted(rows, key=lambda row: depth[row[0]])


def module_rows(module: KaseyaModule) -> list[tuple]:
    return list(
        ModuleOrganization.objects.filter(module=module).values_list(
            "pk", "name", "parent_id", "organization_id", "ignored", "active", "psa_id"
        )
    )


def compute_module(
    module: KaseyaModule,
    index: OrganizationIndex,
    *,
    only: set[int] | None = None,
    rows: list[tuple] | None = None,
) -> dict[int, list[Suggestion]]:
    """Suggestions for every active, unmapped, not-ignored organization of `module` (or of those
    in `only`), by primary key (an empty list when nothing is worth suggesting)."""
    rows = module_rows(module) if rows is None else rows
    by_pk = {row[0]: row for row in rows}
    results: dict[int, list[Suggestion]] = {}
    if only is not None:
        # Parents outside the set keep their stored best suggestion, which their sites follow.
        outside = {by_pk[pk][2] for pk in only if pk in by_pk} - only - {None}
        for pk, stored in best_suggestions(outside).items():
            results[pk] = [
                Suggestion(
                    stored.organization_id,
                    stored.organization.autotask_id,
                    stored.organization.name,
                    stored.score,
                    stored.confidence,
                    list(stored.reasons),
                )
            ]
    for pk, name, parent_id, organization_id, ignored, active, psa_id in depth_first(rows):
        if not active or ignored or organization_id is not None:
            continue
        if only is not None and pk not in only:
            continue
        subject = Subject(pk, name, psa_id)
        parent = by_pk.get(parent_id)
        if parent is not None and not parent[4]:
            subject.parent_name = parent[1]
            if parent[3] is not None:
                subject.parent_organization_id = parent[3]
            elif results.get(parent[0]):
                subject.parent_best = results[parent[0]][0]
        results[pk] = suggest(subject, index)
    return results


@transaction.atomic
def refresh_module(module: KaseyaModule, index: OrganizationIndex | None = None) -> int:
    """Recompute and store the suggestions of one module, replacing its stored ones in one
    transaction (readers see the old set or the new, never a mix). Returns how many module
    organizations got at least one suggestion."""
    index = index or OrganizationIndex()
    lock(module.pk)
    results = compute_module(module, index)
    MappingSuggestion.objects.filter(module=module).delete()
    store(module, results)
    KaseyaModule.objects.filter(pk=module.pk).update(suggestions_computed_at=timezone.now())
    module.suggestions_computed_at = timezone.now()
    return sum(1 for items in results.values() if items)


@transaction.atomic
def refresh_below(module_org_pk: int) -> int:
    """Recompute the suggestions of one module organization and of every site below it (after
    its mapping changed, which its sites follow). Returns how many were recomputed."""
    root = ModuleOrganization.objects.select_related("module").filter(pk=module_org_pk).first()
    if root is None:
        return 0
    lock(root.module_id)
    rows = module_rows(root.module)
    children: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        if row[2] is not None:
            children[row[2]].append(row[0])
    only, queue = set(), [root.pk]
    while queue:
        pk = queue.pop()
        if pk not in only:
            only.add(pk)
            queue.extend(children.get(pk, ()))
    results = compute_module(root.module, OrganizationIndex(), only=only, rows=rows)
    MappingSuggestion.objects.filter(module_organization__in=only).delete()
    store(root.module, {pk: items for pk, items in results.items() if pk in only})
    return len(only)


def lock(module_pk: int) -> None:
    """One refresh of a module's suggestions at a time (after a sync, after an import, after a
    mapping change): the module's row is locked until the transaction ends, so two refreshes
    never delete and insert the same ranks at once."""
    list(KaseyaModule.objects.select_for_update().filter(pk=module_pk).values_list("pk"))


def store(module: KaseyaModule, results: dict[int, list[Suggestion]]) -> None:
    now = timezone.now()
    rows = (
        MappingSuggestion(
            module_organization_id=pk,
            module=module,
            rank=rank,
            organization_id=item.organization_id,
            score=item.score,
            confidence=item.confidence,
            reasons=item.reasons,
            computed_at=now,
        )
        for pk, items in results.items()
        for rank, item in enumerate(items, start=1)
    )
    MappingSuggestion.objects.bulk_create(rows, batch_size=BATCH)


def refresh_after_sync(module: KaseyaModule) -> None:
    """The hook at the end of a successful sync. The sync's own data is committed by now, so a
    failure here is logged and leaves the previous suggestions in place, rather than failing a
    sync that succeeded; the next sync or organization change computes them again."""
    try:
        refresh_module(module)
    except Exception:
        log.exception("Computing the mapping suggestions of %s failed", module.code)


def refresh_all() -> int:
    """Recompute every synced module's suggestions with one organization index (after
    organizations change). Returns the number of modules refreshed."""
    modules = list(KaseyaModule.objects.synced())
    if not modules:
        return 0
    index = OrganizationIndex()
    for module in modules:
        refresh_module(module, index)
    return len(modules)


def queue_refresh_below(module_org) -> None:
    """After a module organization's mapping changed: its sites follow its mapping, so theirs
    are recomputed in the background once the change commits — only when it has sites and its
    module's suggestions were ever computed (a bulk map of sites queues nothing)."""
    from .tasks import refresh_below_task

    if ModuleOrganization.objects.filter(
        parent=module_org.pk, module__suggestions_computed_at__isnull=False
    ).exists():
        pk = module_org.pk
        transaction.on_commit(lambda: refresh_below_task.delay(pk))


def ensure_computed(module: KaseyaModule) -> None:
    """Compute a module's suggestions if they never were (a module synced before suggestions
    existed)."""
    if module.suggestions_computed_at is None:
        refresh_module(module)


def best_suggestions(module_orgs) -> dict[int, MappingSuggestion]:
    """The stored best suggestion of each of `module_orgs` (instances or primary keys), with its
    organization, in one query whatever their number."""
    return {
        s.module_organization_id: s
        for s in MappingSuggestion.objects.best().filter(
            module_organization__in=[getattr(item, "pk", item) for item in module_orgs]
        )
    }


def stored_suggestions(module_orgs) -> dict[int, list[MappingSuggestion]]:
    """Every stored suggestion of `module_orgs`, best first, in one query."""
    found: dict[int, list[MappingSuggestion]] = defaultdict(list)
    for suggestion in MappingSuggestion.objects.for_module_organizations(module_orgs):
        found[suggestion.module_organization_id].append(suggestion)
    return found
