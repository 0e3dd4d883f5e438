"""Import organizations from CSV: every bad row is reported with its line number and reason, and
a file with any bad row changes nothing (all-or-nothing)."""

import csv
import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from mapping_portal.lib.csv_io import MAX_IMPORT_BYTES
from mapping_portal.lib.text import control_character, control_character_problem

from .models import BILLING_FIELDS, Organization, OrganizationType
from .signals import announce_organizations_changed

# Column name in the file → model field. Header names are matched case-insensitively.
COLUMNS = {
    "autotask_id": "autotask_id",
    "name": "name",
    "type": "org_type",
    "org_type": "org_type",
    "parent_autotask_id": "parent",
    "active": "active",
    "address1": "address1",
    "address2": "address2",
    "city": "city",
    "state": "state",
    "postal_code": "postal_code",
    "country": "country",
    "phone": "phone",
    "email": "email",
}
REQUIRED = ("autotask_id", "name")
TEXT_FIELDS = ("name", *BILLING_FIELDS)
_TYPES = {c.value: c.value for c in OrganizationType} | {
    c.label.lower(): c.value for c in OrganizationType
}
_BOOLS = {
    "": True,
    "1": True,
    "true": True,
    "yes": True,
    "y": True,
    "active": True,
    "0": False,
    "false": False,
    "no": False,
    "n": False,
    "inactive": False,
}


@dataclass
class RowError:
    line: int
    message: str

    def __str__(self):
        return f"Line {self.line}: {self.message}"


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _decode(data: bytes, result: ImportResult) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        result.errors.append(
            RowError(1, f"The file is not UTF-8 text (byte {exc.start}). Save it as CSV UTF-8.")
        )
        return None


def parse(data: bytes) -> tuple[list[dict], ImportResult]:
    """Rows as dicts of model values, plus the errors found. Nothing touches the database
    except the look-up of parents that are not in the file."""
    result = ImportResult()
    if len(data) > MAX_IMPORT_BYTES:
        result.errors.append(RowError(0, "The file is larger than 5 MB. Split it into parts."))
        return [], result
    text = _decode(data, result)
    if text is None:
        return [], result
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        result.errors.append(RowError(1, "The file is empty."))
        return [], result
    except csv.Error as exc:
        result.errors.append(RowError(1, f"Not readable as CSV: {exc}"))
        return [], result
    names = [h.strip().lower() for h in header]
    if control_character("".join(names)) is not None:
        result.errors.append(RowError(1, "The header row contains a control character."))
        return [], result
    unknown = [h for h in names if h not in COLUMNS]
    missing = [c for c in REQUIRED if c not in names]
    if unknown:
        result.errors.append(
            RowError(1, f"Unknown column(s): {', '.join(unknown)}. Known: {', '.join(COLUMNS)}.")
        )
    if missing:
        result.errors.append(RowError(1, f"Missing required column(s): {', '.join(missing)}."))
    if len(set(names)) != len(names):
        result.errors.append(RowError(1, "A column appears more than once."))
    if result.errors:
        return [], result

    max_lengths = {f: Organization._meta.get_field(f).max_length for f in TEXT_FIELDS}
    rows: list[dict] = []
    seen: dict[int, int] = {}
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(names):
                result.errors.append(
                    RowError(line, f"Expected {len(names)} values, found {len(values)}.")
                )
                continue
            raw = {COLUMNS[n]: v.strip() for n, v in zip(names, values, strict=True)}
            row, problems = _clean_row(raw, max_lengths)
            if control_character("".join(values)) is not None:
                problems += [
                    problem
                    for n, v in zip(names, values, strict=True)
                    if (problem := control_character_problem(v, f"The {n} column"))
                ]
            if row.get("autotask_id") is not None:
                first = seen.get(row["autotask_id"])
                if first is not None:
                    problems.append(
                        f"Autotask ID {row['autotask_id']} already appears on line {first}."
                    )
                else:
                    seen[row["autotask_id"]] = line
            for problem in problems:
                result.errors.append(RowError(line, problem))
            row["_line"] = line
            rows.append(row)
    except csv.Error as exc:
        result.errors.append(RowError(reader.line_num, f"Not readable as CSV: {exc}"))
        return [], result
    if not rows and not result.errors:
        result.errors.append(RowError(2, "The file has a header but no rows."))
    _check_parents(rows, result)
    result.errors.sort(key=lambda e: e.line)
    return rows, result


def _clean_row(raw: dict, max_lengths: dict) -> tuple[dict, list[str]]:
    problems = []
    row: dict = {}
    autotask_id = raw.get("autotask_id", "")
    if not autotask_id.isdigit() or int(autotask_id) <= 0 or int(autotask_id) > 2**62:
        problems.append(f"Autotask ID must be a positive whole number (got {autotask_id!r}).")
        row["autotask_id"] = None
    else:
        row["autotask_id"] = int(autotask_id)
    if not raw.get("name"):
        problems.append("Name is empty.")
    for name in TEXT_FIELDS:
        if name in raw:
            value = raw[name]
            if len(value) > max_lengths[name]:
                problems.append(f"{name} is longer than {max_lengths[name]} characters.")
            row[name] = value
    if "org_type" in raw:
        org_type = (
            _TYPES.get(raw["org_type"].lower()) if raw["org_type"] else OrganizationType.CUSTOMER
        )
        if org_type is None:
            problems.append(
                f"Unknown type {raw['org_type']!r}; use one of "
                f"{', '.join(c.label for c in OrganizationType)}."
            )
        row["org_type"] = org_type
    if "active" in raw:
        active = _BOOLS.get(raw["active"].lower())
        if active is None:
            problems.append(f"Active must be yes or no (got {raw['active']!r}).")
        row["active"] = active
    if raw.get("email"):
        try:
            validate_email(raw["email"])
        except ValidationError:
            problems.append(f"{raw['email']!r} is not a valid email address.")
    if "parent" in raw:
        parent = raw["parent"]
        if parent and not parent.isdigit():
            problems.append(f"Parent Autotask ID must be a whole number (got {parent!r}).")
            row["parent"] = None
        else:
            row["parent"] = int(parent) if parent else None
            if row["parent"] is not None and row["parent"] == row.get("autotask_id"):
                problems.append("An organization cannot be its own parent.")
    return row, problems


def _check_parents(rows: list[dict], result: ImportResult) -> None:
    in_file = {row["autotask_id"]: row for row in rows if row.get("autotask_id")}
    wanted = {row["parent"] for row in rows if row.get("parent")} - set(in_file)
    known = set()
    for chunk in _chunks(sorted(wanted), 5000):
        known.update(
            Organization.objects.filter(autotask_id__in=chunk).values_list("autotask_id", flat=True)
        )
    for row in rows:
        parent = row.get("parent")
        if parent and parent not in in_file and parent not in known:
            result.errors.append(
                RowError(
                    row["_line"],
                    f"Parent Autotask ID {parent} is neither in the file nor in the portal.",
                )
            )
    # A parent loop inside the file (A → B → A) would leave no root.
    line_of = {autotask_id: row["_line"] for autotask_id, row in in_file.items()}
    parent_of = {
        autotask_id: row["parent"]
        for autotask_id, row in in_file.items()
        if row.get("parent") in in_file
    }
    for loop in parent_loops(parent_of):
        shown = " → ".join(map(str, loop[:LOOP_SHOWN]))
        if len(loop) > LOOP_SHOWN:
            shown += f" → … ({len(loop)} organizations)"
        message = f"Parent links form a loop: {shown} → {loop[0]}."
        result.errors.extend(RowError(line_of[member], message) for member in loop)


LOOP_SHOWN = 10  # ids named in a loop's message; a long loop is reported on each of its lines


def parent_loops(parent_of: dict[int, int]) -> list[list[int]]:
    """Every loop in `parent_of` (child → parent, both in the file), each as its ids from child to
    parent. Linear: each id is walked once, since a walk stops at an id an earlier walk covered."""
    done: set[int] = set()
    loops = []
    for start in parent_of:
        if start in done:
            continue
        position: dict[int, int] = {}  # this walk's ids and where they come on it
        path: list[int] = []
        node = start
        while node in parent_of and node not in done:
            if node in position:  # back on this walk's own path
                loops.append(path[position[node] :])
                break
            position[node] = len(path)
            path.append(node)
            node = parent_of[node]
        done.update(path)
    return loops


def _chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def import_organizations(data: bytes) -> ImportResult:
    """Create or update organizations (matched by Autotask ID) from CSV bytes; all or nothing."""
    rows, result = parse(data)
    if not result.ok:
        return result
    with transaction.atomic():
        ids = [row["autotask_id"] for row in rows]
        existing = {}
        for chunk in _chunks(ids, 5000):
            existing.update(
                {o.autotask_id: o for o in Organization.objects.filter(autotask_id__in=chunk)}
            )
        to_create, to_update, update_fields = [], [], set()
        for row in rows:
            values = {k: v for k, v in row.items() if k not in ("parent", "_line", "autotask_id")}
            org = existing.get(row["autotask_id"])
            if org is None:
                to_create.append(Organization(autotask_id=row["autotask_id"], **values))
                continue
            changed = {k for k, v in values.items() if getattr(org, k) != v}
            if changed:
                for k in changed:
                    setattr(org, k, values[k])
                update_fields |= changed
                to_update.append(org)
            else:
                result.unchanged += 1
        Organization.objects.bulk_create(to_create, batch_size=1000)
        if to_update:
            Organization.objects.bulk_update(to_update, sorted(update_fields), batch_size=1000)
        result.created, result.updated = len(to_create), len(to_update)

        # Parents last, once every organization in the file exists.
        with_parent = [row for row in rows if "parent" in row]
        if with_parent:
            needed = {row["parent"] for row in with_parent if row["parent"]} | {
                row["autotask_id"] for row in with_parent
            }
            pk_by_id = {}
            for chunk in _chunks(sorted(needed), 5000):
                pk_by_id.update(
                    Organization.objects.filter(autotask_id__in=chunk).values_list(
                        "autotask_id", "pk"
                    )
                )
            orgs = []
            for chunk in _chunks([row["autotask_id"] for row in with_parent], 5000):
                orgs.extend(
                    Organization.objects.filter(autotask_id__in=chunk).only(
                        "pk", "autotask_id", "parent_id"
                    )
                )
            parent_of = {row["autotask_id"]: row["parent"] for row in with_parent}
            changed = []
            for org in orgs:
                parent_pk = (
                    pk_by_id.get(parent_of[org.autotask_id]) if parent_of[org.autotask_id] else None
                )
                if org.parent_id != parent_pk:
                    org.parent_id = parent_pk
                    changed.append(org)
            if changed:
                Organization.objects.bulk_update(changed, ["parent"], batch_size=1000)
                changed_ids = {o.autotask_id for o in changed}
                newly = {o.autotask_id for o in to_create}
                # A parent change alone still counts as an update of an existing organization.
                extra = len(changed_ids - newly - {o.autotask_id for o in to_update})
                result.updated += extra
                result.unchanged -= extra
        if result.created or result.updated:
            announce_organizations_changed(Organization)
    return result
