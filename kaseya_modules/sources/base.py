"""The one interface every module API adapter implements: "everything this module has" —
organizations, their parents and their usage — fetched completely before anything is applied."""

from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import NamedTuple

from django.conf import settings

from mapping_portal.lib import http
from mapping_portal.lib.bulk import paused_gc
from mapping_portal.lib.text import CONTROL_CHARACTERS, control_character

KINDS = ("organization", "site", "location")

# The limits that can end a fetch, as SyncRun.stopped_by records them.
REQUEST_DEADLINE = "request_deadline"
SYNC_DEADLINE = "sync_deadline"
PAGE_CAP = "page_cap"

Quantity = int | Decimal


class SourceError(Exception):
    """Anything that stops a fetch. `permanent` errors (bad token, malformed data) will not go away
    by retrying; the others (timeouts, 5xx after the retries) might tomorrow night."""

    def __init__(self, message: str, *, permanent: bool = False, limit: str = ""):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.limit = limit  # which limit ended the fetch, if one did

    def __str__(self):
        return self.message


class FetchedOrganization(NamedTuple):
    """One organization as fetched. A tuple (not a model or a dataclass) because a large module
    has hundreds of thousands: creating, comparing and unpacking them must stay cheap."""

    external_id: str
    name: str
    parent_id: str | None
    kind: str
    # Billing type code -> quantity: an int for whole numbers, a Decimal otherwise (both compare
    # and store exactly). Never mutated, so the shared empty default is safe.
    usage: Mapping[str, Quantity] = MappingProxyType({})
    # The PSA's id for this customer (an Autotask company id), when the module records one.
    psa_id: int | None = None


ProgressCallback = Callable[[int, int], None]  # (pages fetched, organizations fetched)


def validate_base_url(kind: str, base_url: str) -> None:
    """The one rule for a source's base URL (model clean, forms and the command share it)."""
    from django.core.exceptions import ValidationError

    if kind == "fixture":
        if base_url.startswith("/") or ".." in base_url.split("/"):
            raise ValidationError("A fixture is a path relative to kaseya_modules/fixtures/.")
        return
    http.validate_api_url(base_url)


def source_setting(name: str, default):
    """Tunables with defaults here, so a deployment may override them in settings."""
    return getattr(settings, name, default)


class Deadline(http.Deadline):
    """The time by which a whole fetch must be done. The per-read socket timeout alone never ends
    a server that keeps sending a byte now and then, nor a feed whose cursors never end."""

    def exceeded(self, where: str) -> SourceError:
        return SourceError(
            f"Stopped at the sync deadline ({self.seconds:g}s, MODULE_SYNC_DEADLINE_SECONDS) "
            f"during {where}; nothing was applied.",
            limit=SYNC_DEADLINE,
        )


def parse_json(body: bytes | str, *, where: str):
    """Decoded JSON, or a permanent SourceError naming `where`. Nesting deep enough to exhaust
    the decoder's recursion (a feed page is a flat list) is malformed data, not a crash."""
    try:
        return http.decode_json(body)
    except ValueError as exc:
        raise SourceError(f"Malformed JSON on {where}: {exc}.", permanent=True) from None


class Source:
    """Subclasses set `kind` and implement `pages()`; `fetch_all()` does the checks every source
    shares."""

    kind: str = ""
    label: str = ""

    def __init__(
        self,
        *,
        base_url: str,
        credentials: str = "",
        billing_types: set[str] | None = None,
        progress: ProgressCallback | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.billing_types = billing_types
        self.progress = progress
        self.deadline: Deadline | None = None  # set by fetch_all

    def __repr__(self):
        # Never let credentials reach a log line or a traceback's locals summary.
        return f"<{type(self).__name__} {self.base_url}>"

    def pages(self) -> Iterator[list[FetchedOrganization]]:
        """The module's organizations page by page. HTTP adapters fetch through `client()`, so
        every request keeps to the fetch's deadlines."""
        raise NotImplementedError

    def client(self):
        """An HTTP client bound to this fetch's deadline (see fetch_all)."""
        from .http import Client

        return Client(deadline=self.deadline)

    def fetch_all(self) -> list[FetchedOrganization]:
        """Every organization of the module, or SourceError. Identical repeats of an id (cursor
        paging over data that shifts) are dropped; conflicting repeats, unknown parents and parent
        cycles are errors, since applying them would guess. The fetch ends with a SourceError
        naming the limit when it passes MODULE_SYNC_MAX_PAGES pages or MODULE_SYNC_DEADLINE_SECONDS
        in all (each request also has MODULE_SYNC_REQUEST_DEADLINE_SECONDS, see http.Client)."""
        self.deadline = Deadline(source_setting("MODULE_SYNC_DEADLINE_SECONDS", 1800))
        with paused_gc():
            return self._fetch_all(source_setting("MODULE_SYNC_MAX_PAGES", 10_000))

    def _fetch_all(self, max_pages: int) -> list[FetchedOrganization]:
        seen: dict[str, FetchedOrganization] = {}
        page_sizes: list[int] = []  # new ids per page, to find the page of an earlier id
        for page_number, page in enumerate(self.pages(), start=1):
            if page_number > max_pages:
                raise SourceError(
                    f"The module has more than {max_pages} pages (MODULE_SYNC_MAX_PAGES); "
                    f"stopped after page {max_pages}, nothing was applied.",
                    limit=PAGE_CAP,
                )
            check_text(page, page_number)
            before = len(seen)
            ids = [item[0] for item in page]
            if seen.keys().isdisjoint(ids) and len(set(ids)) == len(ids):
                seen.update(zip(ids, page, strict=True))  # the common case, at C speed
            else:
                for item in page:
                    previous = seen.get(item[0])
                    if previous is None:
                        seen[item[0]] = item
                    elif previous != item:
                        where = page_of(seen, page_sizes + [len(seen) - before], item[0])
                        raise SourceError(
                            f"Organization id {item[0]!r} appears twice with different "
                            f"data (pages {where} and {page_number}).",
                            permanent=True,
                        )
            page_sizes.append(len(seen) - before)
            if self.progress:
                self.progress(page_number, len(seen))
            if self.deadline.remaining() <= 0:
                raise self.deadline.exceeded(f"page {page_number}")
        organizations = list(seen.values())
        check_parents(organizations)
        return organizations


def check_text(page: list[FetchedOrganization], page_number: int) -> None:
    """Refuse a page whose ids, names, parents or billing types hold a control character (the
    rule is mapping_portal.lib.text's), naming the organization: stored, NUL would fail the whole
    apply on PostgreSQL without saying where. One search over the whole page in the common case."""
    texts = [text for item in page for text in (item[0], item[1], item[2] or "", item[3])]
    codes = [code for item in page if item[4] for code in item[4]]
    if not CONTROL_CHARACTERS.search("".join(texts)) and not CONTROL_CHARACTERS.search(
        "".join(codes)
    ):
        return
    for index, item in enumerate(page, start=1):
        fields = [("id", item[0]), ("name", item[1]), ("parent_id", item[2] or "")]
        fields += [("kind", item[3])] + [("usage code", code) for code in item[4]]
        for field, value in fields:
            found = control_character(value)
            if found is not None:
                raise SourceError(
                    f"Page {page_number}, organization #{index} (id {item[0]!r}): {field} "
                    f"contains a control character ({found}); nothing was applied.",
                    permanent=True,
                )


def page_of(seen: dict, page_sizes: list[int], external_id: str) -> int:
    """The page an id was first seen on (dicts keep insertion order); only for error messages."""
    index = list(seen).index(external_id)
    for number, size in enumerate(page_sizes, start=1):
        if index < size:
            return number
        index -= size
    return len(page_sizes) + 1


def check_parents(organizations: list[FetchedOrganization]) -> None:
    parents = {item[0]: item[2] for item in organizations}
    for item in organizations:
        if item[2] is not None and item[2] not in parents:
            raise SourceError(
                f"Organization {item[0]!r} names parent {item[2]!r}, which is not in the feed.",
                permanent=True,
            )
    # Walk each chain once; nodes proven acyclic are remembered so the whole check is linear. Most
    # nodes are roots or have a parent already proven, which takes one lookup.
    acyclic: set[str | None] = {None}
    for start, parent in parents.items():
        if parent in acyclic:
            acyclic.add(start)
            continue
        path: list[str] = []
        on_path: set[str] = set()
        node = start
        while node not in acyclic:
            if node in on_path:
                raise SourceError(
                    f"Organization {node!r} is its own ancestor (parent cycle).", permanent=True
                )
            on_path.add(node)
            path.append(node)
            node = parents[node]
        acyclic.update(path)


def parse_psa_id(value) -> int | None:
    """A PSA company id given as a positive integer or its decimal string; None when absent or
    anything else (the caller decides whether that is an error)."""
    if type(value) is int:
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
        return number if 0 < number < 2**63 else None
    return None


def parse_quantity(value, *, where: str) -> Quantity:
    """A usage quantity: whole numbers stay ints (exact, and cheap for the common case), other
    numbers become Decimals by their shortest repr, true/false become 1/0."""
    kind = type(value)
    if kind is int:
        if value >= 0:
            return value
    elif kind is bool:
        return 1 if value else 0
    elif kind is float:
        if value.is_integer() and value >= 0:
            return int(value)
        try:
            quantity = Decimal(repr(value))
        except InvalidOperation:
            quantity = None
        if quantity is not None and quantity.is_finite() and quantity >= 0:
            return quantity
    raise SourceError(
        f"{where}: usage must be a non-negative number or true/false.", permanent=True
    )
