"""Feed v1 pages read from JSON files shipped in the app (the demo and offline runs).

`base_url` names a file or a folder (its *.json files in name order, one page each) under
kaseya_modules/fixtures/; anything outside it is refused, so the setting cannot read other files.
"""

from collections.abc import Iterator
from pathlib import Path

from .base import FetchedOrganization, Source, SourceError, parse_json
from .feed import parse_feed_page

FIXTURES_DIR = (Path(__file__).resolve().parent.parent / "fixtures").resolve()


class FixtureSource(Source):
    kind = "fixture"
    label = "Fixture files"

    def path(self) -> Path:
        path = (FIXTURES_DIR / self.base_url).resolve()
        if not path.is_relative_to(FIXTURES_DIR) or not path.exists():
            raise SourceError(
                f"Fixture {self.base_url!r} is not a file or folder under "
                "kaseya_modules/fixtures/.",
                permanent=True,
            )
        return path

    def pages(self) -> Iterator[list[FetchedOrganization]]:
        path = self.path()
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        for file in files:
            where = f"fixture {file.relative_to(FIXTURES_DIR)}"
            data = parse_json(file.read_bytes(), where=where)
            organizations, _ = parse_feed_page(data, where=where, billing_types=self.billing_types)
            yield organizations
