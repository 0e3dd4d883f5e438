"""Datto RMM API v2 over a loopback server, in the shapes of its documentation (shared by the
test_datto_rmm*.py files)."""

import base64
import json
from urllib.parse import parse_qs

from werkzeug import Response

from kaseya_modules.sources import datto_rmm
from kaseya_modules.sources.datto_rmm import DattoRmmSource

KEY, SECRET = "APIKEY123", "APISECRET456"


def record_waits(monkeypatch) -> list[float]:
    """The waits the adapter asks for, recorded instead of sat through."""
    asked: list[float] = []
    monkeypatch.setattr(datto_rmm, "pause", asked.append)
    return asked


def site(uid, name, company_id="29683001"):
    return {
        "id": 101,
        "uid": uid,
        "accountUid": "acc-1",
        "name": name,
        "onDemand": False,
        "devicesStatus": {"numberOfDevices": 1, "numberOfOnlineDevices": 1},
        "autotaskCompanyName": name,
        "autotaskCompanyId": company_id,
        "portalUrl": "https://merlot.centrastage.net/",
    }


def device(uid, site_uid, category="Desktop", device_class="device", type_name="", **extra):
    return {
        "id": 555,
        "uid": uid,
        "siteUid": site_uid,
        "siteName": "x",
        "hostname": uid.upper(),
        "deviceType": {"category": category, "type": type_name},
        "deviceClass": device_class,
        "online": True,
        "suspended": False,
        "deleted": False,
        **extra,
    }


def paged(httpserver, path, key, pages, query=""):
    """Serve `pages` at `path` (page=0, 1, …), chained by nextPageUrl like Datto RMM."""
    prefix = f"{query}&" if query else ""
    for index, items in enumerate(pages):
        more = index + 1 < len(pages)
        next_url = httpserver.url_for(f"{path}?{prefix}max=250&page={index + 1}")
        httpserver.expect_request(
            path, query_string=f"{prefix}max=250&page={index}"
        ).respond_with_json(
            {
                "pageDetails": {"count": len(items), "nextPageUrl": next_url if more else None},
                key: items,
            }
        )


def serve_token(httpserver, tokens=("token-1",)):
    """The OAuth token endpoint, handing out `tokens` in turn; records the forms it received."""
    issued = list(tokens)
    received = []

    def handler(request):
        received.append(
            (
                base64.b64decode(request.headers["Authorization"].split()[1]).decode(),
                parse_qs(request.get_data(as_text=True)),
            )
        )
        body = {"access_token": issued.pop(0), "token_type": "bearer", "expires_in": 359999}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/auth/oauth/token", method="POST").respond_with_handler(handler)
    return received


def serve(httpserver, sites, devices):
    serve_token(httpserver)
    paged(httpserver, "/api/v2/account/sites", "sites", sites)
    paged(httpserver, "/api/v2/account/devices", "devices", devices)


def source(httpserver, options="", billing_types=None):
    credentials = f"{KEY}:{SECRET}" + (f" {options}" if options else "")
    return DattoRmmSource(
        base_url=httpserver.url_for("").rstrip("/"),
        credentials=credentials,
        billing_types=billing_types,
    )


def fetched(httpserver, **kwargs):
    return {item.external_id: item for item in source(httpserver, **kwargs).fetch_all()}
