"""The unchanged re-sync's fast path (PostgreSQL): the stored rows are read as one snapshot —
on a second connection while the pages are fetched when the sync runs outside a transaction —
compared whole with the fetch; any difference goes to the row-by-row comparison in the apply
transaction. SQLite (and any sync inside a transaction) reads sequentially; those tests run
everywhere."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kaseya_modules import sync_store as sync_module
from kaseya_modules.models import ModuleOrganization, ModuleUsage, SyncStatus
from kaseya_modules.sources import source_for

from .conftest import org, serve_feed, sync
from .test_sync import PAGES, data_writes

POSTGRES = connection.vendor == "postgresql"
needs_postgres = pytest.mark.skipif(not POSTGRES, reason="the snapshot path is PostgreSQL's")


def stored(module):
    return {
        o.external_id: (o.name, o.parent.external_id if o.parent else None, o.kind, o.active)
        for o in module.organizations.select_related("parent")
    }


def usage(module):
    return {
        (u.module_organization.external_id, u.billing_type): u.quantity
        for u in ModuleUsage.objects.filter(module_organization__module=module).select_related(
            "module_organization"
        )
    }


@pytest.fixture
def readers(monkeypatch):
    """Every SnapshotReader a sync starts, so a test can tell which path ran."""
    started = []
    original = sync_module.SnapshotReader.__init__

    def record(self, *args, **kwargs):
        original(self, *args, **kwargs)
        started.append(self)

    monkeypatch.setattr(sync_module.SnapshotReader, "__init__", record)
    return started


def test_inside_a_transaction_the_stored_rows_are_read_sequentially(feed_module, httpserver):
    # The test's own transaction stands for any caller's: another connection would not see it.
    serve_feed(httpserver, PAGES)
    assert connection.in_atomic_block
    assert not sync_module.can_overlap()
    sync(feed_module)
    with CaptureQueriesContext(connection) as queries:
        run = sync(feed_module)
    assert (run.status, run.unchanged_count, run.updated_count) == (SyncStatus.SUCCEEDED, 5, 0)
    assert data_writes(queries.captured_queries) == []


def test_usage_the_feed_stops_reporting_is_kept_and_nothing_is_written(feed_module, httpserver):
    serve_feed(httpserver, PAGES)
    sync(feed_module)
    before = usage(feed_module)
    serve_feed(
        httpserver,
        [[{**item, "usage": {}} for item in page] for page in PAGES],
    )
    with CaptureQueriesContext(connection) as queries:
        run = sync(feed_module)
    assert (run.unchanged_count, run.updated_count) == (5, 0)
    assert data_writes(queries.captured_queries) == []
    assert usage(feed_module) == before


@needs_postgres
def test_snapshot_matches_exactly_the_stored_active_rows(feed_module, httpserver):
    page = [
        org("1", "A", users=2.5, is_enabled=True),
        org("2", "B", "1", "site", users=3),
        org("3", "C"),
        org("4", "D", users=12345678),
    ]
    serve_feed(httpserver, [page])
    sync(feed_module)
    feed_module.refresh_from_db()
    fetched = source_for(feed_module).fetch_all()
    snapshot = sync_module.read_snapshot(feed_module, timezone.localdate())
    assert snapshot.usage_count == 4
    assert snapshot.rows["1"][4] == {"users": Decimal("2.5"), "is_enabled": 1}
    assert snapshot.matches(fetched)

    renamed = [fetched[0]._replace(name="A2"), *fetched[1:]]
    reparented = [fetched[0], fetched[1]._replace(parent_id=None), *fetched[2:]]
    recounted = [*fetched[:3], fetched[3]._replace(usage={"users": 12345679})]
    for different in (renamed, reparented, recounted, fetched[:3], list(reversed(fetched))[:3]):
        assert not snapshot.matches(different)
    assert snapshot.matches(list(reversed(fetched)))  # the feed's order does not matter

    ModuleOrganization.objects.filter(external_id="4").update(active=False)
    assert not sync_module.read_snapshot(feed_module, timezone.localdate()).matches(fetched)


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_snapshot_is_read_during_the_fetch(
    feed_module, httpserver, readers, monkeypatch
):
    reader_pids = []
    original_read = sync_module.read_snapshot

    def read_and_record_pid(*args, **kwargs):
        try:
            return original_read(*args, **kwargs)
        finally:  # runs in the reader thread, on its own connection
            reader_pids.append(connection.connection.info.backend_pid)

    monkeypatch.setattr(sync_module, "read_snapshot", read_and_record_pid)
    serve_feed(httpserver, PAGES)
    first = sync(feed_module)
    assert first.new_count == 5
    assert len(readers) == 1 and readers[0].result() is not None  # read, found nothing stored

    with CaptureQueriesContext(connection) as queries:
        run = sync(feed_module)

    assert (run.status, run.unchanged_count, run.updated_count) == (SyncStatus.SUCCEEDED, 5, 0)
    assert data_writes(queries.captured_queries) == []
    reader = readers[1]
    assert not reader.thread.is_alive()
    assert len(reader.result().rows) == 5
    # The readers' own connections were closed when they finished. PostgreSQL drops a closed
    # backend from pg_stat_activity asynchronously, so allow it a moment to go.
    assert len(reader_pids) == 2 and connection.connection.info.backend_pid not in reader_pids
    deadline = time.monotonic() + 10
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [reader_pids]
            )
            still_open = cursor.fetchone()[0]
        if still_open == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert still_open == 0


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_an_edit_committed_during_the_fetch_stands_as_if_made_after_the_sync(
    feed_module, httpserver, readers, monkeypatch
):
    # given a synced module, and an admin edit committed after the snapshot was read
    serve_feed(httpserver, PAGES)
    sync(feed_module)
    original_join = sync_module.SnapshotReader.join

    def edit_after_read(self):
        original_join(self)
        ModuleOrganization.objects.filter(module=feed_module, external_id="1").update(
            name="Edited in the admin"
        )

    monkeypatch.setattr(sync_module.SnapshotReader, "join", edit_after_read)
    with CaptureQueriesContext(connection) as queries:
        run = sync(feed_module)

    # the sync wrote nothing, so it is equivalent to one that finished before the edit
    assert (run.status, run.unchanged_count, run.updated_count) == (SyncStatus.SUCCEEDED, 5, 0)
    writes = data_writes(queries.captured_queries)
    assert len(writes) == 1 and "Edited in the admin" in writes[0]  # the edit's own UPDATE
    assert stored(feed_module)["1"][0] == "Edited in the admin"

    # and the next sync puts the feed's name back
    monkeypatch.setattr(sync_module.SnapshotReader, "join", original_join)
    run = sync(feed_module)
    assert (run.updated_count, run.unchanged_count) == (1, 4)
    assert stored(feed_module)["1"][0] == "Acme Corp - HQ"


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_snapshot_that_differs_is_compared_again_row_by_row_in_the_transaction(
    feed_module, httpserver, readers
):
    # given rows edited in the admin before the snapshot is read
    serve_feed(httpserver, PAGES)
    sync(feed_module)
    ModuleOrganization.objects.filter(module=feed_module, external_id="1").update(name="Edited")
    ModuleOrganization.objects.filter(module=feed_module, external_id="3").update(active=False)
    ModuleUsage.objects.filter(
        module_organization__module=feed_module, module_organization__external_id="5"
    ).delete()
    ModuleUsage.objects.filter(
        module_organization__module=feed_module, module_organization__external_id="2"
    ).update(quantity=99)

    run = sync(feed_module)

    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert not readers[-1].result().matches(source_for(feed_module).fetch_all())
    assert (run.new_count, run.updated_count, run.unchanged_count) == (0, 2, 3)
    assert stored(feed_module)["1"] == ("Acme Corp - HQ", None, "organization", True)
    assert stored(feed_module)["3"][3] is True
    assert usage(feed_module)[("5", "users")] == 1
    assert usage(feed_module)[("2", "users")] == 2


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_snapshot_that_cannot_be_read_falls_back_to_reading_in_the_transaction(
    feed_module, httpserver, readers, monkeypatch
):
    serve_feed(httpserver, PAGES)
    sync(feed_module)
    original = sync_module.read_snapshot

    def fail_in_the_thread(module, day):
        if threading.current_thread().name == "kaseya-sync-snapshot":
            raise RuntimeError("connection lost")
        return original(module, day)

    monkeypatch.setattr(sync_module, "read_snapshot", fail_in_the_thread)
    run = sync(feed_module)
    assert readers[-1].result() is None
    assert (run.status, run.unchanged_count) == (SyncStatus.SUCCEEDED, 5)


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_failed_fetch_changes_nothing_and_the_reader_is_joined(feed_module, httpserver, readers):
    serve_feed(httpserver, PAGES)
    sync(feed_module)
    before = stored(feed_module), usage(feed_module)
    httpserver.clear_all_handlers()
    httpserver.expect_request("/feed/organizations").respond_with_data("nope", status=404)
    run = sync(feed_module)
    assert run.status == SyncStatus.FAILED
    assert not readers[-1].thread.is_alive()
    assert (stored(feed_module), usage(feed_module)) == before
