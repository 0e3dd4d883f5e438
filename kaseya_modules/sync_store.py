"""How a module sync reads what is stored and writes what changed: the whole stored state read
in one statement (alongside the fetch, on PostgreSQL), PostgreSQL's COPY and UPDATE FROM fast
paths, and the generic ORM path every other database takes."""

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice

from django.db import connection

from mapping_portal.lib.bulk import BackgroundRead, can_overlap  # noqa: F401 (sync.py uses it)

from .models import KaseyaModule, ModuleOrganization, ModuleUsage
from .sources import FetchedOrganization

log = logging.getLogger(__name__)

BATCH = 1000


def depth_order(fetched: list[FetchedOrganization]) -> list[list[FetchedOrganization]]:
    """Organizations grouped by depth (roots first), so every parent is stored before its
    children and new rows get their parent in the INSERT itself. A parent outside `fetched`
    counts as already stored. Parents were checked acyclic."""
    by_id = {item.external_id: item for item in fetched}
    depth: dict[str, int] = {}
    for item in fetched:
        chain = []
        node = item
        while node.external_id not in depth:
            chain.append(node)
            if node.parent_id is None or node.parent_id not in by_id:
                depth[node.external_id] = 0
                chain.pop()
                break
            node = by_id[node.parent_id]
        base = depth[node.external_id]
        for offset, member in enumerate(reversed(chain), start=1):
            depth[member.external_id] = base + offset
    levels: list[list[FetchedOrganization]] = [
        [] for _ in range(max(depth.values(), default=-1) + 1)
    ]
    for item in fetched:
        levels[depth[item.external_id]].append(item)
    return levels


# --- the stored state, compared whole (PostgreSQL) ---------------------------------------------


@dataclass
class Snapshot:
    """A module's active organizations as the feed would describe them — external_id -> the
    FetchedOrganization-shaped tuple (external id, name, parent's external id, kind, usage on
    `day`, PSA id) — read in one statement, so an unchanged feed is recognised by one comparison
    in C."""

    day: date
    rows: dict[str, tuple]
    usage_count: int

    def matches(self, fetched: list[FetchedOrganization]) -> bool:
        """True when `fetched` is exactly the stored active organizations with today's usage.
        Ids in a fetch are unique, so equal sizes and every row equal leaves no row gone and no
        inactive row seen again. Anything else (even usage the feed no longer reports) goes to
        the row-by-row comparison, which decides what to write."""
        rows = self.rows
        if len(rows) != len(fetched):
            return False
        get = rows.get
        return [get(item[0]) for item in fetched] == fetched


def read_snapshot(module: KaseyaModule, day: date) -> Snapshot:
    """The module's active organizations and their usage on `day`, in one statement. Whole
    quantities come back as int8, so the common case builds no Decimal; the rows become tuples
    through zip and one comprehension, cheap enough not to slow the fetch it runs alongside."""
    import psycopg  # PostgreSQL only; SQLite (the demo) never gets here

    organizations = q(ModuleOrganization._meta.db_table)
    connection.ensure_connection()
    # A plain psycopg cursor, for binary results: Django's client-side cursor parses every value
    # from text, which costs more than the query for 100,000s of rows.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            "SELECT o.external_id, o.name, o.parent_id, o.kind, u.billing_type, "
            "CASE WHEN u.quantity = trunc(u.quantity) THEN u.quantity::int8 END, "
            "CASE WHEN u.quantity <> trunc(u.quantity) THEN u.quantity END, o.id, o.psa_id "
            f"FROM {organizations} o "
            f"LEFT JOIN {q(ModuleUsage._meta.db_table)} u "
            "ON u.module_organization_id = o.id AND u.day = %s "
            "WHERE o.module_id = %s AND o.active",
            [day, module.pk],
            binary=True,
        )
        fetched = cursor.fetchall()
    if not fetched:
        return Snapshot(day, {}, 0)
    empty = FetchedOrganization._field_defaults["usage"]
    external_ids, names, parent_pks, kinds, codes, wholes, fractions, pks, psa_ids = zip(
        *fetched, strict=True
    )
    # Parents' external ids from the active rows themselves (cheaper than a self-join). A parent
    # that is not active maps to None, which no fetch that lists the parent can equal.
    external_by_pk = dict(zip(pks, external_ids, strict=True))
    parents = list(map(external_by_pk.get, parent_pks))
    usage_count = len(codes) - codes.count(None)
    usage = [
        empty if code is None else {code: fraction if whole is None else whole}
        for code, whole, fraction in zip(codes, wholes, fractions, strict=True)
    ]
    rows = dict(
        zip(
            external_ids,
            zip(external_ids, names, parents, kinds, usage, psa_ids, strict=True),
            strict=True,
        )
    )
    if len(rows) < len(fetched):  # some organizations have several billing types: merge them
        rows = {}
        for row in zip(external_ids, names, parents, kinds, usage, psa_ids, strict=True):
            stored = rows.get(row[0])
            if stored is None:
                rows[row[0]] = row if row[4] is empty else (*row[:4], dict(row[4]), row[5])
            elif row[4] is not empty:
                stored[4].update(row[4])
    return Snapshot(day, rows, usage_count)


class SnapshotReader(BackgroundRead):
    """read_snapshot() in a thread with its own database connection, closed when it is done."""

    def __init__(self, module: KaseyaModule, day: date):
        self.module, self.day = module, day
        super().__init__(read_snapshot, module, day, name="kaseya-sync-snapshot")


def stored_usage_rows(module, day) -> list[tuple]:
    """(module organization pk, billing type, quantity as a Decimal) of `module` on `day`."""
    if connection.vendor == "postgresql":
        return select(
            "SELECT u.module_organization_id, u.billing_type, u.quantity "
            f"FROM {q(ModuleUsage._meta.db_table)} u "
            f"JOIN {q(ModuleOrganization._meta.db_table)} o ON o.id = u.module_organization_id "
            "WHERE o.module_id = %s AND u.day = %s",
            [module.pk, day],
        )
    # Elsewhere (SQLite keeps decimals as floats) the ORM's converters give exact Decimals.
    return list(
        ModuleUsage.objects.filter(module_organization__module=module, day=day).values_list(
            "module_organization_id", "billing_type", "quantity"
        )
    )


def stored_usage_pks(module, day) -> dict[tuple[int, str], int]:
    """(module organization pk, billing type) -> usage pk on `day`: only read when a quantity
    changed, so an unchanged re-sync does not carry them."""
    rows = ModuleUsage.objects.filter(module_organization__module=module, day=day).values_list(
        "module_organization_id", "billing_type", "pk"
    )
    return {(organization_pk, billing_type): pk for organization_pk, billing_type, pk in rows}


def q(name: str) -> str:
    return connection.ops.quote_name(name)


def select(sql: str, params) -> list[tuple]:
    """Rows as plain tuples: for tens of thousands of rows the ORM's per-row work would cost more
    than the query."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# --- PostgreSQL: COPY in text format -----------------------------------------------------------

COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
COPY_CHUNK = 10_000  # lines per write: bounded memory whatever the module's size


def copy_texts(values: list[str]) -> list[str]:
    """`values` escaped for COPY's text format. Checked once for the whole list, since the
    characters that need it (backslash, tab, newline, carriage return) are rare in names."""
    if COPY_SPECIAL.search("".join(values)):
        return [value.translate(COPY_ESCAPES) for value in values]
    return values


def copy_field(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(COPY_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def copy_rows(rows) -> Iterator[str]:
    """Lines of COPY text for tuples of any values (the generic, slower formatter)."""
    for row in rows:
        yield "\t".join(map(copy_field, row))


def copy_into(table: str, columns: list[str], lines: Iterable[str]) -> None:
    """COPY `lines` (COPY text, without their newline) into `table` inside the current
    transaction: several times faster than INSERT. Written in chunks, so memory stays bounded."""
    sql = f"COPY {q(table)} ({', '.join(map(q, columns))}) FROM STDIN"
    lines = iter(lines)
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        chunk = list(islice(lines, COPY_CHUNK))
        while chunk:
            chunk.append("")
            copy.write("\n".join(chunk))
            chunk = list(islice(lines, COPY_CHUNK))


def update_from_temp(table: str, columns: list[tuple[str, str]], rows, assignments: str, params=()):
    """Many rows' new values in one UPDATE: COPY (id, values…) into a temporary table, then
    `UPDATE table SET … FROM it`. `assignments` uses `t.column` for the new values."""
    scratch = f"sync_{table}_changes"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {q(scratch)}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {q(scratch)} (id bigint PRIMARY KEY, "
            + ", ".join(f"{q(name)} {kind}" for name, kind in columns)
            + ") ON COMMIT DROP"
        )
        copy_into(scratch, ["id", *(name for name, _ in columns)], copy_rows(rows))
        cursor.execute(
            f"UPDATE {q(table)} SET {assignments} FROM {q(scratch)} t WHERE {q(table)}.id = t.id",
            list(params),
        )
        cursor.execute(f"DROP TABLE {q(scratch)}")


def reserve_ids(model, count: int) -> list[int]:
    """`count` fresh primary keys from the table's own sequence, so new rows can be COPYed with
    their ids, and children with their parents' ids, in one statement."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [model._meta.db_table])
        sequence = cursor.fetchone()[0]
        cursor.execute(
            "SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [sequence, count]
        )
        return [row[0] for row in cursor.fetchall()]


# --- writes: a PostgreSQL fast path and the generic ORM path -----------------------------------


def insert_organizations(module, new, pk_by_external, now) -> dict[str, int]:
    """Insert the `new` FetchedOrganizations; returns their primary keys by external id. Parents
    are either stored already (in `pk_by_external`) or among `new`."""
    if connection.vendor == "postgresql":
        ids = reserve_ids(ModuleOrganization, len(new))
        external_ids = [item[0] for item in new]
        created = dict(zip(external_ids, ids, strict=True))
        known = {**pk_by_external, **created} if pk_by_external else created
        parents = ["\\N" if item[2] is None else known[item[2]] for item in new]
        seen_at = now.isoformat()
        tail = f"t\t{seen_at}\t{seen_at}\tf"
        psa_ids = ["\\N" if item[5] is None else item[5] for item in new]
        copy_into(
            ModuleOrganization._meta.db_table,
            [
                "id",
                "module_id",
                "external_id",
                "name",
                "parent_id",
                "kind",
                "active",
                "first_seen_at",
                "last_seen_at",
                "ignored",
                "psa_id",
            ],
            (
                f"{pk}\t{module.pk}\t{external_id}\t{name}\t{parent}\t{item[3]}\t{tail}\t{psa}"
                for pk, external_id, name, parent, item, psa in zip(
                    ids,
                    copy_texts(external_ids),
                    copy_texts([item[1] for item in new]),
                    parents,
                    new,
                    psa_ids,
                    strict=True,
                )
            ),
        )
        return created
    # Parents before children, so each row gets its parent in the INSERT itself.
    created: dict[str, int] = {}
    ready = [i for i in new if i.parent_id is None or i.parent_id in pk_by_external]
    waiting = [i for i in new if not (i.parent_id is None or i.parent_id in pk_by_external)]
    for level in [ready, *depth_order(waiting)]:
        for start in range(0, len(level), BATCH):
            batch = ModuleOrganization.objects.bulk_create(
                ModuleOrganization(
                    module=module,
                    external_id=item.external_id,
                    name=item.name,
                    parent_id=(
                        None
                        if item.parent_id is None
                        else pk_by_external.get(item.parent_id) or created[item.parent_id]
                    ),
                    kind=item.kind,
                    psa_id=item.psa_id,
                    active=True,
                    first_seen_at=now,
                    last_seen_at=now,
                )
                for item in level[start : start + BATCH]
            )
            created.update((row.external_id, row.pk) for row in batch)
    return created


def update_organizations(changed: list[tuple], now) -> None:
    """(pk, name, parent pk, kind, PSA id) rows: new values, active again, seen now."""
    if connection.vendor == "postgresql":
        update_from_temp(
            ModuleOrganization._meta.db_table,
            [("name", "text"), ("parent_id", "bigint"), ("kind", "text"), ("psa_id", "bigint")],
            changed,
            "name = t.name, parent_id = t.parent_id, kind = t.kind, psa_id = t.psa_id, "
            "active = true, last_seen_at = %s",
            [now],
        )
        return
    ModuleOrganization.objects.bulk_update(
        [
            ModuleOrganization(
                pk=pk,
                name=name,
                parent_id=parent,
                kind=kind,
                psa_id=psa_id,
                active=True,
                last_seen_at=now,
            )
            for pk, name, parent, kind, psa_id in changed
        ],
        ["name", "parent", "kind", "psa_id", "active", "last_seen_at"],
        batch_size=BATCH,
    )


def deactivate_organizations(pks: list[int], last_seen) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {q(ModuleOrganization._meta.db_table)} SET active = false, "
                "last_seen_at = %s WHERE id = ANY(%s)",
                [last_seen, pks],
            )
        return
    for start in range(0, len(pks), BATCH):
        ModuleOrganization.objects.filter(pk__in=pks[start : start + BATCH]).update(
            active=False, last_seen_at=last_seen
        )


def insert_usage(rows: list[tuple], day) -> None:
    """Insert (module organization pk, billing type, quantity) rows for `day`."""
    if connection.vendor == "postgresql":
        codes = {row[1] for row in rows}
        escaped = dict(zip(codes, copy_texts(list(codes)), strict=True))
        text_day = day.isoformat()
        copy_into(
            ModuleUsage._meta.db_table,
            ["module_organization_id", "billing_type", "day", "quantity"],
            (f"{pk}\t{escaped[code]}\t{text_day}\t{quantity}" for pk, code, quantity in rows),
        )
        return
    ModuleUsage.objects.bulk_create(
        (
            ModuleUsage(module_organization_id=o, billing_type=b, day=day, quantity=q)
            for o, b, q in rows
        ),
        batch_size=BATCH,
    )


def update_usage(changed: list[tuple]) -> None:
    """(pk, quantity) rows."""
    if connection.vendor == "postgresql":
        update_from_temp(
            ModuleUsage._meta.db_table, [("quantity", "numeric")], changed, "quantity = t.quantity"
        )
        return
    ModuleUsage.objects.bulk_update(
        [ModuleUsage(pk=pk, quantity=quantity) for pk, quantity in changed],
        ["quantity"],
        batch_size=BATCH,
    )
