"""The module sync: fetch everything first, then apply it in one transaction per module.

A fetch that fails part-way changes nothing. Applying the same data twice writes no rows: rows are
compared with what is stored and only differences are written. Rows no longer in the feed become
inactive and keep their mapping; nothing is ever deleted.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from .models import KaseyaModule, ModuleOrganization, ModuleUsage, SyncRun, SyncStatus
from .sources import FetchedOrganization, SourceError, source_for
from .sources.base import source_setting

log = logging.getLogger(__name__)

BATCH = 1000


@dataclass
class Counts:
    new: int = 0
    updated: int = 0
    deactivated: int = 0
    unchanged: int = 0


def lock_lease() -> timedelta:
    return timedelta(seconds=source_setting("KASEYA_SYNC_LOCK_SECONDS", 3600))


def claim_module(module_id: int):
    """Take the module's sync lock: a conditional UPDATE that only one caller can win, committed at
    once so every worker sees it. Returns the lease (to release with) or None if held."""
    now = timezone.now()
    lease = now + lock_lease()
    claimed = (
        KaseyaModule.objects.filter(pk=module_id)
        .filter(Q(sync_locked_until__isnull=True) | Q(sync_locked_until__lt=now))
        .update(sync_locked_until=lease)
    )
    return lease if claimed else None


def release_module(module_id: int, lease) -> None:
    KaseyaModule.objects.filter(pk=module_id, sync_locked_until=lease).update(
        sync_locked_until=None
    )


def run_sync(run_id: int) -> SyncRun | None:
    """Carry out a queued SyncRun. Safe to call twice for one run (the second call finds it no
    longer queued and does nothing) and concurrently for one module (the loser is recorded as
    skipped)."""
    started = timezone.now()
    if not SyncRun.objects.filter(pk=run_id, status=SyncStatus.QUEUED).update(
        status=SyncStatus.RUNNING, started_at=started
    ):
        return None
    run = SyncRun.objects.select_related("module").get(pk=run_id)
    module = run.module
    lease = claim_module(module.pk)
    if lease is None:
        finish_run(run, SyncStatus.SKIPPED, error="Another sync of this module was running.")
        return run
    try:
        module.refresh_from_db()  # another sync may have finished since it was loaded

        def progress(pages: int, organizations: int) -> None:
            run.pages_fetched, run.organizations_fetched = pages, organizations
            SyncRun.objects.filter(pk=run.pk).update(
                pages_fetched=pages, organizations_fetched=organizations
            )

        try:
            fetched = source_for(module, progress).fetch_all()
        except SourceError as exc:
            log.warning("Sync of %s failed: %s", module.code, exc)
            finish_run(run, SyncStatus.FAILED, error=str(exc))
            return run
        counts = apply_sync(module, fetched, now=started)
        run.organizations_fetched = len(fetched)
        finish_run(run, SyncStatus.SUCCEEDED, counts=counts)
        return run
    except Exception as exc:
        finish_run(run, SyncStatus.FAILED, error=f"Unexpected error: {type(exc).__name__}: {exc}")
        raise
    finally:
        release_module(module.pk, lease)


def finish_run(run: SyncRun, status: str, *, error: str = "", counts: Counts | None = None):
    run.status = status
    run.finished_at = timezone.now()
    run.error = error
    fields = ["status", "finished_at", "error"]
    if counts is not None:
        run.new_count = counts.new
        run.updated_count = counts.updated
        run.deactivated_count = counts.deactivated
        run.unchanged_count = counts.unchanged
        fields += ["new_count", "updated_count", "deactivated_count", "unchanged_count"]
        fields.append("organizations_fetched")
    run.save(update_fields=fields)


def depth_order(fetched: list[FetchedOrganization]) -> list[list[FetchedOrganization]]:
    """Organizations grouped by depth (roots first), so every parent is stored before its
    children and new rows get their parent in the INSERT itself. A parent outside `fetched`
    counts as already stored. Parents were checked acyclic."""
    by_id = {item.external_id: item for item in fetched}
    depth: dict[str, int] = {}
    for item in fetched:
        chain = []
        node = item
        while node.external_id not in depth:
            chain.append(node)
            if node.parent_id is None or node.parent_id not in by_id:
                depth[node.external_id] = 0
                chain.pop()
                break
            node = by_id[node.parent_id]
        base = depth[node.external_id]
        for offset, member in enumerate(reversed(chain), start=1):
            depth[member.external_id] = base + offset
    levels: list[list[FetchedOrganization]] = [
        [] for _ in range(max(depth.values(), default=-1) + 1)
    ]
    for item in fetched:
        levels[depth[item.external_id]].append(item)
    return levels


@transaction.atomic
def apply_sync(module: KaseyaModule, fetched: list[FetchedOrganization], *, now) -> Counts:
    """Store one complete fetch for `module`; returns what changed. Writes only differences."""
    counts = Counts()
    existing = {
        external_id: (pk, name, parent_id, kind, active)
        for external_id, pk, name, parent_id, kind, active in module.organizations.values_list(
            "external_id", "pk", "name", "parent_id", "kind", "active"
        )
    }
    pk_by_external = {external_id: row[0] for external_id, row in existing.items()}

    changed: list[ModuleOrganization] = []
    # Rows whose parent is already stored go in one batch; only the rest (children of new
    # parents) need ordering by depth, which spares an unchanged re-sync that work.
    ready = [i for i in fetched if i.parent_id is None or i.parent_id in pk_by_external]
    waiting = [i for i in fetched if not (i.parent_id is None or i.parent_id in pk_by_external)]
    for level in [ready, *depth_order(waiting)]:
        new_rows = []
        for item in level:
            parent_pk = pk_by_external[item.parent_id] if item.parent_id else None
            row = existing.get(item.external_id)
            if row is None:
                new_rows.append((item.external_id, item.name, parent_pk, item.kind))
            elif row[1:] != (item.name, parent_pk, item.kind, True):
                changed.append(
                    ModuleOrganization(
                        pk=row[0],
                        name=item.name,
                        parent_id=parent_pk,
                        kind=item.kind,
                        active=True,
                        last_seen_at=now,
                    )
                )
            else:
                counts.unchanged += 1
        if new_rows:
            pk_by_external.update(insert_organizations(module, new_rows, now))
        counts.new += len(new_rows)
    if changed:
        ModuleOrganization.objects.bulk_update(
            changed, ["name", "parent", "kind", "active", "last_seen_at"], batch_size=BATCH
        )
    counts.updated = len(changed)

    seen = {item.external_id for item in fetched}
    gone = [row[0] for external_id, row in existing.items() if row[4] and external_id not in seen]
    # The last time these were seen is the previous successful sync.
    last_seen = module.last_sync_succeeded_at or now
    for start in range(0, len(gone), BATCH):
        ModuleOrganization.objects.filter(pk__in=gone[start : start + BATCH]).update(
            active=False, last_seen_at=last_seen
        )
    counts.deactivated = len(gone)

    apply_usage(module, fetched, pk_by_external, day=timezone.localdate(now))

    module.last_sync_succeeded_at = now
    fields = ["last_sync_succeeded_at"]
    if module.first_sync_completed_at is None:
        module.first_sync_completed_at = now
        fields.append("first_sync_completed_at")
    module.save(update_fields=fields)
    return counts


def apply_usage(module, fetched, pk_by_external: dict[str, int], *, day) -> None:
    """The day's usage per module organization and billing type: one row per day, so earlier days
    are never touched and a second sync on the same day only writes what changed."""
    stored = {
        (organization_id, billing_type): (pk, quantity)
        for pk, organization_id, billing_type, quantity in ModuleUsage.objects.filter(
            module_organization__module=module, day=day
        ).values_list("pk", "module_organization_id", "billing_type", "quantity")
    }
    new_rows, changed = [], []
    for item in fetched:
        organization_id = pk_by_external[item.external_id]
        for billing_type, quantity in item.usage.items():
            row = stored.get((organization_id, billing_type))
            if row is None:
                new_rows.append((organization_id, billing_type, day, quantity))
            elif row[1] != quantity:
                changed.append(ModuleUsage(pk=row[0], quantity=quantity))
    insert_usage(new_rows)
    if changed:
        ModuleUsage.objects.bulk_update(changed, ["quantity"], batch_size=BATCH)


def copy_rows(model, columns: list[str], rows) -> None:
    """PostgreSQL COPY into `model`'s table: several times faster than INSERT for a first sync
    of a large module, and still inside the sync's transaction."""
    quote = connection.ops.quote_name
    sql = f"COPY {quote(model._meta.db_table)} ({', '.join(map(quote, columns))}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def insert_organizations(module, rows, now) -> dict[str, int]:
    """Insert (external_id, name, parent_pk, kind) rows; returns their new primary keys."""
    if connection.vendor == "postgresql":
        copy_rows(
            ModuleOrganization,
            [
                "module_id",
                "external_id",
                "name",
                "parent_id",
                "kind",
                "active",
                "first_seen_at",
                "last_seen_at",
                "ignored",
            ],
            (
                (module.pk, ext, name, parent, kind, True, now, now, False)
                for ext, name, parent, kind in rows
            ),
        )
        return _pks_by_array(module, [row[0] for row in rows])
    created = {}
    for start in range(0, len(rows), BATCH):
        batch = ModuleOrganization.objects.bulk_create(
            ModuleOrganization(
                module=module,
                external_id=ext,
                name=name,
                parent_id=parent,
                kind=kind,
                active=True,
                first_seen_at=now,
                last_seen_at=now,
            )
            for ext, name, parent, kind in rows[start : start + BATCH]
        )
        created.update((row.external_id, row.pk) for row in batch)
    return created


def _pks_by_array(module, ids: list[str]) -> dict[str, int]:
    # One array parameter instead of tens of thousands of placeholders.
    table = connection.ops.quote_name(ModuleOrganization._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT external_id, id FROM {table} WHERE module_id = %s AND external_id = ANY(%s)",
            [module.pk, ids],
        )
        return dict(cursor.fetchall())


def insert_usage(rows) -> None:
    """Insert (module organization pk, billing type, day, quantity) rows."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        copy_rows(ModuleUsage, ["module_organization_id", "billing_type", "day", "quantity"], rows)
        return
    ModuleUsage.objects.bulk_create(
        (
            ModuleUsage(module_organization_id=o, billing_type=b, day=d, quantity=q)
            for o, b, d, q in rows
        ),
        batch_size=BATCH,
    )
