"""The sync's write paths: PostgreSQL's (COPY with reserved ids, a temporary table + one
UPDATE … FROM) and the generic ORM one (SQLite, the demo). Each test runs on whichever database
the run uses, so CI exercises both; the assertions on SQL say which path ran."""

from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kaseya_modules.models import ModuleOrganization, ModuleUsage, SyncStatus

from .conftest import org, serve_feed, sync

POSTGRES = connection.vendor == "postgresql"


def rows(module):
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


def test_many_changes_are_written_in_one_statement_per_table(feed_module, httpserver):
    count = 1_500  # more than one ORM batch
    serve_feed(
        httpserver,
        [[org(str(i), f"Org {i}", None if i < 10 else str(i % 10), users=i) for i in range(count)]],
    )
    sync(feed_module)
    changed = [
        org(
            str(i),
            f"Org {i} renamed" if i % 2 else f"Org {i}",
            None if i < 10 else str((i + 1) % 10),
            "site" if i >= 10 else "organization",
            users=i + 1 if i % 3 == 0 else i,
        )
        for i in range(count)
    ]
    serve_feed(httpserver, [changed])

    with CaptureQueriesContext(connection) as queries:
        run = sync(feed_module)

    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert (run.new_count, run.updated_count, run.unchanged_count) == (0, count - 5, 5)
    stored = rows(feed_module)
    for item in changed:
        assert stored[item["id"]] == (item["name"], item["parent_id"], item["kind"], True)
    assert usage(feed_module) == {(item["id"], "users"): item["usage"]["users"] for item in changed}
    updates = [
        q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")
    ]
    data_updates = [sql for sql in updates if '"kaseya_modules_module' in sql]
    if POSTGRES:
        # One UPDATE … FROM a temporary table per table, whatever the number of rows.
        assert len(data_updates) == 2
        assert all('FROM "sync_kaseya_modules_' in sql for sql in data_updates)
    else:
        assert not any("sync_kaseya_modules_" in sql for sql in updates)
        assert len(data_updates) >= 4  # the ORM's bulk_update, in batches


def test_names_with_copy_special_characters_are_stored_exactly(feed_module, httpserver):
    names = {
        "1": "Tab\there",
        "2": "Back\\slash \\N",
        "3": "New\nline and\rreturn",
        "4": "Ünïcødé — ✓",
        "5": "Plain",
    }
    serve_feed(httpserver, [[org(k, v) for k, v in names.items()] + [org("a\tb", "Id with tab")]])

    run = sync(feed_module)

    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert dict(feed_module.organizations.values_list("external_id", "name")) == {
        **names,
        "a\tb": "Id with tab",
    }
    assert sync(feed_module).unchanged_count == 6


def test_new_children_of_new_and_of_stored_parents_in_one_sync(feed_module, httpserver):
    serve_feed(httpserver, [[org("root", "Root")]])
    sync(feed_module)
    # Children listed before their parents, three levels deep, under a stored and a new root.
    serve_feed(
        httpserver,
        [
            [
                org("loc", "Location", "site2", "location"),
                org("site2", "Site 2", "root2", "site"),
                org("site1", "Site 1", "root", "site"),
            ],
            [org("root2", "Root 2"), org("root", "Root")],
        ],
    )

    run = sync(feed_module)

    assert (run.new_count, run.unchanged_count) == (4, 1)
    assert rows(feed_module) == {
        "root": ("Root", None, "organization", True),
        "root2": ("Root 2", None, "organization", True),
        "site1": ("Site 1", "root", "site", True),
        "site2": ("Site 2", "root2", "site", True),
        "loc": ("Location", "site2", "location", True),
    }


def test_rows_already_inactive_are_not_deactivated_again(feed_module, httpserver):
    serve_feed(httpserver, [[org("1", "A"), org("2", "B"), org("3", "C")]])
    sync(feed_module)
    serve_feed(httpserver, [[org("1", "A"), org("2", "B")]])
    assert sync(feed_module).deactivated_count == 1
    gone_at = ModuleOrganization.objects.get(module=feed_module, external_id="3").last_seen_at

    serve_feed(httpserver, [[org("1", "A")]])
    run = sync(feed_module)

    assert (run.deactivated_count, run.unchanged_count) == (1, 1)
    assert rows(feed_module) == {
        "1": ("A", None, "organization", True),
        "2": ("B", None, "organization", False),
        "3": ("C", None, "organization", False),
    }
    assert ModuleOrganization.objects.get(module=feed_module, external_id="3").last_seen_at == (
        gone_at
    )


def test_fractional_boolean_and_float_quantities_round_trip_without_rewrites(
    feed_module, httpserver
):
    page = [
        org("1", "A", users=2.5, is_enabled=True),
        org("2", "B", users=3.0, is_enabled=False),
        org("3", "C", users=0.0001),
        org("4", "D", users=12345678),
    ]
    serve_feed(httpserver, [page])
    sync(feed_module)
    assert usage(feed_module) == {
        ("1", "users"): Decimal("2.5"),
        ("1", "is_enabled"): 1,
        ("2", "users"): 3,
        ("2", "is_enabled"): 0,
        ("3", "users"): Decimal("0.0001"),
        ("4", "users"): 12345678,
    }

    with CaptureQueriesContext(connection) as queries:
        run = sync(feed_module)

    assert run.unchanged_count == 4
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        and "kaseya_modules_module" in q["sql"]
    ]
    assert writes == []
    assert ModuleUsage.objects.filter(day=timezone.localdate()).count() == 6
