"""Datto RMM through the real sync path: throttling, failures that change nothing, the rate limit
and the catalog's billing types."""

import pytest
from werkzeug import Response

from kaseya_modules.apps import ensure_catalog
from kaseya_modules.models import (
    KaseyaModule,
    ModuleOrganization,
    SourceKind,
    SyncStatus,
)
from kaseya_modules.sources.datto_rmm import SlidingWindow

from .conftest import sync
from .datto_rmm_support import (
    KEY,
    SECRET,
    device,
    fetched,
    paged,
    record_waits,
    serve,
    serve_token,
    site,
)
from .test_sync_paths import usage


@pytest.fixture(autouse=True)
def waits(monkeypatch):
    return record_waits(monkeypatch)


@pytest.fixture
def rmm(db, httpserver):
    module = KaseyaModule.objects.get(code="datto_rmm")
    module.source_kind = SourceKind.DATTO_RMM
    module.base_url = httpserver.url_for("").rstrip("/")
    module.credentials = f"{KEY}:{SECRET}"
    module.icb_enabled = True
    module.save()
    return module


def test_a_sync_stores_sites_their_psa_ids_and_usage(rmm, httpserver):
    # given two sites with devices
    serve(
        httpserver,
        [[site("s1", "Acme", "29683616"), site("s2", "Globex", "")]],
        [[device("d1", "s1"), device("d2", "s1", "Server")], [device("d3", "s2", "Laptop")]],
    )

    # when
    run = sync(rmm)

    # then
    assert run.status == SyncStatus.SUCCEEDED, run.error
    stored = ModuleOrganization.objects.filter(module=rmm)
    assert {(o.external_id, o.name, o.kind, o.psa_id) for o in stored} == {
        ("s1", "Acme", "site", 29683616),
        ("s2", "Globex", "site", None),
    }
    assert usage(rmm) == {
        ("s1", "desktop"): 1,
        ("s1", "desktop_laptop"): 1,
        ("s1", "server"): 1,
        ("s1", "total_devices"): 2,
        ("s2", "laptop"): 1,
        ("s2", "desktop_laptop"): 1,
        ("s2", "total_devices"): 1,
    }


def test_a_malformed_page_fails_the_run_names_the_page_and_changes_nothing(rmm, httpserver):
    # given a first sync
    serve(httpserver, [[site("s1", "Acme")]], [[device("d1", "s1")]])
    assert sync(rmm).status == SyncStatus.SUCCEEDED
    before = usage(rmm), list(ModuleOrganization.objects.values_list("name", "active"))

    # when the second device page is not a device page
    httpserver.clear_all_handlers()
    serve_token(httpserver)
    paged(httpserver, "/api/v2/account/sites", "sites", [[site("s1", "Acme renamed")]])
    httpserver.expect_request(
        "/api/v2/account/devices", query_string="max=250&page=0"
    ).respond_with_json(
        {
            "pageDetails": {
                "nextPageUrl": httpserver.url_for("/api/v2/account/devices?max=250&page=1")
            },
            "devices": [device("d1", "s1"), device("d2", "s1")],
        }
    )
    httpserver.expect_request(
        "/api/v2/account/devices", query_string="max=250&page=1"
    ).respond_with_json({"items": []})
    run = sync(rmm)

    # then
    assert run.status == SyncStatus.FAILED
    assert "devices page 2" in run.error
    assert (usage(rmm), list(ModuleOrganization.objects.values_list("name", "active"))) == (before)


def test_429_waits_as_long_as_retry_after_asks_then_resumes(httpserver, waits):
    serve_token(httpserver)
    httpserver.expect_oneshot_request("/api/v2/account/sites").respond_with_data(
        "", status=429, headers={"Retry-After": "17"}
    )
    paged(httpserver, "/api/v2/account/sites", "sites", [[site("s1", "Acme")]])
    paged(httpserver, "/api/v2/account/devices", "devices", [[device("d1", "s1")]])

    sites = fetched(httpserver)

    assert sites["s1"].usage["total_devices"] == 1
    assert waits == [17.0]


def test_the_403_block_is_waited_out_then_the_fetch_resumes(httpserver, waits, settings):
    settings.DATTO_RMM_BLOCK_WAIT_SECONDS = 300
    serve_token(httpserver)
    paged(httpserver, "/api/v2/account/sites", "sites", [[site("s1", "Acme")]])
    httpserver.expect_oneshot_request("/api/v2/account/devices").respond_with_data(
        '{"status":403,"error":"Forbidden"}', status=403
    )
    paged(httpserver, "/api/v2/account/devices", "devices", [[device("d1", "s1")]])

    sites = fetched(httpserver)

    assert sites["s1"].usage["total_devices"] == 1
    assert waits == [300]


def test_a_403_that_stays_is_a_clear_permanent_error(httpserver, waits):
    serve_token(httpserver)
    httpserver.expect_request("/api/v2/account/sites").respond_with_data("", status=403)

    with pytest.raises(Exception, match="HTTP 403.*security level") as caught:
        fetched(httpserver)

    assert caught.value.permanent
    assert len(waits) == 1


def test_a_5xx_is_retried_and_the_fetch_resumes(httpserver):
    serve_token(httpserver)
    paged(httpserver, "/api/v2/account/sites", "sites", [[site("s1", "Acme")]])
    httpserver.expect_oneshot_request("/api/v2/account/devices").respond_with_response(
        Response("", status=504)
    )
    paged(httpserver, "/api/v2/account/devices", "devices", [[device("d1", "s1")]])

    assert fetched(httpserver)["s1"].usage["total_devices"] == 1


def test_requests_keep_to_the_reads_per_minute(httpserver, waits, settings):
    # given a limit of 2 reads a minute and 3 requests (token, sites, devices)
    settings.DATTO_RMM_READS_PER_MINUTE = 2
    serve(httpserver, [[site("s1", "Acme")]], [[]])

    # when
    fetched(httpserver)

    # then the third request waited for the first to leave the minute
    assert len(waits) == 1 and 59 < waits[0] <= 60


def test_the_sliding_window_spaces_requests_over_a_rolling_minute(waits):
    now = [0.0]
    window = SlidingWindow(3, 60, clock=lambda: now[0])

    delays = []
    for at in (0, 1, 2, 3, 60.5):
        now[0] = at
        delays.append(window.wait())

    # the 4th request (at 3s) waits until the 1st is a minute old; the 5th (at 60.5s) until the
    # 2nd is
    assert delays == [0, 0, 0, 57, 0.5]


def test_an_older_catalog_list_is_replaced_on_migrate(db):
    # given a database holding the billing types an older catalog gave Datto RMM
    module = KaseyaModule.objects.get(code="datto_rmm")
    module.billing_types = [
        {"code": code, "name": code, "unit": "count", "source": "documented"}
        for code in ("workstations", "servers", "network_devices")
    ]
    module.save()

    # when migrate's post_migrate step runs
    ensure_catalog(sender=None)

    # then
    module.refresh_from_db()
    assert {"total_devices", "desktop", "network_device_router"} <= module.billing_type_codes()


def test_billing_types_an_admin_edited_are_kept_on_migrate(db):
    module = KaseyaModule.objects.get(code="datto_rmm")
    module.billing_types = [{"code": "servers", "name": "Servers", "unit": "count"}]
    module.save()

    ensure_catalog(sender=None)

    module.refresh_from_db()
    assert module.billing_type_codes() == {"servers"}
