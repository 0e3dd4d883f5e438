"""Datto RMM REST API v2: its sites, and per site the device counts Integrated Customer Billing
bills by. docs/datto-rmm.md describes the set-up, the options and the assumptions.

- `POST /auth/oauth/token` (password grant, client "public-client:public") turns "API key:API
  secret" into a bearer token; an expired token (401) is replaced once per request.
- `GET /api/v2/account/sites?max=250&page=0` → `{"pageDetails": {"nextPageUrl"}, "sites": [...]}`.
- `GET /api/v2/account/devices?max=250&page=0` → `{"pageDetails", "devices": [...]}`, streamed:
  each page is counted into per-site totals and dropped.

`base_url` is the platform's API host (e.g. https://concord-api.centrastage.net). Credentials are
"API key:API secret" (or an access token), optionally followed by options separated by spaces:
`filter=ID` (leave out the devices of that Datto RMM device filter) and `udf=N` / `udf=N:VALUE`
(leave out devices whose user-defined field N is set / equals VALUE).
"""

import base64
import time
from collections import deque
from collections.abc import Iterator
from itertools import count
from urllib.parse import urlencode, urlsplit

from .base import FetchedOrganization, Source, SourceError, parse_psa_id, source_setting
from .http import Client, StatusAnswer, get_json, without_query

PAGE_SIZE = 250
# Datto RMM's system site holding deleted devices: not a customer, never billable.
SYSTEM_SITES = {"Deleted Devices"}
PUBLIC_CLIENT = base64.b64encode(b"public-client:public").decode()

# Device categories Integrated Customer Billing never counts.
NOT_COUNTED = {"smartphone", "smart phone", "tablet", "mobile", "mobile device"}
# Datto RMM ICB's "Network Device (…)" sub-types, by the device type's name.
NETWORK_SUBTYPES = {
    "router": "network_device_router",
    "switch": "network_device_switch",
    "ups": "network_device_ups",
    "firewall": "network_device_firewall",
    "ip phone": "network_device_ip_phone",
    "nas": "network_device_nas",
    "network appliance": "network_device_network_appliance",
    "san": "network_device_san",
}
DATTO_HARDWARE = {
    "datto access point": "datto_access_point",
    "datto managed power": "datto_managed_power",
    "datto switch": "datto_switch",
    "datto continuity": "datto_continuity",
}
CATEGORIES = {
    "desktop": "desktop",
    "laptop": "laptop",
    "server": "server",
    "printer": "printer",
    "esxi host": "esxi_host",
}
CLASSES = {"printer": "printer", "esxihost": "esxi_host"}


def pause(seconds: float) -> None:
    """Every wait of this adapter (rate limit, throttling) goes through here."""
    time.sleep(seconds)


def classify(device: dict) -> str | None:
    """The ICB billing type a device counts under, or None when it is not counted at all.
    Deleted and suspended devices, smartphones and tablets are not counted."""
    if device.get("deleted") is True or device.get("suspended") is True:
        return None
    device_type = device.get("deviceType")
    if not isinstance(device_type, dict):
        device_type = {}
    category = str(device_type.get("category") or "").strip().lower()
    type_name = str(device_type.get("type") or "").strip().lower()
    if category in NOT_COUNTED or type_name in NOT_COUNTED:
        return None
    for name in (category, type_name):
        if name in DATTO_HARDWARE:
            return DATTO_HARDWARE[name]
    device_class = device.get("deviceClass")
    if device_class == "rmmnetworkdevice" or category == "network device":
        return NETWORK_SUBTYPES.get(type_name) or NETWORK_SUBTYPES.get(
            category, "network_device_other"
        )
    if device_class in CLASSES:
        return CLASSES[device_class]
    return CATEGORIES.get(category, "unknown")


def add_totals(counts: dict[str, int]) -> dict[str, int]:
    """The two combined ICB counts: Desktop & Laptop, and Total Device Count."""
    desktop_laptop = counts.get("desktop", 0) + counts.get("laptop", 0)
    if desktop_laptop:
        counts["desktop_laptop"] = desktop_laptop
    counts["total_devices"] = sum(counts.values()) - desktop_laptop
    return counts


class SlidingWindow:
    """At most `limit` requests in any `window` seconds, the way Datto RMM counts them (a rolling
    window per account). Remembers when the last `limit` requests went out."""

    def __init__(self, limit: int, window: float = 60.0, clock=time.monotonic):
        self.limit = max(1, limit)
        self.window = window
        self.clock = clock
        self.sent: deque[float] = deque(maxlen=self.limit)

    def wait(self) -> float:
        """Wait until one more request fits, note it, and say how long that took."""
        now = self.clock()
        delay = 0.0
        if len(self.sent) == self.limit:
            delay = self.sent[0] + self.window - now
            if delay > 0:
                pause(delay)
        self.sent.append(now + max(delay, 0.0))
        return max(delay, 0.0)


class DattoClient(Client):
    """The shared HTTP client plus what Datto RMM asks of its callers: a bearer token on every
    API request (replaced once per request when it expires), the read rate limit, and waiting out
    429 (slow down) and 403 (the temporary block after repeated 429s) before resuming."""

    def __init__(self, source: "DattoRmmSource", deadline):
        super().__init__(deadline=deadline)
        self.source = source
        self.token: str | None = None
        self.limiter = SlidingWindow(source_setting("DATTO_RMM_READS_PER_MINUTE", 600))

    def attempt(self, method: str, url: str, headers: dict[str, str], data) -> bytes:
        is_api = data is None
        if is_api and self.token is None:
            self.token = self.source.access_token(self)
        refreshed, throttled, blocked = False, 0, 0
        while True:
            if is_api:
                headers = {**headers, "Authorization": f"Bearer {self.token}"}
            self.limiter.wait()
            try:
                return super().attempt(method, url, headers, data)
            except StatusAnswer as exc:
                if not is_api and exc.status in (400, 401):
                    raise SourceError(
                        f"Datto RMM refused the API key and secret (HTTP {exc.status} on the "
                        "token request): check both keys of the API user in the source settings, "
                        "and that the user is enabled.",
                        permanent=True,
                    ) from None
                if exc.status == 401 and is_api and not refreshed and self.source.key_secret:
                    refreshed = True
                    self.token = self.source.access_token(self)
                    continue
                if exc.status == 401 and is_api:
                    raise SourceError(
                        f"Datto RMM refused the access token (HTTP 401) on "
                        f"{without_query(url)}"
                        + (" even after a new token was fetched" if refreshed else "")
                        + ": check the API key and secret in the source settings.",
                        permanent=True,
                    ) from None
                if exc.status == 429 and throttled < source_setting(
                    "DATTO_RMM_THROTTLE_RETRIES", 5
                ):
                    throttled += 1
                    self.wait_out(exc, "DATTO_RMM_THROTTLE_WAIT_SECONDS", 60, url)
                    continue
                if exc.status == 403 and blocked < source_setting("DATTO_RMM_BLOCK_RETRIES", 1):
                    blocked += 1
                    self.wait_out(exc, "DATTO_RMM_BLOCK_WAIT_SECONDS", 300, url)
                    continue
                if exc.status == 403:
                    raise SourceError(
                        f"Datto RMM refused access (HTTP 403) on {without_query(url)}, also "
                        "after waiting out a possible rate-limit block: give the API user's "
                        "security level access to sites and devices.",
                        permanent=True,
                    ) from None
                if exc.status == 429:
                    raise SourceError(
                        f"Datto RMM kept answering HTTP 429 (too many requests) on "
                        f"{without_query(url)} after {throttled} waits; other integrations may "
                        "be using the account's request limit."
                    ) from None
                raise

    def wait_out(self, exc: StatusAnswer, setting: str, default: float, url: str) -> None:
        """Wait as long as the server asks (Retry-After, in seconds) or the setting says, within
        the fetch's deadline."""
        try:
            seconds = float(exc.headers.get("Retry-After") or source_setting(setting, default))
        except ValueError:
            seconds = source_setting(setting, default)
        seconds = max(0.0, seconds)
        if self.deadline is not None and self.deadline.remaining() <= seconds:
            raise self.deadline.exceeded(f"a wait after HTTP {exc.status} on {without_query(url)}")
        pause(seconds)


class DattoRmmSource(Source):
    kind = "datto_rmm"
    label = "Datto RMM API"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        auth, *options = self.credentials.split() or [""]
        self.key_secret = tuple(auth.split(":", 1)) if ":" in auth else None
        self.plain_token = None if self.key_secret else auth
        self.not_billable_filter: str | None = None
        self.not_billable_udf: tuple[str, str | None] | None = None
        for option in options:
            self.read_option(option)

    def read_option(self, option: str) -> None:
        name, _, value = option.partition("=")
        if name == "filter" and value.isdigit():
            self.not_billable_filter = value
        elif name == "udf" and value.partition(":")[0].isdigit():
            number, _, wanted = value.partition(":")
            self.not_billable_udf = (f"udf{int(number)}", wanted or None)
        else:
            raise SourceError(
                f"Unknown Datto RMM option {name!r} in the credentials: use filter=ID or "
                "udf=N or udf=N:VALUE after the API key and secret.",
                permanent=True,
            )

    def client(self):
        return DattoClient(self, self.deadline)

    def access_token(self, client: Client) -> str:
        if self.key_secret is None:
            return self.plain_token or ""
        key, secret = self.key_secret
        data = get_json(
            f"{self.base_url}/auth/oauth/token",
            headers={"Authorization": f"Basic {PUBLIC_CLIENT}"},
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
        """Empty pages while the sites and devices are read (so the page cap, the deadline and
        the progress count every request), then every site with its usage."""
        with self.client() as client:  # one keep-alive connection for the token and every page
            sites: dict[str, tuple[str, int | None]] = {}
            for page in self.listing(client, "sites", "sites"):
                for site in page:
                    parsed = self.parse_site(site, page.where)
                    if parsed:
                        sites[parsed[0]] = parsed[1:]
                yield []
            excluded: set[str] = set()
            if self.not_billable_filter:
                query = {"filterId": self.not_billable_filter}
                for page in self.listing(client, "devices", "not-billable devices", query):
                    excluded.update(self.device_uid(device, page.where) for device in page)
                    yield []
            counts: dict[str, dict[str, int]] = {uid: {} for uid in sites}
            for page in self.listing(client, "devices", "devices"):
                for device in page:
                    self.count_device(device, page.where, counts, excluded)
                yield []
        yield [
            FetchedOrganization(uid, name, None, "site", self.usage(counts[uid]), psa_id)
            for uid, (name, psa_id) in sites.items()
        ]

    def usage(self, counts: dict[str, int]) -> dict[str, int]:
        usage = add_totals(counts)
        if self.billing_types is None:
            return usage
        # Billing types the module's catalog does not know cannot be billed.
        return {code: n for code, n in usage.items() if code in self.billing_types}

    def listing(self, client: Client, what: str, label: str, query: dict | None = None):
        """Each page of /api/v2/account/{what} as a list carrying `where` (its number and URL),
        following nextPageUrl."""
        origin = urlsplit(self.base_url)[:2]
        url = f"{self.base_url}/api/v2/account/{what}?" + urlencode(
            {**(query or {}), "max": PAGE_SIZE, "page": 0}
        )
        for number in count(1):
            where = f"{label} page {number} ({without_query(url)})"
            data = get_json(url, headers={}, where=where, client=client)
            if not isinstance(data, dict) or not isinstance(data.get(what), list):
                raise SourceError(
                    f'{where}: expected an object with a "{what}" list; nothing was applied.',
                    permanent=True,
                )
            yield Page(data[what], where)
            details = data.get("pageDetails") or {}
            next_url = details.get("nextPageUrl") if isinstance(details, dict) else None
            if not next_url:
                return
            # The bearer token follows nextPageUrl, so it must stay on the configured host.
            if not isinstance(next_url, str) or urlsplit(next_url)[:2] != origin:
                raise SourceError(
                    f"{where}: nextPageUrl points at another host ({next_url}).", permanent=True
                )
            url = next_url

    @staticmethod
    def device_uid(device, where: str) -> str:
        uid = device.get("uid") if isinstance(device, dict) else None
        if not isinstance(uid, str) or not uid:
            raise SourceError(f"{where}: a device has no uid; nothing was applied.", permanent=True)
        return uid

    def count_device(self, device, where: str, counts: dict, excluded: set[str]) -> None:
        uid = self.device_uid(device, where)
        site_uid = device.get("siteUid")
        if not isinstance(site_uid, str) or not site_uid:
            raise SourceError(
                f"{where}: device {uid!r} has no siteUid; nothing was applied.", permanent=True
            )
        site_counts = counts.get(site_uid)
        # A device of "Deleted Devices" (or of a site made since the site list was read).
        if site_counts is None or uid in excluded or self.marked_not_billable(device):
            return
        billing_type = classify(device)
        if billing_type is not None:
            site_counts[billing_type] = site_counts.get(billing_type, 0) + 1

    def marked_not_billable(self, device: dict) -> bool:
        if self.not_billable_udf is None:
            return False
        field, wanted = self.not_billable_udf
        udf = device.get("udf")
        value = udf.get(field) if isinstance(udf, dict) else None
        if value is None and isinstance(device.get("udfs"), list):  # the v3 shape
            ordinal = int(field[3:])
            for item in device["udfs"]:
                if isinstance(item, dict) and item.get("ordinal") == ordinal:
                    value = next(
                        (
                            item[k]
                            for k in ("valueString", "valueBoolean", "valueNumber")
                            if item.get(k) is not None
                        ),
                        None,
                    )
        if value is None or str(value).strip() == "":
            return False
        return wanted is None or str(value).strip().lower() == wanted.strip().lower()

    def parse_site(self, site, where: str) -> tuple[str, str, int | None] | None:
        if not isinstance(site, dict):
            raise SourceError(f"{where}: each site must be an object.", permanent=True)
        uid, name = site.get("uid"), site.get("name")
        if not isinstance(uid, str) or not uid or not isinstance(name, str) or not name.strip():
            raise SourceError(f"{where}: a site has no uid or name.", permanent=True)
        if name in SYSTEM_SITES:
            return None
        # The site's link to the PSA, when Datto RMM is integrated with Autotask: a string id,
        # empty or absent otherwise. Anything unreadable is treated as absent, not as an error,
        # since it only feeds mapping suggestions.
        return uid, name.strip()[:255], parse_psa_id(site.get("autotaskCompanyId"))


class Page(list):
    """A page's items, with the words that name the page in an error message."""

    def __init__(self, items, where: str):
        super().__init__(items)
        self.where = where
