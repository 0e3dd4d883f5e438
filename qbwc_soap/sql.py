"""The QBWC hot path's SQL: a few statements per SOAP call, each compiled once per process.

A QBWC round trip handles a batch of organizations in a few milliseconds, and building the same
ORM querysets over and over (and model instances for every row) cost several times the database
work itself. So the statements used on every sendRequestXML/receiveResponseXML are generated here
once — from the models' metadata or from the ORM itself, so they follow the schema and the routing
rule — and then executed with plain cursors, rows read as tuples.

Everything here runs on PostgreSQL and SQLite (both have INSERT … ON CONFLICT DO UPDATE).
"""

import json

from django.db import DEFAULT_DB_ALIAS, connection, connections

_cache: dict = {}
_CACHE_LIMIT = 512
_vendor = None


def vendor() -> str:
    """The database's vendor ("postgresql", "sqlite"), fixed for the life of the process; read
    once, since every `connection.…` goes through a thread-local lookup."""
    global _vendor
    if _vendor is None:
        _vendor = connection.vendor
    return _vendor


def cached(key, build):
    """The value cached for `key` in this process, built by `build()` on first use."""
    key = (vendor(), *key)
    try:
        return _cache[key]
    except KeyError:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        value = _cache[key] = build()
        return value


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def converters(fields, alias=None):
    """Per column, the database-to-Python converters the ORM would apply (SQLite datetimes,
    booleans, JSON …), as (converters, expression) pairs."""
    out = []
    for field in fields:
        column = field.get_col(alias or field.model._meta.db_table)
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        out.append((found, column))
    return out


def convert(row, column_converters) -> list:
    values = list(row)
    for i, (found, column) in enumerate(column_converters):
        if found:
            value = values[i]
            for converter in found:
                value = converter(value, column, connection)
            values[i] = value
    return values


try:
    import psycopg
except ImportError:  # psycopg2 or no PostgreSQL driver: Django's cursors only
    psycopg = None


if psycopg is not None:
    from psycopg.adapt import Loader
    from psycopg.pq import Format

    class _JsonbText(Loader):
        """jsonb in binary results as the text Django's JSONField expects (as Django's own text
        loader gives it), not parsed."""

        format = Format.BINARY

        def load(self, data):
            return bytes(data[1:]).decode()  # a version byte, then the JSON text

    class _PreparedCursor(psycopg.Cursor):
        """Server-side binding, every statement prepared on its first use on a connection, and
        results in binary.

        Django's psycopg cursors bind client-side (parameters merged into the SQL text), so
        PostgreSQL parses and plans every statement on every call; for the hot path's few
        statements, each run thousands of times a session, that is most of their cost. psycopg
        keeps the prepared statements per connection (at most `prepared_max`), keyed by the SQL
        text and parameter types. Binary results are read several times faster than text (no
        parsing of timestamps and numbers); Django itself only ever reads text results, so the
        binary loaders registered here change nothing for it."""

        prepare = True  # set per cursor by _cursor()

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=self.prepare, binary=True)


_NEVER = 2**31 - 1


def _cursor(prepare=True):
    """A cursor for the hot path's statements: Django's own (so it is logged and counted like
    any other), over a prepared-statement cursor on PostgreSQL with psycopg 3 (`prepare`: see
    fetchall)."""
    db = connections[DEFAULT_DB_ALIAS]
    if psycopg is not None and vendor() == "postgresql":
        db.ensure_connection()
        raw = db.connection
        if isinstance(raw, psycopg.Connection):
            if not getattr(raw, "_qbwc_loaders", False):
                raw.adapters.register_loader("jsonb", _JsonbText)
                raw._qbwc_loaders = True
            if raw.prepare_threshold is None:
                # Django turns psycopg's automatic preparing off (None), which also refuses
                # prepare=True; a threshold no statement reaches keeps automatic preparing off
                # (Django's own cursors bind client-side and never prepare anyway) and lets the
                # hot path prepare its statements.
                raw.prepare_threshold = _NEVER
            cursor = _PreparedCursor(raw)
            cursor.prepare = prepare
            return db._prepare_cursor(cursor)
    return db.cursor()


def execute(sql: str, params=()):
    with _cursor() as cursor:
        cursor.execute(sql, params)


def fetchall(sql: str, params=(), prepare=True) -> list:
    """The rows of `sql`. `prepare=False` for a statement whose best plan depends on its
    parameters and on table sizes that keep changing (PostgreSQL would otherwise settle on one
    generic plan for a prepared statement, made when the table was small)."""
    with _cursor(prepare) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def prep(field, value):
    """A Python value as the database takes it for `field` (what Model.save() would send)."""
    return field.get_db_prep_save(value, connection)


def update(instance, field_names, then_upsert=None) -> None:
    """UPDATE these fields of one row: what save(update_fields=…) does, without the ORM's
    per-call query building. `then_upsert` — (model, columns, rows, conflict, update_columns) —
    writes rows with upsert() in the same statement on PostgreSQL (a data-modifying WITH), so the
    two writes cost one round trip to the database; elsewhere as a second statement."""
    model = type(instance)

    def build():
        meta = model._meta
        fields = [meta.get_field(name) for name in field_names]
        assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
        sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
        return sql, fields

    sql, fields = cached(("update", model, tuple(field_names)), build)
    params = [prep(field, getattr(instance, field.attname)) for field in fields]
    params.append(instance.pk)
    if then_upsert and then_upsert[2] and vendor() == "postgresql":
        upsert_sql, upsert_params = _upsert_statements(*then_upsert)[0]
        execute(f"WITH written AS ({upsert_sql}) {sql}", [*upsert_params, *params])
        return
    if then_upsert:
        upsert(*then_upsert)
    execute(sql, params)


def _json_value(value):
    return value.isoformat()  # datetimes; everything else json handles


def upsert(model, columns, rows, conflict, update_columns) -> None:
    """One INSERT … ON CONFLICT (conflict) DO UPDATE SET update_columns = the new values, for
    `rows` (tuples of database-ready values in `columns` order).

    On PostgreSQL the rows travel as one JSON parameter (jsonb_to_recordset), so the statement
    text is the same whatever the batch size and the driver binds one value, not one per cell."""
    for statement, params in _upsert_statements(model, columns, rows, conflict, update_columns):
        execute(statement, params)


def _upsert_statements(model, columns, rows, conflict, update_columns) -> list:
    if not rows:
        return []
    postgres = vendor() == "postgresql"

    def build():
        meta = model._meta
        fields = [meta.get_field(c) for c in columns]
        names = ", ".join(quote(f.column) for f in fields)
        target = ", ".join(quote(meta.get_field(c).column) for c in conflict)
        sets = ", ".join(
            f"{quote(meta.get_field(c).column)} = excluded.{quote(meta.get_field(c).column)}"
            for c in update_columns
        )
        head = f"INSERT INTO {quote(meta.db_table)} ({names}) "
        tail = f" ON CONFLICT ({target}) DO UPDATE SET {sets}"
        if postgres:
            types = ", ".join(f"{quote(f.column)} {f.db_type(connection)}" for f in fields)
            statement = f"SELECT {names} FROM jsonb_to_recordset(%s::jsonb) AS r({types})"
            return head + statement + tail, [f.column for f in fields]
        row = "(" + ", ".join(["%s"] * len(columns)) + ")"
        return head + "VALUES ", row, tail

    built = cached(("upsert", model, tuple(columns), tuple(conflict), tuple(update_columns)), build)
    if postgres:
        statement, keys = built
        objects = [dict(zip(keys, row, strict=True)) for row in rows]
        return [(statement, [json.dumps(objects, default=_json_value)])]
    head, row, tail = built
    limit = connection.features.max_query_params or 65535
    per_statement = max(1, limit // len(columns))
    statements = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        params = [value for values in chunk for value in values]
        statements.append((head + ", ".join([row] * len(chunk)) + tail, params))
    return statements
