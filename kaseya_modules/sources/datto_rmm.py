"""Datto RMM REST API v2 site list: `GET {base}/api/v2/account/sites?max=250&page=0` →
`{"pageDetails": {"count", "nextPageUrl"}, "sites": [{"uid", "name", "devicesStatus", …}]}`.

`base_url` is the platform's API host (e.g. https://concord-api.centrastage.net). Credentials are
either an access token, or "API key:API secret", exchanged for a token at /auth/oauth/token the way
Datto's documentation describes (password grant, client "public-apiuser:public").
"""

import base64
from collections.abc import Iterator
from itertools import count
from urllib.parse import urlencode, urlsplit

from .base import FetchedOrganization, Source, SourceError, parse_psa_id
from .http import Client, get_json

PAGE_SIZE = 250
# Datto RMM's system site holding deleted devices: not a customer, never billable.
SYSTEM_SITES = {"Deleted Devices"}


class DattoRmmSource(Source):
    kind = "datto_rmm"
    label = "Datto RMM API"

    def access_token(self, client: Client | None = None) -> str:
        if ":" not in self.credentials:
            return self.credentials
        key, secret = self.credentials.split(":", 1)
        public_client = base64.b64encode(b"public-apiuser:public").decode()
        data = get_json(
            f"{self.base_url}/auth/oauth/token",
            headers={
                "Authorization": f"Basic {public_client}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            where="the token request",
            client=client,
            data=urlencode(
                {"grant_type": "password", "username": key, "password": secret}
            ).encode(),
        )
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise SourceError("The token request returned no access_token.", permanent=True)
        return token

    def pages(self) -> Iterator[list[FetchedOrganization]]:
        with self.client() as client:  # one keep-alive connection for the token and every page
            yield from self._pages(client)

    def _pages(self, client: Client) -> Iterator[list[FetchedOrganization]]:
        headers = {"Authorization": f"Bearer {self.access_token(client)}"}
        origin = urlsplit(self.base_url)[:2]
        url = f"{self.base_url}/api/v2/account/sites?" + urlencode({"max": PAGE_SIZE, "page": 0})
        for number in count(1):  # Source.fetch_all caps the pages
            where = f"page {number} ({url})"
            data = get_json(url, headers=headers, where=where, client=client)
            if not isinstance(data, dict) or not isinstance(data.get("sites"), list):
                raise SourceError(
                    f'{where}: expected an object with a "sites" list.', permanent=True
                )
            yield [
                site
                for site in map(self.parse_site, data["sites"], [where] * len(data["sites"]))
                if site
            ]
            details = data.get("pageDetails") or {}
            next_url = details.get("nextPageUrl") if isinstance(details, dict) else None
            if not next_url:
                return
            # The bearer token follows nextPageUrl, so it must stay on the configured host.
            if urlsplit(next_url)[:2] != origin:
                raise SourceError(
                    f"{where}: nextPageUrl points at another host ({next_url}).", permanent=True
                )
            url = next_url

    def parse_site(self, site, where: str) -> FetchedOrganization | None:
        if not isinstance(site, dict):
            raise SourceError(f"{where}: each site must be an object.", permanent=True)
        uid, name = site.get("uid"), site.get("name")
        if not isinstance(uid, str) or not uid or not isinstance(name, str) or not name.strip():
            raise SourceError(f"{where}: a site has no uid or name.", permanent=True)
        if name in SYSTEM_SITES:
            return None
        # The site list carries only a total device count; the ICB billing types (workstations,
        # servers, network devices) need the per-device list, so no usage is recorded from here.
        # The site's link to the PSA, when Datto RMM is integrated with Autotask: a string id,
        # empty or absent otherwise. Anything unreadable is treated as absent, not as an error,
        # since it only feeds mapping suggestions.
        psa_id = parse_psa_id(site.get("autotaskCompanyId"))
        return FetchedOrganization(uid, name.strip()[:255], None, "site", {}, psa_id)
