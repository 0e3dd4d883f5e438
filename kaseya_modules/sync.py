"""The module sync: fetch everything first, then apply it in one transaction per module.

A fetch that fails part-way changes nothing. Applying the same data twice writes no rows: rows are
compared with what is stored and only differences are written. Rows no longer in the feed become
inactive and keep their mapping; nothing is ever deleted.
"""

import logging
import time
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from mapping_portal.lib.bulk import paused_gc
from mapping_portal.lib.text import strip_control_characters

from . import sync_store
from .lease import Superseded, claim_module, fence, release_module
from .models import (
    KaseyaModule,
    ModuleOrganization,
    SyncLimit,
    SyncRun,
    SyncStatus,
)
from .sources import FetchedOrganization, SourceError, source_for
from .suggestion_store import refresh_after_sync
from .tasks import sync_email_task

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.25  # seconds between live progress writes during a fetch


@dataclass
class Counts:
    new: int = 0
    updated: int = 0
    deactivated: int = 0
    unchanged: int = 0


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
    if not claim_module(module.pk, run.pk):
        finish_run(run, SyncStatus.SKIPPED, error="Another sync of this module was running.")
        return run
    try:
        module.refresh_from_db()  # another sync may have finished since it was loaded

        last_write = [0.0]

        def progress(pages: int, organizations: int) -> None:
            # Live progress for the page, written a few times a second at most rather than once
            # per page; the final figures are saved with the run.
            run.pages_fetched, run.organizations_fetched = pages, organizations
            if time.monotonic() - last_write[0] >= PROGRESS_INTERVAL:
                SyncRun.objects.filter(pk=run.pk).update(
                    pages_fetched=pages, organizations_fetched=organizations
                )
                last_write[0] = time.monotonic()

        # While the pages come in, a second connection reads what is stored (the lock is held, so
        # no other sync changes it meanwhile): an unchanged feed then costs one comparison.
        snapshot = (
            sync_store.SnapshotReader(module, timezone.localdate(started))
            if sync_store.can_overlap()
            else None
        )
        try:
            fetched = source_for(module, progress).fetch_all()
        except SourceError as exc:
            log.warning("Sync of %s failed: %s", module.code, exc)
            finish_run(run, SyncStatus.FAILED, error=str(exc), stopped_by=exc.limit)
            return run
        finally:
            if snapshot is not None:
                snapshot.join()
        try:
            counts = apply_sync(
                module,
                fetched,
                now=started,
                snapshot=snapshot.result() if snapshot else None,
                holder=run.pk,
            )
        except Superseded:
            log.warning("Sync of %s was superseded by a newer run", module.code)
            finish_run(
                run,
                SyncStatus.FAILED,
                error="Superseded: this sync outlived its lease and a newer sync of the module "
                "took over, so nothing was applied.",
                stopped_by=SyncLimit.SUPERSEDED,
            )
            return run
        run.organizations_fetched = len(fetched)
        finish_run(run, SyncStatus.SUCCEEDED, counts=counts)
        refresh_after_sync(module)  # still under the module's lock: no sync changes it meanwhile
        transaction.on_commit(lambda: sync_email_task.delay(run.pk))
        return run
    except Exception as exc:
        finish_run(run, SyncStatus.FAILED, error=f"Unexpected error: {type(exc).__name__}: {exc}")
        raise
    finally:
        release_module(module.pk, run.pk)


def finish_run(
    run: SyncRun,
    status: str,
    *,
    error: str = "",
    counts: Counts | None = None,
    stopped_by: str = "",
):
    run.status = status
    run.finished_at = timezone.now()
    # Messages may quote what a server or the database said; the run log must store whatever.
    run.error = strip_control_characters(error)
    run.stopped_by = stopped_by
    fields = ["status", "finished_at", "error", "stopped_by"]
    if counts is not None:
        run.new_count = counts.new
        run.updated_count = counts.updated
        run.deactivated_count = counts.deactivated
        run.unchanged_count = counts.unchanged
        fields += ["new_count", "updated_count", "deactivated_count", "unchanged_count"]
        fields += ["pages_fetched", "organizations_fetched"]
    run.save(update_fields=fields)


@paused_gc()
@transaction.atomic
def apply_sync(
    module: KaseyaModule,
    fetched: list[FetchedOrganization],
    *,
    now,
    snapshot: sync_store.Snapshot | None = None,
    holder: int | None = None,
) -> Counts:
    """Store one complete fetch for `module`; returns what changed. Writes only differences.
    With `holder` (the run's id), raises Superseded, writing nothing, unless that run still holds
    the module's sync lock.

    On PostgreSQL an unchanged feed is recognised first, against a sync_store.Snapshot of the
    stored rows (read during the fetch by run_sync, or here), with one comparison and nothing
    written. Otherwise (and on SQLite) the stored rows are read with two plain queries into
    tuples and compared in Python, in one pass over the fetch; new rows are written with COPY and
    changed rows through a temporary table and one UPDATE per table on PostgreSQL, with the
    ORM's bulk operations elsewhere (SQLite, the demo). Usage is kept per day: earlier days are
    never touched, and a second sync on the same day only writes the quantities that changed."""
    if holder is not None:
        fence(module.pk, holder)
    counts = Counts()
    day = timezone.localdate(now)
    if connection.vendor == "postgresql":
        if snapshot is None or snapshot.day != day:
            snapshot = sync_store.read_snapshot(module, day)
        if snapshot.matches(fetched):
            # The common nightly case: the feed is exactly what is stored, so nothing is written.
            # A snapshot read during the fetch needs no re-check here: the module's lock kept
            # every other sync out since, and a sync that writes no data rows is equivalent to
            # one that ran wholly before any edit (admin, mapping) committed meanwhile — that
            # edit stands, as it would had it come a moment after the sync. Any difference goes
            # to the row-by-row comparison below, which reads the stored rows again inside this
            # transaction.
            counts.unchanged = len(fetched)
            mark_succeeded(module, now)
            return counts
    organizations = sync_store.q(ModuleOrganization._meta.db_table)
    # external_id -> (external_id, pk, name, parent pk, kind, active, psa_id)
    existing = {
        row[0]: row
        for row in sync_store.select(
            f"SELECT external_id, id, name, parent_id, kind, active, psa_id FROM {organizations} "
            "WHERE module_id = %s",
            [module.pk],
        )
    }
    # module organization pk -> {billing type: quantity} stored for `day`
    usage_rows = (
        sync_store.stored_usage_rows(module, day) if existing else []
    )  # none before a first sync
    stored_usage = {row[0]: {row[1]: row[2]} for row in usage_rows}
    if len(stored_usage) < len(usage_rows):  # some organizations have several billing types
        for organization_pk, billing_type, quantity in usage_rows:
            stored_usage[organization_pk][billing_type] = quantity
    usage_pks = None  # (organization pk, billing type) -> usage pk, read if a quantity changed
    pk_by_external = {external_id: row[1] for external_id, row in existing.items()}

    new = [item for item in fetched if item[0] not in pk_by_external]
    if new:
        pk_by_external.update(sync_store.insert_organizations(module, new, pk_by_external, now))
    counts.new = len(new)

    changed, new_usage, changed_usage = [], [], []
    seen_active = 0
    for external_id, name, parent_id, kind, usage, psa_id in fetched:
        row = existing.get(external_id)
        if row is None:
            pk = pk_by_external[external_id]
        else:
            pk = row[1]
            parent_pk = None if parent_id is None else pk_by_external[parent_id]
            if (
                row[2] != name
                or row[3] != parent_pk
                or row[4] != kind
                or not row[5]
                or row[6] != psa_id
            ):
                changed.append((pk, name, parent_pk, kind, psa_id))
            if row[5]:
                seen_active += 1
        if usage:
            stored = stored_usage.get(pk)
            if stored == usage:  # the common case: one comparison of the whole dict
                continue
            if stored is None:
                new_usage.extend(
                    (pk, billing_type, quantity) for billing_type, quantity in usage.items()
                )
                continue
            if usage_pks is None:
                usage_pks = sync_store.stored_usage_pks(module, day)
            for billing_type, quantity in usage.items():
                if billing_type not in stored:
                    new_usage.append((pk, billing_type, quantity))
                elif stored[billing_type] != quantity:
                    changed_usage.append((usage_pks[pk, billing_type], quantity))
    if changed:
        sync_store.update_organizations(changed, now)
    counts.updated = len(changed)
    counts.unchanged = len(fetched) - counts.new - counts.updated

    gone = []
    if seen_active < sum(1 for row in existing.values() if row[5]):  # some active row is gone
        seen = {item[0] for item in fetched}
        gone = [row[1] for row in existing.values() if row[5] and row[0] not in seen]
    if gone:  # the last time these were seen is the previous successful sync
        sync_store.deactivate_organizations(gone, module.last_sync_succeeded_at or now)
    counts.deactivated = len(gone)

    if new_usage:
        sync_store.insert_usage(new_usage, day)
    if changed_usage:
        sync_store.update_usage(changed_usage)

    mark_succeeded(module, now)
    return counts


def mark_succeeded(module: KaseyaModule, now) -> None:
    module.last_sync_succeeded_at = now
    fields = ["last_sync_succeeded_at"]
    if module.first_sync_completed_at is None:
        module.first_sync_completed_at = now
        fields.append("first_sync_completed_at")
    module.save(update_fields=fields)
