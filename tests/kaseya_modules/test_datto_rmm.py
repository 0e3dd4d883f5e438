"""Datto RMM adapter against a loopback server answering in the shapes of Datto RMM API v2."""

import json

import pytest
from werkzeug import Response

from kaseya_modules.sources import SourceError
from kaseya_modules.sources.datto_rmm import DattoRmmSource, classify

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
    source,
)


@pytest.fixture(autouse=True)
def waits(monkeypatch):
    return record_waits(monkeypatch)


def test_token_comes_from_the_public_client_password_grant(httpserver):
    received = serve_token(httpserver)
    paged(httpserver, "/api/v2/account/sites", "sites", [[site("s1", "Acme")]])
    paged(httpserver, "/api/v2/account/devices", "devices", [[]])

    fetched(httpserver)

    assert received == [
        (
            "public-client:public",
            {"grant_type": ["password"], "username": [KEY], "password": [SECRET]},
        )
    ]
    api_requests = [r for r, _ in httpserver.log if r.path.startswith("/api/")]
    assert {r.headers["Authorization"] for r in api_requests} == {"Bearer token-1"}


def test_an_expired_token_is_replaced_once_and_the_request_repeated(httpserver):
    # given a token that expires after the site list
    serve_token(httpserver, tokens=("old", "new"))
    paged(httpserver, "/api/v2/account/sites", "sites", [[site("s1", "Acme")]])

    def devices(request):
        if request.headers["Authorization"] == "Bearer old":
            return Response('{"status":401,"error":"Unauthorized"}', status=401)
        body = {"pageDetails": {"nextPageUrl": None}, "devices": [device("d1", "s1")]}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/api/v2/account/devices").respond_with_handler(devices)

    # when
    sites = fetched(httpserver)

    # then
    assert sites["s1"].usage["desktop"] == 1


def test_a_token_refused_again_after_renewal_is_a_clear_permanent_error(httpserver):
    serve_token(httpserver, tokens=("one", "two"))
    httpserver.expect_request("/api/v2/account/sites").respond_with_data("", status=401)

    with pytest.raises(SourceError, match="even after a new token was fetched") as caught:
        source(httpserver).fetch_all()

    assert caught.value.permanent


def test_a_wrong_key_is_a_clear_permanent_error(httpserver):
    httpserver.expect_request("/auth/oauth/token", method="POST").respond_with_json(
        {"error": "invalid_grant", "error_description": "Bad credentials"}, status=400
    )

    with pytest.raises(SourceError, match="refused the API key and secret") as caught:
        source(httpserver).fetch_all()

    assert caught.value.permanent
    assert SECRET not in str(caught.value)


def test_sites_and_devices_are_read_page_by_page(httpserver):
    serve(
        httpserver,
        [[site("s1", "Acme")], [site("s2", "Globex")]],
        [[device("d1", "s1")], [device("d2", "s2"), device("d3", "s2")]],
    )

    sites = fetched(httpserver)

    assert {uid: item.usage["total_devices"] for uid, item in sites.items()} == {"s1": 1, "s2": 2}


def test_the_deleted_devices_site_is_left_out(httpserver):
    serve(
        httpserver,
        [[site("s1", "Acme"), site("del", "Deleted Devices")]],
        [[device("d1", "s1"), device("d2", "del")]],
    )

    assert set(fetched(httpserver)) == {"s1"}


def test_the_autotask_company_id_becomes_the_psa_id(httpserver):
    serve(httpserver, [[site("s1", "Acme", "29683616"), site("s2", "Globex", "")]], [[]])

    sites = fetched(httpserver)

    assert (sites["s1"].psa_id, sites["s2"].psa_id) == (29683616, None)


@pytest.mark.parametrize(
    ("category", "device_class", "type_name", "billing_type"),
    [
        ("Desktop", "device", "", "desktop"),
        ("Laptop", "device", "", "laptop"),
        ("Server", "device", "Main System Chassis", "server"),
        ("Printer", "printer", "", "printer"),
        ("ESXi Host", "esxihost", "", "esxi_host"),
        ("Network Device", "rmmnetworkdevice", "Router", "network_device_router"),
        ("Network Device", "rmmnetworkdevice", "Switch", "network_device_switch"),
        ("Network Device", "rmmnetworkdevice", "UPS", "network_device_ups"),
        ("Network Device", "rmmnetworkdevice", "Firewall", "network_device_firewall"),
        ("Network Device", "rmmnetworkdevice", "IP Phone", "network_device_ip_phone"),
        ("Network Device", "rmmnetworkdevice", "NAS", "network_device_nas"),
        (
            "Network Device",
            "rmmnetworkdevice",
            "Network Appliance",
            "network_device_network_appliance",
        ),
        ("Network Device", "rmmnetworkdevice", "SAN", "network_device_san"),
        ("Network Device", "rmmnetworkdevice", "Camera", "network_device_other"),
        ("Datto Access Point", "rmmnetworkdevice", "", "datto_access_point"),
        ("Network Device", "rmmnetworkdevice", "Datto Switch", "datto_switch"),
        ("Datto Managed Power", "device", "", "datto_managed_power"),
        ("Datto Continuity", "device", "", "datto_continuity"),
        ("Something new", "unknown", "", "unknown"),
    ],
)
def test_each_device_counts_under_its_icb_billing_type(
    category, device_class, type_name, billing_type
):
    assert classify(device("d", "s", category, device_class, type_name)) == billing_type


@pytest.mark.parametrize(
    "overrides",
    [
        {"deleted": True},
        {"suspended": True},
        {"deviceType": {"category": "Smartphone", "type": ""}},
        {"deviceType": {"category": "Tablet", "type": ""}},
    ],
    ids=["deleted", "suspended", "smartphone", "tablet"],
)
def test_deleted_suspended_and_mobile_devices_are_not_counted(overrides):
    assert classify({**device("d", "s"), **overrides}) is None


def test_a_site_counts_desktops_and_laptops_together_and_every_device_in_the_total(httpserver):
    serve(
        httpserver,
        [[site("s1", "Acme")]],
        [
            [
                device("d1", "s1", "Desktop"),
                device("d2", "s1", "Laptop"),
                device("d3", "s1", "Server"),
                device("d4", "s1", "Tablet"),
                device("d5", "s1", "Desktop", suspended=True),
            ]
        ],
    )

    usage = fetched(httpserver)["s1"].usage

    assert dict(usage) == {
        "desktop": 1,
        "laptop": 1,
        "desktop_laptop": 2,
        "server": 1,
        "total_devices": 3,
    }


def test_only_billing_types_of_the_catalog_are_kept(httpserver):
    serve(httpserver, [[site("s1", "Acme")]], [[device("d1", "s1"), device("d2", "s1", "Server")]])

    usage = fetched(httpserver, billing_types={"server", "total_devices"})["s1"].usage

    assert dict(usage) == {"server": 1, "total_devices": 2}


def test_devices_of_the_not_billable_filter_are_left_out(httpserver):
    # given a device filter (e.g. matching the _NotBillable_ group) holding d2
    serve(httpserver, [[site("s1", "Acme")]], [[device("d1", "s1"), device("d2", "s1")]])
    paged(
        httpserver,
        "/api/v2/account/devices",
        "devices",
        [[device("d2", "s1")]],
        query="filterId=4321",
    )

    # when
    usage = fetched(httpserver, options="filter=4321")["s1"].usage

    # then
    assert usage["total_devices"] == 1


@pytest.mark.parametrize(
    ("option", "counted"),
    [("udf=7", 1), ("udf=7:NotBillable", 2), ("udf=8", 3)],
)
def test_devices_marked_in_a_udf_are_left_out(httpserver, option, counted):
    serve(
        httpserver,
        [[site("s1", "Acme")]],
        [
            [
                device("d1", "s1", udf={"udf7": "NotBillable"}),
                device("d2", "s1", udf={"udf7": "lab"}),
                device("d3", "s1", udf={"udf7": None}),
            ]
        ],
    )

    assert fetched(httpserver, options=option)["s1"].usage["total_devices"] == counted


def test_a_udf_in_the_v3_shape_is_read_too(httpserver):
    marked = device("d1", "s1", udfs=[{"ordinal": 7, "type": "STRING", "valueString": "x"}])
    serve(httpserver, [[site("s1", "Acme")]], [[marked, device("d2", "s1")]])

    assert fetched(httpserver, options="udf=7")["s1"].usage["total_devices"] == 1


def test_an_unknown_option_is_a_clear_permanent_error():
    with pytest.raises(SourceError, match="Unknown Datto RMM option 'group'") as caught:
        DattoRmmSource(base_url="https://x.example", credentials="K:S group=_NotBillable_")

    assert caught.value.permanent
