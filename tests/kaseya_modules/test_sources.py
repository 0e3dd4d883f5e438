import base64
import json
from urllib.parse import parse_qs

import pytest
from werkzeug import Response

from kaseya_modules.models import SourceKind, SyncStatus
from kaseya_modules.sources import SOURCES, SourceError, source_for
from kaseya_modules.sources.datto_rmm import DattoRmmSource
from kaseya_modules.sources.fixture import FixtureSource
from kaseya_modules.sources.http import retry_delay

from .conftest import sync
from .factories import KaseyaModuleFactory


def datto_site(uid, name, devices=3):
    # The Site object of Datto RMM's API v2 documentation (GET /api/v2/account/sites).
    return {
        "id": abs(hash(uid)) % 100000,
        "uid": uid,
        "accountUid": "acc-1",
        "name": name,
        "description": "",
        "notes": "",
        "onDemand": False,
        "splashtopAutoInstall": True,
        "proxySettings": None,
        "autotaskCompanyName": name,
        "autotaskCompanyId": "29683001",
        "portalUrl": f"https://concord.centrastage.net/csm/site/{uid}",
        "devicesStatus": {
            "numberOfDevices": devices,
            "numberOfOnlineDevices": devices,
            "numberOfOfflineDevices": 0,
        },
    }


def serve_datto(httpserver, pages, token="datto-access-token"):
    for index, sites in enumerate(pages):
        more = index + 1 < len(pages)
        body = {
            "pageDetails": {
                "count": len(sites),
                "totalCount": sum(len(p) for p in pages),
                "prevPageUrl": None,
                "nextPageUrl": httpserver.url_for(f"/api/v2/account/sites?max=250&page={index + 1}")
                if more
                else None,
            },
            "sites": sites,
        }
        httpserver.expect_request(
            "/api/v2/account/sites",
            query_string=f"max=250&page={index}",
            headers={"Authorization": f"Bearer {token}"},
        ).respond_with_json(body)
    # Usage comes from the device list (tests/kaseya_modules/test_datto_rmm*.py cover it).
    httpserver.expect_request(
        "/api/v2/account/devices", headers={"Authorization": f"Bearer {token}"}
    ).respond_with_json({"pageDetails": {"nextPageUrl": None}, "devices": []})


def test_registry_has_one_adapter_per_kind():
    assert set(SOURCES) == set(SourceKind.values)
    for kind, source_class in SOURCES.items():
        assert source_class.kind == kind


def test_datto_rmm_site_list_pages_become_sites(db, httpserver):
    serve_datto(
        httpserver,
        [
            [datto_site("uid-1", "Acme Corp"), datto_site("uid-2", "Deleted Devices")],
            [datto_site("uid-3", "Globex - Springfield")],
        ],
    )
    module = KaseyaModuleFactory(
        source_kind=SourceKind.DATTO_RMM,
        base_url=httpserver.url_for("").rstrip("/"),
        credentials="datto-access-token",
        icb_enabled=True,
    )

    run = sync(module)

    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert dict(module.organizations.values_list("external_id", "name")) == {
        "uid-1": "Acme Corp",
        "uid-3": "Globex - Springfield",
    }
    assert set(module.organizations.values_list("kind", flat=True)) == {"site"}


def test_datto_rmm_exchanges_key_and_secret_for_a_token(db, httpserver):
    def token(request):
        client = base64.b64decode(request.headers["Authorization"].split()[1]).decode()
        form = parse_qs(request.get_data(as_text=True))
        ok = client == "public-client:public" and form == {
            "grant_type": ["password"],
            "username": ["KEY"],
            "password": ["SECRET"],
        }
        return Response(
            json.dumps({"access_token": "from-oauth"} if ok else {}),
            status=200 if ok else 401,
            content_type="application/json",
        )

    httpserver.expect_request("/auth/oauth/token", method="POST").respond_with_handler(token)
    serve_datto(httpserver, [[datto_site("uid-1", "Acme")]], token="from-oauth")
    source = DattoRmmSource(base_url=httpserver.url_for(""), credentials="KEY:SECRET")

    assert [o.external_id for o in source.fetch_all()] == ["uid-1"]


def test_datto_rmm_refuses_to_follow_next_page_to_another_host(db, httpserver):
    httpserver.expect_request("/api/v2/account/sites").respond_with_json(
        {
            "pageDetails": {"nextPageUrl": "https://attacker.example/api/v2/account/sites?page=1"},
            "sites": [datto_site("uid-1", "Acme")],
        }
    )
    source = DattoRmmSource(base_url=httpserver.url_for(""), credentials="t")

    with pytest.raises(SourceError, match="another host"):
        source.fetch_all()


def test_datto_rmm_bad_token(db, httpserver):
    httpserver.expect_request("/api/v2/account/sites").respond_with_data("", status=401)
    source = DattoRmmSource(base_url=httpserver.url_for(""), credentials="t")

    with pytest.raises(SourceError, match="HTTP 401") as caught:
        source.fetch_all()
    assert caught.value.permanent


def test_fixture_source_reads_files_under_the_fixtures_folder():
    source = FixtureSource(base_url="demo/graphus.json", billing_types={"mailboxes"})

    organizations = source.fetch_all()

    assert len(organizations) == 6
    assert organizations[0].usage == {"mailboxes": 42}


@pytest.mark.parametrize("path", ["../models.py", "/etc/passwd", "demo/missing.json"])
def test_fixture_source_refuses_paths_outside_its_folder(path):
    with pytest.raises(SourceError, match="not a file or folder"):
        FixtureSource(base_url=path).fetch_all()


def test_source_for_without_configuration_is_a_permanent_error(db):
    module = KaseyaModuleFactory(source_kind="", base_url="")
    with pytest.raises(SourceError) as caught:
        source_for(module)
    assert caught.value.permanent


def test_backoff_doubles_and_is_capped(settings):
    settings.KASEYA_SOURCE_BACKOFF_SECONDS = 1.0
    settings.KASEYA_SOURCE_BACKOFF_CAP_SECONDS = 30.0
    assert [retry_delay(n, None) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert retry_delay(0, "5") == 5
    assert retry_delay(0, "3600") == 60


def test_credentials_never_appear_in_the_source_repr(db):
    module = KaseyaModuleFactory(credentials="super-secret-token")
    assert "super-secret-token" not in repr(source_for(module))
