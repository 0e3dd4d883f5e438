"""The Autotask PSA REST client: zone discovery, the companyType picklist, and every company page.

What each call sends and expects is in docs/psa-autotask.md (with which details are documented by
Autotask and which are assumptions). Every request goes through mapping_portal.lib.http, one at a
time (Autotask allows 3 concurrent threads per integration; a sync uses one), and every attempt
is counted against the run's share of Autotask's hourly request threshold.
"""

import json
import operator
import re
from collections.abc import Callable, Iterator
from itertools import chain, compress
from typing import NamedTuple
from urllib.parse import quote, urlsplit

from django.conf import settings

from mapping_portal.lib.http import HttpError, JsonClient, retryable
from mapping_portal.lib.text import CONTROL_CHARACTERS, control_character

from .models import Organization, OrganizationType

PAGE_SIZE = 500  # Autotask's largest page
API_VERSION = "V1.0"
INCLUDE_FIELDS = [
    "id",
    "companyName",
    "companyType",
    "isActive",
    "parentCompanyID",
    "address1",
    "address2",
    "city",
    "state",
    "postalCode",
    "phone",
    "taxID",
    "isTaxExempt",
    "isSample",
]
# Picklist labels (Autotask's spelling, any case) → the portal's organization types.
TYPE_BY_LABEL = {choice.label.casefold(): choice.value for choice in OrganizationType} | {
    "cancellation": OrganizationType.CANCELATION
}
# Company field → Organization field, for the text fields copied as they are.
TEXT_FIELDS = {
    "address1": "address1",
    "address2": "address2",
    "city": "city",
    "state": "state",
    "postalCode": "postal_code",
    "phone": "phone",
    "taxID": "tax_id",
}
# What an Autotask 500 says when the API user or the integration code is wrong.
CREDENTIAL_WORDS = re.compile(
    r"user|integration|tracking identifier|authenticat|credential|secret|password|"
    r"impersonat|authori[sz]",
    re.IGNORECASE,
)
TRANSIENT_WORDS = re.compile(
    r"timeout|timed out|temporar|try again|unavailable|deadlock|busy", re.I
)


def psa_setting(name: str, default):
    """Tunables with their defaults here, so tests and deployments may override them."""
    return getattr(settings, name, default)


class PsaError(Exception):
    """Anything that stops a PSA sync; the message is shown to the admin as it is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return self.message


class PsaCompany(NamedTuple):
    """One Autotask company as the portal stores it (Organization field names)."""

    autotask_id: int
    name: str
    org_type: str
    active: bool
    parent_id: int | None  # the parent's Autotask id
    address1: str
    address2: str
    city: str
    state: str
    postal_code: str
    phone: str
    tax_id: str
    tax_exempt: bool


def autotask_errors(body: bytes) -> list[str] | None:
    """The `errors` list of an Autotask error answer, or None when the body is not one."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    errors = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errors, list) and errors:
        return [str(error) for error in errors]
    return None


def should_retry(status: int, body: bytes) -> bool:
    """Autotask answers a wrong username or integration code with HTTP 500 and an errors list:
    retrying that only burns the hourly threshold. A 500 with an errors list is retried only when
    its message sounds transient; 429 and other 5xx are retried."""
    if status == 500:
        errors = autotask_errors(body)
        if errors is not None:
            return bool(TRANSIENT_WORDS.search(" ".join(errors)))
    return retryable(status)


def explain(exc: HttpError, where: str) -> PsaError:
    """An HttpError as the admin should read it."""
    if exc.status in (401, 403):
        return PsaError(
            f"Autotask refused the credentials (HTTP {exc.status}) on {where}: check the API "
            "user's secret, and that the user has the API User (API-only) security level."
        )
    errors = autotask_errors(exc.body) if exc.status else None
    if errors:
        text = "; ".join(errors)[:500]
        if exc.status == 500 and CREDENTIAL_WORDS.search(text):
            return PsaError(
                f"Autotask refused the API user or the integration code (HTTP 500 on {where}): "
                f"{text}. Check the API username and the API integration code in the Autotask "
                "PSA settings."
            )
        return PsaError(f"Autotask answered HTTP {exc.status} on {where}: {text}")
    return PsaError(f"{exc.message}.")


class AutotaskClient:
    """One sync's conversation with Autotask. `before_request` runs before every counted request
    (it raises PsaError to stop before the hourly budget)."""

    def __init__(
        self,
        *,
        base_url: str,
        username: str,
        secret: str,
        integration_code: str,
        before_request: Callable[[], None] | None = None,
    ):
        self.base_url = base_url.rstrip("/") + "/"
        self.username = username
        self._headers = {
            "ApiIntegrationCode": integration_code,
            "UserName": username,
            "Secret": secret,
        }
        self.http = JsonClient(
            timeout=psa_setting("AUTOTASK_TIMEOUT_SECONDS", 30.0),
            request_deadline=psa_setting("AUTOTASK_REQUEST_DEADLINE_SECONDS", 120.0),
            deadline_setting="AUTOTASK_REQUEST_DEADLINE_SECONDS",
            attempts=psa_setting("AUTOTASK_ATTEMPTS", 4),
            backoff=psa_setting("AUTOTASK_BACKOFF_SECONDS", 1.0),
            backoff_cap=psa_setting("AUTOTASK_BACKOFF_CAP_SECONDS", 30.0),
            should_retry=should_retry,
            before_attempt=before_request,
        )
        self.zone_url = ""

    def __repr__(self):
        return f"<AutotaskClient {self.base_url}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.http.close()

    def _call(self, method: str, url: str, where: str, json_body=None):
        try:
            return self.http.request_json(
                method, url, where=where, headers=self._headers, json_body=json_body
            )
        except HttpError as exc:
            raise explain(exc, where) from None

    def discover_zone(self) -> str:
        """The REST base of the API user's zone, from zoneInformation at the configured URL."""
        where = "zone discovery (zoneInformation)"
        url = f"{self.base_url}{API_VERSION}/zoneInformation?user={quote(self.username, safe='')}"
        try:
            # Exempt from Autotask's threshold, and needs no credentials: none are sent.
            data = self.http.request_json("GET", url, where=where, counted=False)
        except HttpError as exc:
            raise explain(exc, where) from None
        zone = data.get("url") if isinstance(data, dict) else None
        if not isinstance(zone, str) or not zone:
            raise PsaError(f"Malformed answer on {where}: no zone url. Is the base URL right?")
        check_zone(self.base_url, zone)
        self.zone_url = zone.rstrip("/") + "/"
        return self.zone_url

    def company_types(self) -> dict[int, tuple[str, str | None]]:
        """companyType picklist value → (label, portal type or None for a label it has none for),
        read by label from Companies/entityInformation/fields."""
        where = "the company fields (Companies/entityInformation/fields)"
        data = self._call(
            "GET", f"{self.zone_url}{API_VERSION}/Companies/entityInformation/fields", where
        )
        fields = data.get("fields") if isinstance(data, dict) else None
        if not isinstance(fields, list):
            raise PsaError(f"Malformed answer on {where}: no fields list.")
        for field in fields:
            if isinstance(field, dict) and str(field.get("name", "")).casefold() == "companytype":
                break
        else:
            raise PsaError(f"Malformed answer on {where}: no companyType field.")
        types = {}
        for entry in field.get("picklistValues") or []:
            value = entry.get("value") if isinstance(entry, dict) else None
            label = entry.get("label") if isinstance(entry, dict) else None
            if not isinstance(label, str) or not str(value).strip().lstrip("-").isdigit():
                raise PsaError(f"Malformed companyType picklist entry on {where}: {entry!r:.200}")
            types[int(str(value).strip())] = (label, TYPE_BY_LABEL.get(label.strip().casefold()))
        if not types:
            raise PsaError(f"Malformed answer on {where}: the companyType picklist is empty.")
        return types

    def company_pages(self, max_pages: int) -> Iterator[list[dict]]:
        """Every company, page by page (500 a page), paging by `id gt` the page's highest id
        until a page says there is no more (no nextPageUrl, under 500 rows) or comes back empty."""
        cursor = 0
        url = f"{self.zone_url}{API_VERSION}/Companies/query"
        for number in range(1, max_pages + 2):
            if number > max_pages:
                raise PsaError(
                    f"Autotask has more than {max_pages} pages of companies "
                    "(AUTOTASK_SYNC_MAX_PAGES); stopped, nothing was applied."
                )
            where = f"Companies page {number}"
            query = {
                "MaxRecords": PAGE_SIZE,
                "IncludeFields": INCLUDE_FIELDS,
                "Filter": [{"op": "gt", "field": "id", "value": cursor}],
            }
            items, more = parse_page(self._call("POST", url, where, query), cursor, where)
            yield items
            if not items or not more:
                return
            cursor = max(map(_company_id, items))


def check_zone(base_url: str, zone: str) -> None:
    """The credentials go to the zone the answer names, so it must be the configured host, or an
    Autotask host when the configured one is, over the same scheme."""
    base, found = urlsplit(base_url), urlsplit(zone)
    same_family = (base.hostname or "").endswith(".autotask.net") and (
        found.hostname or ""
    ).endswith(".autotask.net")
    if found.scheme != base.scheme or not (found.hostname == base.hostname or same_family):
        raise PsaError(
            f"zoneInformation named {found.scheme}://{found.hostname}/, which is neither the "
            "configured host nor an Autotask host over the same scheme; refused."
        )


def parse_page(data, cursor: int, where: str) -> tuple[list[dict], bool]:
    """The page's items and whether more may follow; PsaError naming the page when malformed."""
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise PsaError(f"Malformed answer on {where}: no items list; nothing was applied.")
    items = data["items"]
    if not _ids_above(items, cursor):
        for index, item in enumerate(items, start=1):  # find the item at fault and name it
            if not isinstance(item, dict):
                raise PsaError(
                    f"Malformed {where}, item #{index}: not an object; nothing was applied."
                )
            company_id = item.get("id")
            if type(company_id) is not int or company_id <= cursor:
                raise PsaError(
                    f"Malformed {where}, item #{index}: id {company_id!r} is not a whole number "
                    f"above {cursor}; nothing was applied."
                )
    details = data.get("pageDetails")
    next_url = details.get("nextPageUrl") if isinstance(details, dict) else None
    return items, bool(next_url) or len(items) >= PAGE_SIZE


_company_id = operator.itemgetter("id")


def _ids_above(items: list, cursor: int) -> bool:
    """Whether every item is an object whose id is a whole number above `cursor`, checked a
    column at a time (an empty page passes)."""
    if not set(map(type, items)) <= {dict}:
        return False
    try:
        ids = list(map(_company_id, items))
    except KeyError:
        return False
    return set(map(type, ids)) <= {int} and min(ids, default=cursor + 1) > cursor


_MAX_LENGTHS = {
    name: Organization._meta.get_field(name).max_length for name in ("name", *TEXT_FIELDS.values())
}


def _text(item: dict, key: str, field: str, where: str) -> str:
    value = item.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PsaError(f"{where}: {key} is not text ({value!r:.50}); nothing was applied.")
    value = value.strip()
    found = control_character(value)
    if found is not None:
        raise PsaError(
            f"{where}: {key} contains a control character ({found}); nothing was applied."
        )
    if len(value) > _MAX_LENGTHS[field]:
        raise PsaError(
            f"{where}: {key} is longer than {_MAX_LENGTHS[field]} characters; nothing was applied."
        )
    return value


def _flag(item: dict, key: str, default: bool, where: str) -> bool:
    value = item.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise PsaError(f"{where}: {key} is not true or false ({value!r:.50}); nothing was applied.")
    return value


# companyName first, then the text fields in TEXT_FIELDS order, with the portal's length limits.
_TEXT_KEYS = ("companyName", *TEXT_FIELDS)
_TEXT_TARGETS = ("name", *TEXT_FIELDS.values())
_LIMITS = tuple(_MAX_LENGTHS[field] for field in _TEXT_TARGETS)


def company_from(item: dict, types: dict, where: str) -> PsaCompany | None:
    """One company item as a PsaCompany, None for Autotask's sample companies, PsaError naming the
    page and company when a field is unusable. Clean items (nearly all) take one pass with one
    control-character search; only a bad item goes through the field-by-field checks that name
    the problem."""
    get = item.get
    where = f"{where}, company id {item['id']}"
    if _flag(item, "isSample", False, where):
        return None
    texts = [value.strip() if type(value) is str else value for value in map(get, _TEXT_KEYS)]
    if (
        any(value is not None and type(value) is not str for value in texts)
        or CONTROL_CHARACTERS.search("".join(value for value in texts if value))
        or any(value and len(value) > limit for value, limit in zip(texts, _LIMITS, strict=True))
    ):
        for key, field in zip(_TEXT_KEYS, _TEXT_TARGETS, strict=True):
            _text(item, key, field, where)  # raises, naming the field
    name, *rest = (value or "" for value in texts)
    if not name:
        raise PsaError(f"{where}: companyName is empty; nothing was applied.")
    raw_type = get("companyType")
    if type(raw_type) is str and raw_type.strip().isdigit():
        raw_type = int(raw_type.strip())
    if type(raw_type) is not int or raw_type not in types:
        raise PsaError(
            f"{where}: companyType {raw_type!r:.50} is not in the companyType picklist; nothing "
            "was applied."
        )
    label, org_type = types[raw_type]
    if org_type is None:
        known = ", ".join(choice.label for choice in OrganizationType)
        raise PsaError(
            f"{where}: company type {label!r} has no portal type (it knows {known}); nothing was "
            "applied."
        )
    parent = get("parentCompanyID")
    if parent is not None and (type(parent) is not int or parent <= 0):
        raise PsaError(
            f"{where}: parentCompanyID {parent!r:.50} is not a company id; nothing was applied."
        )
    return PsaCompany(
        item["id"],
        name,
        org_type,
        _flag(item, "isActive", True, where),
        parent,
        *rest,
        _flag(item, "isTaxExempt", False, where),
    )


# A page's items as columns: every key a company item carries, in PsaCompany's order.
_PAGE_KEYS = (
    "id",
    *_TEXT_KEYS,
    "companyType",
    "isActive",
    "parentCompanyID",
    "isTaxExempt",
    "isSample",
)
_page_row = operator.itemgetter(*_PAGE_KEYS)
_NONE = type(None)
_TEXT_TYPES = {str, _NONE}
_FLAG_TYPES = {bool, _NONE}
_ID_TYPES = {int, _NONE}


def companies_from(items: list[dict], types: dict, where: str) -> list[PsaCompany]:
    """A page of company items as PsaCompany rows, Autotask's sample companies left out. The
    usual page (every field present, of its type, clean) is checked a column at a time, each
    check one pass in C over the page; a page that fails any check goes through company_from
    item by item, which accepts what it may (a type given as a digit string, a missing field)
    and names the company and field it cannot."""
    try:
        columns = list(zip(*map(_page_row, items), strict=True))
    except KeyError:  # a field left out: company_from reads it as empty
        columns = None
    companies = _clean_page(columns, types) if columns else None
    if companies is None:
        companies = list(filter(None, (company_from(item, types, where) for item in items)))
    return companies


def _clean_page(columns: list[tuple], types: dict) -> list[PsaCompany] | None:
    """The page's companies when every column passes company_from's rules as they stand; None
    for the item-by-item path to accept or explain."""
    ids, *text_columns, company_types, actives, parents, exempts, samples = columns
    texts = []
    for column, limit in zip(text_columns, _LIMITS, strict=True):
        kinds = set(map(type, column))
        if not kinds <= _TEXT_TYPES:
            return None
        if _NONE in kinds:
            column = [value or "" for value in column]
        column = list(map(str.strip, column))
        if max(map(len, column)) > limit:
            return None
        texts.append(column)
    if "" in texts[0] or CONTROL_CHARACTERS.search("".join(chain.from_iterable(texts))):
        return None  # an empty name, or a control character somewhere
    portal_type = {value: org_type for value, (_, org_type) in types.items() if org_type}
    if set(map(type, company_types)) != {int} or not set(company_types) <= portal_type.keys():
        return None
    flag_kinds = [set(map(type, flags)) for flags in (actives, exempts, samples)]
    if not all(kinds <= _FLAG_TYPES for kinds in flag_kinds):
        return None
    # Parents: whole numbers above 0 (filter() leaves out None, and 0, looked for apart).
    if not set(map(type, parents)) <= _ID_TYPES or (
        0 in parents or min(filter(None, parents), default=1) < 0
    ):
        return None
    if _NONE in flag_kinds[0]:
        actives = [True if value is None else value for value in actives]
    if _NONE in flag_kinds[1]:
        exempts = [bool(value) for value in exempts]
    name, *rest = texts
    companies = list(
        map(
            PsaCompany._make,
            zip(
                ids,
                name,
                map(portal_type.__getitem__, company_types),
                actives,
                parents,
                *rest,
                exempts,
                strict=True,
            ),
        )
    )
    if True in samples:
        companies = list(compress(companies, [not sample for sample in samples]))
    return companies
