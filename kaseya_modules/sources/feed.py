"""Module Organization Feed v1 (docs/module-feed-v1.md): cursor-paged JSON with a bearer token."""

from collections.abc import Iterator
from itertools import count
from urllib.parse import urlencode

from .base import KINDS, FetchedOrganization, Source, SourceError, parse_psa_id, parse_quantity
from .http import get_json


def parse_feed_page(data, *, where: str, billing_types: set[str] | None):
    """(organizations, next cursor) from one decoded feed page, or SourceError naming the page."""
    if not isinstance(data, dict) or not isinstance(data.get("organizations"), list):
        raise SourceError(
            f'{where}: expected an object with an "organizations" list.', permanent=True
        )
    cursor = data.get("next_cursor")
    if cursor is not None and (not isinstance(cursor, str) or not cursor):
        raise SourceError(
            f'{where}: "next_cursor" must be a non-empty string or null.', permanent=True
        )
    organizations = []
    append = organizations.append
    empty = FetchedOrganization._field_defaults["usage"]
    new, Row = tuple.__new__, FetchedOrganization  # builds the named tuple without a Python call
    # The common shape is checked inline, cheaply; anything else (int ids, floats, a problem to
    # report) goes through parse_organization, which applies the same rules and names the item.
    for index, item in enumerate(data["organizations"]):
        if type(item) is dict:
            external_id = item.get("id")
            name = item.get("name")
            parent_id = item.get("parent_id")
            kind = item.get("kind", "organization")
            raw_usage = item.get("usage")
            psa_id = item.get("psa_id")
            if (
                type(external_id) is str
                and type(name) is str
                and (parent_id is None or (type(parent_id) is str and parent_id))
                and parent_id != external_id
                and kind in KINDS
                and (psa_id is None or (type(psa_id) is int and psa_id > 0))
            ):
                stripped_id = external_id.strip()
                stripped_name = name.strip()[:255]
                if stripped_id and stripped_name:
                    if not raw_usage:
                        append(
                            new(Row, (stripped_id, stripped_name, parent_id, kind, empty, psa_id))
                        )
                        continue
                    if type(raw_usage) is dict:
                        # The decoded page's own dict, when every code is a known billing type.
                        usage = (
                            raw_usage
                            if billing_types is None or raw_usage.keys() <= billing_types
                            else {c: v for c, v in raw_usage.items() if c in billing_types}
                        )
                        for value in usage.values():
                            if type(value) is not int or value < 0:
                                break
                        else:
                            row = (stripped_id, stripped_name, parent_id, kind, usage, psa_id)
                            append(new(Row, row))
                            continue
        append(
            parse_organization(
                item, where=f"{where}, organization", index=index, billing_types=billing_types
            )
        )
    return organizations, cursor


def parse_organization(item, *, where: str, index: int, billing_types: set[str] | None):
    """One organization with every rule spelled out; errors name it."""
    at = f"{where} #{index + 1}"
    if not isinstance(item, dict):
        raise SourceError(f"{at}: expected an object.", permanent=True)
    external_id = item.get("id")
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if not isinstance(external_id, str) or not external_id.strip():
        raise SourceError(f'{at}: "id" must be a non-empty string.', permanent=True)
    at = f"{where} {external_id!r}"
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SourceError(f'{at}: "name" must be a non-empty string.', permanent=True)
    parent_id = item.get("parent_id")
    if isinstance(parent_id, int) and not isinstance(parent_id, bool):
        parent_id = str(parent_id)
    if parent_id is not None and (not isinstance(parent_id, str) or not parent_id):
        raise SourceError(f'{at}: "parent_id" must be a string or null.', permanent=True)
    if parent_id == external_id:
        raise SourceError(f"{at}: an organization cannot be its own parent.", permanent=True)
    kind = item.get("kind", "organization")
    if not isinstance(kind, str) or kind not in KINDS:
        raise SourceError(f'{at}: "kind" must be one of {", ".join(KINDS)}.', permanent=True)
    raw_usage = item.get("usage") or {}
    if not isinstance(raw_usage, dict):
        raise SourceError(f'{at}: "usage" must be an object.', permanent=True)
    usage = {
        code: parse_quantity(value, where=f"{at}, usage {code!r}")
        for code, value in raw_usage.items()
        # Billing types the catalog does not know cannot be billed; keeping them would only
        # store noise.
        if billing_types is None or code in billing_types
    }
    raw_psa_id = item.get("psa_id")
    psa_id = parse_psa_id(raw_psa_id)
    if raw_psa_id is not None and psa_id is None:
        raise SourceError(
            f'{at}: "psa_id" must be a positive integer (or its decimal string) or null.',
            permanent=True,
        )
    return FetchedOrganization(
        external_id.strip(), name.strip()[:255], parent_id, kind, usage, psa_id
    )


class FeedSource(Source):
    kind = "feed"
    label = "Module Organization Feed v1"

    def pages(self) -> Iterator[list[FetchedOrganization]]:
        headers = {"Authorization": f"Bearer {self.credentials}"} if self.credentials else {}
        cursor = None
        seen_cursors: set[str] = set()
        with self.client() as client:  # one keep-alive connection for every page
            yield from self._pages(client, headers, cursor, seen_cursors)

    def _pages(self, client, headers, cursor, seen_cursors):
        for number in count(1):  # Source.fetch_all caps the pages
            url = f"{self.base_url}/organizations"
            if cursor is not None:
                url += "?" + urlencode({"cursor": cursor})
            where = f"page {number} ({url})"
            data = get_json(url, headers=headers, where=where, client=client)
            organizations, cursor = parse_feed_page(
                data, where=where, billing_types=self.billing_types
            )
            yield organizations
            if cursor is None:
                return
            if cursor in seen_cursors:
                raise SourceError(
                    f"{where}: next_cursor {cursor!r} was already used (a loop).", permanent=True
                )
            seen_cursors.add(cursor)
