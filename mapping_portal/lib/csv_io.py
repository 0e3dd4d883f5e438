"""CSV exports that are safe to open in a spreadsheet, and imports that are previewed before they
are applied all-or-nothing. The mapping CSVs of both sides (module organizations, web connectors)
share this; what a row means is each side's own business (a `planner`)."""

import csv
import hashlib
import io
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import StreamingHttpResponse

from .text import control_character_problem

# A cell a spreadsheet would run as a formula (OWASP: CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_IMPORT_BYTES = 5 * 1024 * 1024
# A CSV upload's request body: the file's cap plus room for the multipart framing and the token.
IMPORT_BODY_BYTES = MAX_IMPORT_BYTES + 64 * 1024
PREVIEW_SECONDS = 60 * 60


def spreadsheet_safe(value):
    """`value` as a CSV cell a spreadsheet will not run as a formula: text starting with
    = + - @ (or a tab or carriage return) gets a leading apostrophe (OWASP's advice; read_rows
    takes it off again). Numbers are left as they are; None is an empty cell."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _unescape(text: str) -> str:
    if text.startswith("'") and text[1:].startswith(_FORMULA_START):
        return text[1:]
    return text


class _Echo:
    def write(self, value):
        return value


def csv_download(
    filename: str, header: list[str], rows: Iterable[Iterable]
) -> StreamingHttpResponse:
    """A streamed CSV attachment (UTF-8 with a byte order mark, so spreadsheets read accents)."""
    writer = csv.writer(_Echo())

    def lines():
        yield "\ufeff" + writer.writerow(header)
        for row in rows:
            yield writer.writerow([spreadsheet_safe(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@dataclass
class RowError:
    line: int
    message: str

    def __str__(self):
        return f"Line {self.line}: {self.message}" if self.line else self.message


class CsvRefused(Exception):
    """The file cannot be read at all (encoding, size, header): its problems, with line numbers."""

    def __init__(self, errors: list[RowError]):
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = errors


def read_rows(data: bytes, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, {lower-case column: stripped text}) for every data row of a UTF-8 CSV;
    CsvRefused when the file is too large, not UTF-8, holds control characters or lacks a
    required column."""
    if len(data) > MAX_IMPORT_BYTES:
        raise CsvRefused(
            [RowError(0, f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB.")]
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvRefused(
            [RowError(0, f"The file is not UTF-8 text (byte {exc.start}). Save it as CSV UTF-8.")]
        ) from None
    bad_lines = [
        RowError(number, problem)
        for number, line in enumerate(text.split("\n"), start=1)
        if (problem := control_character_problem(line, "This line"))
    ]
    if bad_lines:
        raise CsvRefused(bad_lines)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [column.strip().lower() for column in next(reader, [])]
        missing = [column for column in required if column not in header]
        if missing:
            raise CsvRefused(
                [RowError(1, "The header row lacks the column(s) " + ", ".join(missing) + ".")]
            )
        rows = []
        for values in reader:
            if not any(value.strip() for value in values):
                continue
            # A short row leaves its last columns blank; cells past the header are dropped.
            cells = dict.fromkeys(header, "")
            cells.update(
                (column, _unescape(value.strip()))
                for column, value in zip(header, values, strict=False)
            )
            rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise CsvRefused([RowError(reader.line_num, f"This is not valid CSV: {exc}.")]) from None
    return rows


@dataclass
class Change:
    """One row's change, as the preview lists it; `apply(user)` makes it through the services."""

    line: int
    subject: str
    before: str
    after: str
    apply: Callable = field(repr=False, compare=False)


@dataclass
class ImportPlan:
    changes: list[Change] = field(default_factory=list)
    refusals: list[RowError] = field(default_factory=list)
    unchanged: int = 0

    @property
    def ok(self) -> bool:
        return not self.refusals

    @property
    def fingerprint(self) -> str:
        """Names the exact set of changes previewed, so apply can tell if the data moved."""
        text = "\n".join(f"{c.line}\t{c.subject}\t{c.before}\t{c.after}" for c in self.changes)
        return hashlib.sha256(text.encode()).hexdigest()


class ImportStale(Exception):
    """The preview no longer describes what applying would do."""


def plan_file(data: bytes, required, planner) -> ImportPlan:
    """The plan for `data`: `planner(rows)` turns read rows into an ImportPlan; a file that
    cannot be read is a plan with only refusals."""
    try:
        rows = read_rows(data, required)
    except CsvRefused as exc:
        return ImportPlan(refusals=exc.errors)
    return planner(rows)


@transaction.atomic
def apply_file(data: bytes, required, planner, fingerprint: str, user) -> ImportPlan:
    """Plan `data` again and apply every change in one transaction, only if it is exactly what
    was previewed (`fingerprint`) and nothing is refused; any refusal on the way rolls back all."""
    plan = plan_file(data, required, planner)
    if not plan.ok or plan.fingerprint != fingerprint:
        raise ImportStale(
            "The mappings changed since the preview (or the file was refused): nothing was "
            "applied. Review the new preview."
        )
    for change in plan.changes:
        try:
            change.apply(user)
        except ValidationError as exc:
            raise ValidationError(f"Line {change.line}: {' '.join(exc.messages)}") from None
    return plan


def keep_upload(user, kind: str, data: bytes) -> str:
    """Keep an uploaded file for its preview's Apply button; returns the token naming it."""
    token = secrets.token_urlsafe(16)
    cache.set(_upload_key(user, kind, token), data, PREVIEW_SECONDS)
    return token


def kept_upload(user, kind: str, token: str) -> bytes | None:
    """The file kept under `token` for this user, or None once the preview has expired."""
    if not token or len(token) > 64:
        return None
    return cache.get(_upload_key(user, kind, token))


def forget_upload(user, kind: str, token: str) -> None:
    cache.delete(_upload_key(user, kind, token))


def _upload_key(user, kind, token) -> str:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return f"csv-import:{kind}:{user.pk}:{digest}"
