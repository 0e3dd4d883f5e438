"""The one interface every module API adapter implements: "everything this module has" —
organizations, their parents and their usage — fetched completely before anything is applied."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.conf import settings

KINDS = ("organization", "site", "location")


class SourceError(Exception):
    """Anything that stops a fetch. `permanent` errors (bad token, malformed data) will not go away
    by retrying; the others (timeouts, 5xx after the retries) might tomorrow night."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent

    def __str__(self):
        return self.message


@dataclass(frozen=True, slots=True)
class FetchedOrganization:
    external_id: str
    name: str
    parent_id: str | None
    kind: str
    usage: dict[str, Decimal] = field(default_factory=dict)


ProgressCallback = Callable[[int, int], None]  # (pages fetched, organizations fetched)


def validate_base_url(kind: str, base_url: str) -> None:
    """The one rule for a source's base URL (model clean, forms and the command share it)."""
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator

    if kind == "fixture":
        if base_url.startswith("/") or ".." in base_url.split("/"):
            raise ValidationError("A fixture is a path relative to kaseya_modules/fixtures/.")
        return
    try:
        URLValidator(schemes=["http", "https"])(base_url)
    except ValidationError:
        raise ValidationError("Enter an http:// or https:// URL.") from None
    if "?" in base_url or "#" in base_url:
        raise ValidationError("The base URL must not carry a query or fragment.")


def source_setting(name: str, default):
    """Tunables with defaults here, so a deployment may override them in settings."""
    return getattr(settings, name, default)


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

    def __repr__(self):
        # Never let credentials reach a log line or a traceback's locals summary.
        return f"<{type(self).__name__} {self.base_url}>"

    def pages(self) -> Iterator[list[FetchedOrganization]]:
        raise NotImplementedError

    def fetch_all(self) -> list[FetchedOrganization]:
        """Every organization of the module, or SourceError. Identical repeats of an id (cursor
        paging over data that shifts) are dropped; conflicting repeats, unknown parents and parent
        cycles are errors, since applying them would guess."""
        seen: dict[str, tuple[int, FetchedOrganization]] = {}
        count = 0
        for page_number, page in enumerate(self.pages(), start=1):
            for item in page:
                previous = seen.get(item.external_id)
                if previous is not None:
                    if previous[1] != item:
                        raise SourceError(
                            f"Organization id {item.external_id!r} appears twice with different "
                            f"data (pages {previous[0]} and {page_number}).",
                            permanent=True,
                        )
                    continue
                seen[item.external_id] = (page_number, item)
            count += len(page)
            if self.progress:
                self.progress(page_number, len(seen))
        organizations = [item for _, item in seen.values()]
        check_parents(organizations)
        return organizations


def check_parents(organizations: list[FetchedOrganization]) -> None:
    parents = {item.external_id: item.parent_id for item in organizations}
    for item in organizations:
        if item.parent_id is not None and item.parent_id not in parents:
            raise SourceError(
                f"Organization {item.external_id!r} names parent {item.parent_id!r}, which is not "
                "in the feed.",
                permanent=True,
            )
    # Walk each chain once; nodes proven acyclic are remembered so the whole check is linear.
    acyclic: set[str] = set()
    for start in parents:
        path: list[str] = []
        on_path: set[str] = set()
        node = start
        while node is not None and node not in acyclic:
            if node in on_path:
                raise SourceError(
                    f"Organization {node!r} is its own ancestor (parent cycle).", permanent=True
                )
            on_path.add(node)
            path.append(node)
            node = parents[node]
        acyclic.update(path)


def parse_quantity(value, *, where: str) -> Decimal:
    if isinstance(value, bool):
        return Decimal(1 if value else 0)
    if isinstance(value, int | float):
        try:
            quantity = Decimal(str(value))
        except InvalidOperation:
            quantity = None
        if quantity is not None and quantity.is_finite() and quantity >= 0:
            return quantity
    raise SourceError(
        f"{where}: usage must be a non-negative number or true/false.", permanent=True
    )
