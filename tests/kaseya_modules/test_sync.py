import re
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kaseya_modules import services
from kaseya_modules.models import ModuleOrganization, ModuleUsage, SyncRun, SyncStatus, SyncTrigger
from kaseya_modules.sync import claim_module, release_module, run_sync
from organizations.models import Organization
from tests.organizations.factories import OrganizationFactory

from .conftest import org, page_body, serve_feed, sync
from .factories import KaseyaModuleFactory

WRITES = re.compile(
    r'^\s*(INSERT|UPDATE|DELETE)\b.*"kaseya_modules_(moduleorganization|moduleusage)"',
    re.IGNORECASE | re.DOTALL,
)

PAGES = [
    [org("1", "Acme Corp - HQ", users=10), org("2", "Acme Warehouse", "1", "site", users=2)],
    [org("3", "Globex", users=5, is_enabled=True), org("4", "Dock 4", "2", "location")],
    [org("5", "Initech", users=1)],
]


def data_writes(queries):
    return [q["sql"] for q in queries if WRITES.match(q["sql"])]


def names(module):
    return dict(module.organizations.values_list("external_id", "name"))


def test_first_sync_stores_every_organization_with_parents_kinds_and_usage(feed_module, httpserver):
    serve_feed(httpserver, PAGES)

    run = sync(feed_module, SyncTrigger.ENABLEMENT)

    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert (run.new_count, run.updated_count, run.deactivated_count, run.unchanged_count) == (
        5,
        0,
        0,
        0,
    )
    assert run.pages_fetched == 3 and run.organizations_fetched == 5
    rows = {o.external_id: o for o in feed_module.organizations.select_related("parent")}
    assert rows["2"].parent == rows["1"] and rows["2"].kind == "site"
    assert rows["4"].parent == rows["2"] and rows["4"].kind == "location"
    assert all(o.active for o in rows.values())
    usage = {
        (u.module_organization.external_id, u.billing_type): u.quantity
        for u in ModuleUsage.objects.select_related("module_organization")
    }
    assert usage == {
        ("1", "users"): 10,
        ("2", "users"): 2,
        ("3", "users"): 5,
        ("3", "is_enabled"): 1,
        ("5", "users"): 1,
    }
    assert set(ModuleUsage.objects.values_list("day", flat=True)) == {timezone.localdate()}
    feed_module.refresh_from_db()
    assert feed_module.first_sync_completed_at is not None
    assert not feed_module.waiting_for_first_sync


def test_resync_of_unchanged_feed_writes_no_rows(feed_module, httpserver):
    serve_feed(httpserver, PAGES)
    sync(feed_module)

    with CaptureQueriesContext(connection) as queries:
        run = sync(feed_module)

    assert run.status == SyncStatus.SUCCEEDED
    assert (run.new_count, run.updated_count, run.deactivated_count, run.unchanged_count) == (
        0,
        0,
        0,
        5,
    )
    assert data_writes(queries.captured_queries) == []


def test_renamed_and_reparented_organizations_are_updated(feed_module, httpserver):
    serve_feed(httpserver, PAGES)
    sync(feed_module)
    changed = [
        [
            org("1", "ACME Corporation - HQ", users=10),
            org("2", "Acme Warehouse", "3", "site", users=2),
        ],
        [org("3", "Globex", users=5, is_enabled=True), org("4", "Dock 4", "2", "location")],
        [org("5", "Initech", users=1)],
    ]
    serve_feed(httpserver, changed)

    run = sync(feed_module)

    assert (run.new_count, run.updated_count, run.unchanged_count) == (0, 2, 3)
    rows = {o.external_id: o for o in feed_module.organizations.all()}
    assert rows["1"].name == "ACME Corporation - HQ"
    assert rows["2"].parent_id == rows["3"].pk


def test_disappeared_organizations_become_inactive_and_keep_their_mapping(feed_module, httpserver):
    serve_feed(httpserver, PAGES)
    sync(feed_module)
    organization = OrganizationFactory(name="Initech Inc.")
    ModuleOrganization.objects.filter(module=feed_module, external_id="5").update(
        organization=organization
    )
    serve_feed(httpserver, PAGES[:2])

    run = sync(feed_module)

    assert (run.deactivated_count, run.unchanged_count) == (1, 4)
    gone = ModuleOrganization.objects.get(module=feed_module, external_id="5")
    assert gone.active is False
    assert gone.organization == organization
    assert Organization.objects.filter(pk=organization.pk).exists()


def test_reappearing_organization_is_active_again(feed_module, httpserver):
    serve_feed(httpserver, PAGES)
    sync(feed_module)
    serve_feed(httpserver, PAGES[:2])
    sync(feed_module)
    serve_feed(httpserver, PAGES)

    run = sync(feed_module)

    assert run.updated_count == 1
    assert ModuleOrganization.objects.get(module=feed_module, external_id="5").active


def test_500_on_a_middle_page_is_retried_and_the_sync_succeeds(feed_module, httpserver):
    serve_feed(httpserver, PAGES)
    # Oneshot handlers win over permanent ones: the first request for page 2 fails, the retry works.
    httpserver.expect_oneshot_request(
        "/feed/organizations", query_string="cursor=c1"
    ).respond_with_data("boom", status=500)

    run = sync(feed_module)

    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert run.new_count == 5
    page_two = [r for r, _ in httpserver.log if r.query_string == b"cursor=c1"]
    assert len(page_two) == 2


def test_500_on_every_attempt_fails_the_sync_and_changes_nothing(feed_module, httpserver):
    serve_feed(httpserver, PAGES)
    sync(feed_module)
    before = list(ModuleOrganization.objects.values_list("external_id", "name", "active"))
    serve_feed(httpserver, [[*PAGES[0], org("9", "Newcomer")], []])
    for _ in range(3):
        httpserver.expect_oneshot_request(
            "/feed/organizations", query_string="cursor=c1"
        ).respond_with_data("down", status=503)

    run = sync(feed_module)

    assert run.status == SyncStatus.FAILED
    assert "HTTP 503 on page 2" in run.error and "3 attempts" in run.error
    assert list(ModuleOrganization.objects.values_list("external_id", "name", "active")) == before


def test_429_is_retried(feed_module, httpserver):
    serve_feed(httpserver, PAGES)
    httpserver.expect_oneshot_request("/feed/organizations", query_string="").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "0"}
    )

    run = sync(feed_module)

    assert run.status == SyncStatus.SUCCEEDED


def test_a_timeout_is_retried_then_reported_and_changes_nothing(feed_module, httpserver, settings):
    settings.KASEYA_SOURCE_TIMEOUT_SECONDS = 0.2

    def slow(request):
        time.sleep(0.6)
        from werkzeug import Response

        return Response("{}", content_type="application/json")

    serve_feed(httpserver, PAGES)
    httpserver.clear_all_handlers()
    httpserver.expect_request("/feed/organizations").respond_with_handler(slow)

    run = sync(feed_module)

    assert run.status == SyncStatus.FAILED
    assert "Timed out after 0.2s on page 1" in run.error
    assert not feed_module.organizations.exists()
    feed_module.refresh_from_db()
    assert feed_module.waiting_for_first_sync


def test_a_single_timeout_then_success(feed_module, httpserver, settings):
    settings.KASEYA_SOURCE_TIMEOUT_SECONDS = 0.2

    def slow_then(request):
        time.sleep(0.5)
        from werkzeug import Response

        return Response("{}", content_type="application/json")

    serve_feed(httpserver, PAGES)
    httpserver.expect_oneshot_request(
        "/feed/organizations", query_string="cursor=c2"
    ).respond_with_handler(slow_then)

    run = sync(feed_module)

    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert run.new_count == 5


def test_malformed_json_names_the_page_and_changes_nothing(feed_module, httpserver):
    serve_feed(httpserver, PAGES)
    httpserver.clear_all_handlers()
    httpserver.expect_request("/feed/organizations", query_string="").respond_with_json(
        page_body(PAGES, 0)
    )
    httpserver.expect_request("/feed/organizations", query_string="cursor=c1").respond_with_data(
        '{"organizations": [{"id": "3", "name": "Glo', content_type="application/json"
    )

    run = sync(feed_module)

    assert run.status == SyncStatus.FAILED
    assert run.error.startswith("Malformed JSON on page 2")
    assert "cursor=c1" in run.error
    assert not feed_module.organizations.exists()
    # Malformed data is permanent: it is not retried.
    assert len([r for r, _ in httpserver.log if r.query_string == b"cursor=c1"]) == 1


def test_a_page_of_the_wrong_shape_is_a_clear_error(feed_module, httpserver):
    serve_feed(httpserver, [[{"id": "1", "name": ""}]])

    run = sync(feed_module)

    assert run.status == SyncStatus.FAILED
    assert "page 1" in run.error and "'1'" in run.error and '"name"' in run.error


def test_duplicate_ids_with_different_data_fail_the_sync(feed_module, httpserver):
    serve_feed(httpserver, [[org("1", "Acme")], [org("1", "Acme Corp")]])

    run = sync(feed_module)

    assert run.status == SyncStatus.FAILED
    assert "'1' appears twice" in run.error and "pages 1 and 2" in run.error
    assert not feed_module.organizations.exists()


def test_identical_duplicate_ids_are_stored_once(feed_module, httpserver):
    serve_feed(httpserver, [[org("1", "Acme", users=3)], [org("1", "Acme", users=3)]])

    run = sync(feed_module)

    assert run.status == SyncStatus.SUCCEEDED
    assert run.new_count == 1
    assert ModuleUsage.objects.count() == 1


def test_unknown_parent_and_cycles_fail_the_sync(feed_module, httpserver):
    serve_feed(httpserver, [[org("1", "A", "2"), org("2", "B", "1")]])
    assert "parent cycle" in sync(feed_module).error
    serve_feed(httpserver, [[org("1", "A", "99")]])
    assert "'99'" in sync(feed_module).error
    assert not feed_module.organizations.exists()


def test_parent_after_child_in_a_later_page(feed_module, httpserver):
    serve_feed(httpserver, [[org("2", "Child", "1", "site")], [org("1", "Parent")]])

    sync(feed_module)

    child = feed_module.organizations.get(external_id="2")
    assert child.parent.external_id == "1"


def test_bad_token_gives_a_clear_error_and_changes_nothing(feed_module, httpserver):
    serve_feed(httpserver, PAGES)
    sync(feed_module)
    httpserver.clear_all_handlers()
    httpserver.expect_request("/feed/organizations").respond_with_json(
        {"error": "invalid token"}, status=401
    )

    with CaptureQueriesContext(connection) as queries:
        run = sync(feed_module)

    assert run.status == SyncStatus.FAILED
    assert "refused the credentials (HTTP 401) on page 1" in run.error
    assert "check the token" in run.error
    assert feed_module.credentials not in run.error
    assert data_writes(queries.captured_queries) == []
    assert [response.status_code for _, response in httpserver.log[3:]] == [401]  # not retried
    assert feed_module.organizations.filter(active=True).count() == 5


def test_usage_is_kept_per_day_and_only_changed_quantities_are_written(feed_module, httpserver):
    serve_feed(httpserver, PAGES)
    sync(feed_module)
    ModuleUsage.objects.update(day=timezone.localdate() - timezone.timedelta(days=1))
    serve_feed(httpserver, PAGES)
    sync(feed_module)
    assert ModuleUsage.objects.count() == 10

    changed = [[org("1", "Acme Corp - HQ", users=11), *PAGES[0][1:]], *PAGES[1:]]
    serve_feed(httpserver, changed)
    with CaptureQueriesContext(connection) as queries:
        sync(feed_module)

    writes = data_writes(queries.captured_queries)
    assert len(writes) == 1 and writes[0].lstrip().upper().startswith("UPDATE")
    today = ModuleUsage.objects.get(
        module_organization__external_id="1", day=timezone.localdate(), billing_type="users"
    )
    assert today.quantity == 11


def test_ten_thousand_organization_feed(feed_module, httpserver, capsys):
    pages = [
        [
            org(
                str(p * 1000 + i),
                f"Customer {p * 1000 + i:05d}",
                None if i % 10 == 0 else str(p * 1000 + i - i % 10),
                "organization" if i % 10 == 0 else "site",
                users=i,
            )
            for i in range(1000)
        ]
        for p in range(10)
    ]
    serve_feed(httpserver, pages)

    started = time.perf_counter()
    run = sync(feed_module)
    first = time.perf_counter() - started
    started = time.perf_counter()
    again = sync(feed_module)
    second = time.perf_counter() - started

    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert run.new_count == 10_000
    assert again.unchanged_count == 10_000 and again.new_count == again.updated_count == 0
    assert feed_module.organizations.filter(parent__isnull=False).count() == 9_000
    assert ModuleUsage.objects.count() == 10_000
    with capsys.disabled():
        print(
            f"\n10,000 organizations on {connection.vendor}: first sync {first:.2f}s, "
            f"unchanged re-sync {second:.2f}s"
        )


def test_a_second_call_for_the_same_run_does_nothing(feed_module, httpserver):
    serve_feed(httpserver, PAGES)
    run = SyncRun.objects.create(module=feed_module, trigger=SyncTrigger.MANUAL)

    assert run_sync(run.pk).status == SyncStatus.SUCCEEDED
    assert run_sync(run.pk) is None
    assert len([r for r, _ in httpserver.log if r.query_string == b""]) == 1


def test_module_lock_lets_one_sync_in_and_skips_the_other(feed_module, httpserver):
    serve_feed(httpserver, PAGES)
    assert claim_module(feed_module.pk, holder=1)
    assert not claim_module(feed_module.pk, holder=2)
    run = SyncRun.objects.create(module=feed_module, trigger=SyncTrigger.NIGHTLY)

    assert run_sync(run.pk).status == SyncStatus.SKIPPED
    assert len(httpserver.log) == 0

    release_module(feed_module.pk, holder=1)
    assert claim_module(feed_module.pk, holder=3)


def test_an_expired_lock_lease_can_be_taken_over(feed_module):
    feed_module.sync_locked_until = timezone.now() - timezone.timedelta(seconds=1)
    feed_module.save()

    assert claim_module(feed_module.pk, holder=1)


def test_nightly_fanout_queues_each_enabled_module_once_per_night(
    db, celery_eager, httpserver, django_capture_on_commit_callbacks
):
    serve_feed(httpserver, PAGES, prefix="/a")
    enabled = KaseyaModuleFactory(base_url=httpserver.url_for("/a"), icb_enabled=True)
    KaseyaModuleFactory(base_url=httpserver.url_for("/b"), icb_enabled=False)
    KaseyaModuleFactory(source_kind="", base_url="", icb_enabled=True)

    with django_capture_on_commit_callbacks(execute=True):
        first = services.queue_nightly_syncs()
    with django_capture_on_commit_callbacks(execute=True):
        second = services.queue_nightly_syncs()

    assert [run.module for run in first] == [enabled]
    assert second == []
    run = SyncRun.objects.get()
    assert (run.trigger, run.status) == (SyncTrigger.NIGHTLY, SyncStatus.SUCCEEDED)


def test_sync_now_twice_while_queued_queues_one_run(feed_module):
    first = services.request_sync(feed_module, SyncTrigger.MANUAL)
    second = services.request_sync(feed_module, SyncTrigger.MANUAL)

    assert first.pk == second.pk
    assert SyncRun.objects.count() == 1


def test_a_run_queued_long_ago_is_marked_failed_and_a_new_one_queued(feed_module):
    stale = services.request_sync(feed_module, SyncTrigger.MANUAL)
    SyncRun.objects.filter(pk=stale.pk).update(
        queued_at=timezone.now() - timezone.timedelta(hours=2)
    )

    fresh = services.request_sync(feed_module, SyncTrigger.MANUAL)

    stale.refresh_from_db()
    assert fresh.pk != stale.pk
    assert stale.status == SyncStatus.FAILED and "worker" in stale.error


@pytest.mark.parametrize("kind", ["organization", "site", "location"])
def test_kinds_are_stored(feed_module, httpserver, kind):
    serve_feed(httpserver, [[org("1", "A", kind=kind)]])
    sync(feed_module)
    assert feed_module.organizations.get().kind == kind


def test_a_run_whose_worker_died_is_closed_and_sync_now_works_again(feed_module):
    dead = SyncRun.objects.create(
        module=feed_module,
        trigger=SyncTrigger.NIGHTLY,
        status=SyncStatus.RUNNING,
        started_at=timezone.now() - timezone.timedelta(hours=2),
    )

    fresh = services.request_sync(feed_module, SyncTrigger.MANUAL)

    dead.refresh_from_db()
    assert fresh.pk != dead.pk
    assert dead.status == SyncStatus.FAILED and "interrupted" in dead.error
