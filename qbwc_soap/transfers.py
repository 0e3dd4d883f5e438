"""What a connector's QuickBooks company file is sent, and how each response status is applied.

State lives per (organization, connector) in CustomerTransfer and per ticket in QbwcSession, never
in process memory, so any number of QBWC clients may poll at once and each ticket only ever sees
the organizations `organizations_for(its connector)` returns. What a request in flight was for
travels in its requestID (signed; see _request_ids), so sendRequestXML only reads and
receiveResponseXML writes the outcome once QuickBooks has answered.
"""

import hashlib
import hmac
import logging

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, FilteredRelation, Q
from django.utils import timezone

from connectors.services import organizations_for
from organizations.models import BILLING_FIELDS, Organization

from . import qbxml, sql
from .models import CustomerTransfer, QbwcSession

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 25
# A follow-up chain (add → 3100 → query → mod …) gives up after this many extra requests, so a
# name QuickBooks keeps refusing cannot loop a session forever.
MAX_FOLLOWUPS = 3
_SCAN_CHUNK = 500
_ORG_FIELDS = ("pk", "autotask_id", "name", *BILLING_FIELDS)
_T_COLUMNS = ("list_id", "edit_sequence", "fingerprint", "next_action", "sent_at")
_T_FIELDS = tuple(f"t_{name}" for name in _T_COLUMNS)
# Stand-in compiled into the cached candidate query, replaced by the real bound on each call.
_PK_BOUND = -918_273_645_546_372_819
NOOP_REQUEST_ID = "noop"
_STATE_FIELDS = [
    "list_id",
    "edit_sequence",
    "qb_name",
    "fingerprint",
    "sent_at",
    "transferred_at",
    "next_action",
    "followups",
    "last_error_code",
    "last_error",
    "adjustments",
]

# Every column of a CustomerTransfer row but its id, in the order rows are written.
_ROW_FIELDS = ["organization", "connector", *_STATE_FIELDS]
_CONFLICT = ["organization", "connector"]

Next = CustomerTransfer.Next


class _Transfer:
    """A CustomerTransfer's state as read and written by the hot path (no model instance)."""

    __slots__ = ("organization_id", "connector_id", *_STATE_FIELDS)

    def __init__(self, organization_id, connector_id, **state):
        self.organization_id = organization_id
        self.connector_id = connector_id
        self.list_id = ""
        self.edit_sequence = ""
        self.qb_name = ""
        self.fingerprint = ""
        self.sent_at = None
        self.transferred_at = None
        self.next_action = ""
        self.followups = 0
        self.last_error_code = None
        self.last_error = ""
        self.adjustments = ""
        for name, value in state.items():
            setattr(self, name, value)


def _rows(transfers) -> list[tuple]:
    """Transfers (model instances or _Transfer) as database values in _ROW_FIELDS order."""
    if sql.vendor() == "postgresql":
        adapt = None  # datetimes go as they are (sql.upsert sends them as ISO 8601)
    else:
        adapt = connection.ops.adapt_datetimefield_value
    rows = []
    for t in transfers:
        sent_at, transferred_at = t.sent_at, t.transferred_at
        if adapt is not None:
            sent_at, transferred_at = adapt(sent_at), adapt(transferred_at)
        rows.append(
            (
                t.organization_id,
                t.connector_id,
                t.list_id,
                t.edit_sequence,
                t.qb_name,
                t.fingerprint,
                sent_at,
                transferred_at,
                t.next_action,
                t.followups,
                t.last_error_code,
                t.last_error,
                t.adjustments,
            )
        )
    return rows


def _writes(transfers, update_fields) -> tuple:
    """sql.upsert's arguments: insert these transfers, or update `update_fields` of the rows that
    exist."""
    return (CustomerTransfer, _ROW_FIELDS, _rows(transfers), _CONFLICT, update_fields)


def batch_size() -> int:
    return max(1, int(getattr(settings, "QBWC_BATCH_SIZE", DEFAULT_BATCH_SIZE)))


class _Org:
    """One candidate row: the organization's fields and its transfer state for the connector
    (t_… are None when it has none)."""

    __slots__ = (*_ORG_FIELDS, *_T_FIELDS)

    def __init__(self, row):
        for name, value in zip(self.__slots__, row, strict=True):
            setattr(self, name, value)


def _candidate_query(connector, limit: int):
    """(sql, params, index of the pk bound, column converters) for the next `limit` organizations
    routed to `connector` past a pk, with the connector's transfer state joined; built once per
    process. Which organizations are routed comes from `organizations_for`, compiled by the ORM,
    so it is exactly the routing rule.

    The page of routed pks is picked first (an index range scan on the primary key that stops
    after `limit` rows), and only those rows are read and joined to their transfer state, each by
    its unique index: planned as one join, PostgreSQL may read every remaining organization, or
    every transfer of the connector, on each call."""

    def build():
        page = organizations_for(connector).filter(pk__gt=_PK_BOUND).order_by("pk")
        page = page.values("pk")[:limit]
        page_sql, page_params = page.query.get_compiler(connection=connection).as_sql()
        org_meta, t_meta = Organization._meta, CustomerTransfer._meta
        org_fields = [
            org_meta.pk if name == "pk" else org_meta.get_field(name) for name in _ORG_FIELDS
        ]
        t_fields = [t_meta.get_field(name) for name in _T_COLUMNS]
        t_columns = ", ".join(sql.quote(f.column) for f in t_fields)
        t_org = sql.quote(t_meta.get_field("organization").column)
        t_connector = sql.quote(t_meta.get_field("connector").column)
        o_pk = f"o.{sql.quote(org_meta.pk.column)}"
        head = (
            "SELECT "
            + ", ".join(f"o.{sql.quote(f.column)}" for f in org_fields)
            + ", "
            + ", ".join(f"t.{sql.quote(f.column)}" for f in t_fields)
            + f" FROM {sql.quote(org_meta.db_table)} o "
        )
        if connection.vendor == "postgresql":
            query = (
                head + f"LEFT JOIN LATERAL (SELECT {t_columns} FROM {sql.quote(t_meta.db_table)} "
                f"WHERE {t_org} = {o_pk} AND {t_connector} = %s LIMIT 1) t ON TRUE "
                f"WHERE {o_pk} = ANY(ARRAY({page_sql})) ORDER BY {o_pk}"
            )
        else:
            query = (
                head + f"LEFT JOIN {sql.quote(t_meta.db_table)} t "
                f"ON t.{t_org} = {o_pk} AND t.{t_connector} = %s "
                f"WHERE {o_pk} IN ({page_sql}) ORDER BY {o_pk}"
            )
        params = [connector.pk, *page_params]
        converters = [([], None)] * len(_ORG_FIELDS) + sql.converters(t_fields)
        return query, tuple(params), params.index(_PK_BOUND), converters

    return sql.cached(("candidates", connector.pk, connector.is_default, limit), build)


def _candidates(connector, after_pk: int, chunk_size: int = _SCAN_CHUNK, sent_since=None):
    """Organizations routed to `connector` (pk > after_pk, in pk order) whose customer in its
    company file is missing or stale, as (org, customer); `org.t_list_id` etc. carry its transfer
    state for this connector (None when it has none). Organizations with a follow-up under way
    are left to the follow-up queue, and those sent since `sent_since` (by this session's
    follow-ups) are not sent twice. One query per `chunk_size` organizations read; later chunks
    read at least _SCAN_CHUNK, so a long run of unchanged organizations costs few queries."""
    while True:
        query, params, pk_at, converters = _candidate_query(connector, chunk_size)
        params = list(params)
        params[pk_at] = after_pk
        rows = sql.fetchall(query, params, prepare=False)
        for row in rows:
            org = _Org(sql.convert(row, converters))
            if org.t_next_action or (sent_since and org.t_sent_at and org.t_sent_at >= sent_since):
                continue
            customer = qbxml.customer_from(org)
            if org.t_fingerprint != customer.fingerprint():
                yield org, customer
        if len(rows) < chunk_size:
            return
        after_pk = rows[-1][0]
        chunk_size = max(chunk_size, _SCAN_CHUNK)


def _followups(connector):
    """Transfers of organizations still routed to `connector` that wait for a follow-up."""
    return (
        CustomerTransfer.objects.filter(connector=connector)
        .exclude(next_action="")
        .filter(organization__in=organizations_for(connector).values("pk"))
    )


def count_work(connector) -> tuple[int, int]:
    """How many organizations `connector`'s company file needs sent now, and how many of them
    wait for a follow-up left over from an earlier session."""
    followups = _followups(connector).count()
    return followups + sum(1 for _ in _candidates(connector, 0)), followups


def _add_to(builder, rid, op, customer, transfer):
    if op == Next.ADD:
        builder.customer_add(rid, customer)
    elif op == Next.MOD:
        builder.customer_mod(rid, transfer.list_id, transfer.edit_sequence, customer)
    elif op == Next.QUERY_NAME:
        builder.customer_query_by_name(rid, transfer.qb_name or customer.name)
    elif op == Next.QUERY_ID:
        builder.customer_query_by_id(rid, transfer.list_id)


# sendRequestXML writes nothing (see request_id): only these, and only when they change — what
# QuickBooks reported on the first call, and a follow-up given up (rare).
FIRST_CALL_FIELDS = [
    "qbxml_version",
    "company_file_path",
    "qb_product",
    "qb_version",
    "qb_company_name",
    "last_seen_at",
]
_GIVE_UP_FIELDS = ["errors", "processed", "last_seen_at"]
_RECEIVE_FIELDS = [
    "cursor",
    "scan_done",
    "progress",
    "followups_waiting",
    "errors",
    "processed",
    "added",
    "updated",
    "linked",
    "last_seen_at",
]

# requestID = "<organization pk>.<op><kind>.<fingerprint prefix>.<batch>.<mac>": everything
# receiveResponseXML needs to apply QuickBooks' answer, so sendRequestXML needs no write.
# <op>: which request; <kind>: s (the scan) or f (a follow-up); <fingerprint prefix>: of the
# values sent; <batch>: how many requests the message holds, then d when the scan is over after
# it and w when more follow-ups wait than it holds. <mac>: an HMAC (SECRET_KEY) over the ticket,
# the session's scan cursor when it was sent and the rest, so QuickBooks (or anyone holding the
# ticket) can only answer what this session asked, in this round trip. qbXML's requestID is a
# free string that QuickBooks echoes back unchanged (PROTOCOL.md §4).
_OP_CODES = {Next.ADD: "a", Next.MOD: "m", Next.QUERY_NAME: "n", Next.QUERY_ID: "i"}
_CODE_OPS = {code: op for op, code in _OP_CODES.items()}
_FP_CHARS = 12
_MAC_CHARS = 16


_mac_keys: dict = {}


def _mac_key() -> bytes:
    """The requestID MAC key, derived from SECRET_KEY (read once per call of the callers)."""
    secret = settings.SECRET_KEY
    key = _mac_keys.get(secret)
    if key is None:
        key = hashlib.sha256(("qbwc-request-id:" + secret).encode()).digest()
        _mac_keys.clear()
        _mac_keys[secret] = key
    return key


def _mac(key: bytes, ticket: str, cursor: int, body: str) -> str:
    """Keyed BLAKE2b (a MAC by construction)."""
    message = f"{ticket}|{cursor}|{body}".encode()
    return hashlib.blake2b(message, key=key, digest_size=_MAC_CHARS // 2).hexdigest()


def _request_ids(session, entries, scan_done: bool, more_followups: bool) -> list[str]:
    batch = f"{len(entries)}{'d' if scan_done else ''}{'w' if more_followups else ''}"
    key, ticket, cursor = _mac_key(), session.ticket, session.cursor
    ids = []
    for org_pk, op, kind, fingerprint in entries:
        body = f"{org_pk}.{_OP_CODES[op]}{kind}.{fingerprint[:_FP_CHARS]}.{batch}"
        ids.append(f"{body}.{_mac(key, ticket, cursor, body)}")
    return ids


def _noop_request_id(session, scan_done: bool, more_followups: bool) -> str:
    body = f"{NOOP_REQUEST_ID}.0{'d' if scan_done else ''}{'w' if more_followups else ''}"
    return f"{body}.{_mac(_mac_key(), session.ticket, session.cursor, body)}"


class _Sent:
    """One request as decoded from its requestID (already checked against its MAC)."""

    __slots__ = ("org", "op", "kind", "fp", "count", "scan_done", "more_followups")

    def __init__(self, org, op, kind, fp, batch):
        self.org, self.op, self.kind, self.fp = org, op, kind, fp
        digits = batch.rstrip("dw")
        self.count = int(digits)
        flags = batch[len(digits) :]
        self.scan_done, self.more_followups = "d" in flags, "w" in flags


def _decode(session, request_id: str, key: bytes):
    """The _Sent a requestID stands for, or None when this session did not send it in this round
    trip (unknown, forged, or from an earlier round trip). `key`: _mac_key()."""
    body, _, mac = (request_id or "").rpartition(".")
    if not body or not hmac.compare_digest(mac, _mac(key, session.ticket, session.cursor, body)):
        return None
    parts = body.split(".")
    try:
        if parts[0] == NOOP_REQUEST_ID and len(parts) == 2:
            return _Sent(None, None, "", "", parts[1])
        org, code, fp, batch = parts
        return _Sent(int(org), _CODE_OPS[code[0]], code[1], fp, batch)
    except (ValueError, KeyError, IndexError):
        return None


def build_request(session: QbwcSession) -> str:
    """The next qbXML message for `session`: follow-ups first, then the next batch of stale or
    new organizations. Never empty: when nothing is left it asks QuickBooks a harmless HostQuery,
    because an empty answer would make QBWC report an error.

    Reads only: what receiveResponseXML needs travels in each requestID (see _request_ids), and
    the session's scan position and counters move only when QuickBooks' answer arrives. So a
    request QuickBooks never answers (a dead session) is simply sent again later.

    Queries: when follow-ups wait, one query for them; the next batch of candidates with their
    transfer state (one query unless a run of unchanged organizations has to be skipped). Only a
    follow-up given up after MAX_FOLLOWUPS tries is written here (rare)."""
    connector = session.connector
    size = batch_size()
    version = tuple(int(p) for p in (session.qbxml_version or "13.0").split("."))
    builder = qbxml.RequestBuilder(version)
    entries = []  # (org pk, op, kind, fingerprint, customer, transfer)
    more_followups = False

    if session.followups_waiting:
        waiting = list(
            _followups(connector).select_related("organization").order_by("pk")[: size + 1]
        )
        more_followups = len(waiting) > size
        given_up = []
        for transfer in waiting[:size]:
            org = transfer.organization
            customer = qbxml.customer_from(org)
            op = transfer.next_action
            if transfer.followups >= MAX_FOLLOWUPS:
                # Only rows left by an older version get here (receiveResponseXML gives up as
                # soon as a chain reaches the limit). The error QuickBooks gave on the last try
                # stays on the transfer for the log.
                transfer.next_action = ""
                given_up.append(transfer)
                session.errors += 1
                session.processed += 1
                continue
            if op == Next.MOD and not transfer.list_id:
                op = Next.ADD
            entries.append((org.pk, op, "f", customer.fingerprint(), customer, transfer))
        if given_up:
            with transaction.atomic(savepoint=False):
                sql.update(
                    session,
                    _GIVE_UP_FIELDS,
                    then_upsert=_writes(given_up, ["next_action"]),
                )

    scan_done = session.scan_done
    if not scan_done:
        scan = _candidates(
            connector, session.cursor, chunk_size=2 * size + 1, sent_since=session.started_at
        )
        for org, customer in scan:
            if len(entries) >= size:
                # One more candidate exists: the scan is not over.
                break
            transfer = _Transfer(
                org.pk,
                connector.pk,
                list_id=org.t_list_id or "",
                edit_sequence=org.t_edit_sequence or "",
            )
            op = Next.MOD if transfer.list_id else Next.ADD
            entries.append((org.pk, op, "s", customer.fingerprint(), customer, transfer))
        else:
            scan_done = True
        scan.close()

    if not entries:
        builder.host_query(_noop_request_id(session, scan_done, more_followups))
        return builder.tostring()
    ids = _request_ids(session, [e[:4] for e in entries], scan_done, more_followups)
    for rid, (_, op, _, _, customer, transfer) in zip(ids, entries, strict=True):
        _add_to(builder, rid, op, customer, transfer)
    return builder.tostring()


def _apply(session, transfer, entry, rs, now) -> None:
    """Apply one …Rs to the transfer it answers (see the status table in PROTOCOL.md §5)."""
    op, code = entry["op"], rs.status_code
    ret = rs.rets[0] if rs.rets else None
    transfer.adjustments = entry.get("adj", "")

    def finish_error():
        transfer.last_error_code = code
        transfer.last_error = rs.message
        transfer.next_action = ""
        session.errors += 1
        session.processed += 1

    def follow(next_action):
        session.followups_waiting = True
        transfer.next_action = next_action
        transfer.last_error_code = code
        transfer.last_error = rs.message

    if op in (Next.ADD, Next.MOD):
        if 0 <= code < 1000 and ret is not None:
            transfer.list_id = ret.list_id
            transfer.edit_sequence = ret.edit_sequence
            transfer.qb_name = ret.name or entry["name"]
            transfer.fingerprint = entry["fp"]
            transfer.transferred_at = now
            transfer.next_action = ""
            transfer.followups = 0
            transfer.last_error_code = None
            transfer.last_error = ""
            session.processed += 1
            if op == Next.ADD:
                session.added += 1
            else:
                session.updated += 1
        elif op == Next.ADD and code == 3100:
            # Autotask's rule: link the customer with exactly this name, never add a duplicate.
            transfer.qb_name = entry["name"]
            follow(Next.QUERY_NAME)
        elif op == Next.MOD and code == 3200:
            follow(Next.QUERY_ID)
        elif op == Next.MOD and code == 3120:
            transfer.list_id = ""
            transfer.edit_sequence = ""
            follow(Next.ADD)
        else:
            finish_error()
    elif op == Next.QUERY_NAME:
        if code == 0 and ret is not None and ret.name != (transfer.qb_name or entry["name"]):
            # QuickBooks matches names case-insensitively; linking needs the exact name.
            finish_error()
            transfer.last_error_code = 3100
            transfer.last_error = (
                f"QuickBooks already has a customer named {ret.name!r}, which differs from "
                f"{entry['name']!r} only in case; rename one of them or link it by hand."
            )
        elif code == 0 and ret is not None:
            transfer.list_id = ret.list_id
            transfer.edit_sequence = ret.edit_sequence
            transfer.qb_name = ret.name or transfer.qb_name
            session.linked += 1
            follow(Next.MOD)
        elif code in (1, 500):
            # No customer has the name, so another list (vendor, employee…) holds it; the 3100
            # stays as the error to show if adding keeps failing.
            session.followups_waiting = True
            transfer.next_action = Next.ADD
        else:
            finish_error()
    elif op == Next.QUERY_ID:
        if code == 0 and ret is not None:
            transfer.edit_sequence = ret.edit_sequence
            follow(Next.MOD)
        elif code in (1, 500, 3120):
            transfer.list_id = ""
            transfer.edit_sequence = ""
            follow(Next.ADD)
        else:
            finish_error()


def apply_response(session: QbwcSession, text: str) -> int:
    """Apply QuickBooks' qbXML response to the requests `session` sent; returns progress 0–100.
    Raises qbxml.QbxmlError for a response that cannot be read (nothing is applied then)."""
    # Parsed before the transaction, so an unreadable response leaves it usable for the caller.
    return apply_responses(session, qbxml.parse_response(text))


def _state_query(count: int):
    """(sql, converters) reading `count` organizations (`IN (%s, …)`) with their transfer state
    for one connector (the first parameter), the transfer rows locked where the database can.
    One row per organization: _ORG_FIELDS, then _ROW_FIELDS (None when it has no transfer
    state)."""

    def build():
        org_meta, t_meta = Organization._meta, CustomerTransfer._meta
        org_fields = [
            org_meta.pk if name == "pk" else org_meta.get_field(name) for name in _ORG_FIELDS
        ]
        t_fields = [t_meta.get_field(name) for name in _ROW_FIELDS]
        o_pk = f"o.{sql.quote(org_meta.pk.column)}"
        t_org = sql.quote(t_meta.get_field("organization").column)
        t_connector = sql.quote(t_meta.get_field("connector").column)
        head = (
            "SELECT "
            + ", ".join(f"o.{sql.quote(f.column)}" for f in org_fields)
            + ", "
            + ", ".join(f"t.{sql.quote(f.column)} AS t_{f.column}" for f in t_fields)
            + f" FROM {sql.quote(org_meta.db_table)} o "
        )
        if connection.features.has_select_for_update:
            t_columns = ", ".join(sql.quote(f.column) for f in t_fields)
            head += (
                f"LEFT JOIN LATERAL (SELECT {t_columns} FROM {sql.quote(t_meta.db_table)} "
                f"WHERE {t_org} = {o_pk} AND {t_connector} = %s FOR UPDATE) t "
                "ON TRUE "
            )
        else:
            head += (
                f"LEFT JOIN {sql.quote(t_meta.db_table)} t "
                f"ON t.{t_org} = {o_pk} AND t.{t_connector} = %s "
            )
        head += f"WHERE {o_pk} IN "
        converters = [([], None)] * len(_ORG_FIELDS) + sql.converters(t_fields)
        return head, converters

    head, converters = sql.cached(("answered_state",), build)
    return head + "(" + ", ".join(["%s"] * count) + ")", converters


def _state_from_rows(rows, converters) -> dict:
    """{organization pk: (org, _Transfer or None)} from _state_query's rows."""
    found = {}
    split = len(_ORG_FIELDS)
    for row in rows:
        if row[0] is None:
            continue
        values = sql.convert(row, converters)
        org = _Org(values[:split] + [None] * len(_T_FIELDS))
        transfer = None
        if values[split] is not None:
            state = dict(zip(_STATE_FIELDS, values[split + 2 :], strict=True))
            transfer = _Transfer(values[split], values[split + 1], **state)
        found[org.pk] = (org, transfer)
    return found


def _answered_state(connector_id, org_ids) -> dict:
    """These organizations (what is sent for them) with their transfer state for the connector,
    transfer rows locked: one query. {pk: (org, _Transfer or None)}."""
    if not org_ids:
        return {}
    query, converters = _state_query(len(org_ids))
    # Planned for each call: a plan cached while the transfer table was small would stay slow.
    rows = sql.fetchall(query, [connector_id, *org_ids], prepare=False)
    return _state_from_rows(rows, converters)


def apply_responses(session: QbwcSession, responses: list) -> int:
    """apply_response for parsed responses. Raises qbxml.QbxmlError, with nothing applied, when
    the response answers none of the requests this session sent in this round trip (so a batch
    is never sent over and over to a QuickBooks that answers nothing)."""
    answered = []  # (_Sent, Response), each request once
    seen = set()
    key = _mac_key()
    for rs in responses:
        sent = _decode(session, rs.request_id, key)
        if sent is not None and rs.request_id not in seen:
            seen.add(rs.request_id)
            answered.append((sent, rs))
    if not answered:
        raise qbxml.QbxmlError("it answers none of the requests sent")
    return _apply_all(session, answered)


@transaction.atomic(savepoint=False)
def _apply_all(session: QbwcSession, answered: list) -> int:
    """Queries: the answered organizations with their transfer state (locked), one upsert of it
    and one session update (one statement on PostgreSQL)."""
    now = timezone.now()
    state = _answered_state(
        session.connector_id, list(dict.fromkeys(s.org for s, _ in answered if s.org))
    )
    batch = None
    changed = {}
    scan_last = session.cursor
    for sent, rs in answered:
        batch = sent
        if sent.org is None:
            continue
        if sent.org not in state:
            continue  # the organization was deleted meanwhile
        org, transfer = state[sent.org]
        if transfer is None:
            transfer = _Transfer(sent.org, session.connector_id)
            state[sent.org] = (org, transfer)
        if sent.kind == "s":
            if sent.org <= session.cursor or transfer.next_action:
                continue  # answered already (a replayed response)
            scan_last = max(scan_last, sent.org)
            transfer.followups = 0
        else:
            expected = transfer.next_action
            if not expected or not (
                expected == sent.op or (expected == Next.MOD and sent.op == Next.ADD)
            ):
                continue  # answered already (a replayed response)
            transfer.next_action = ""
            transfer.followups += 1
        transfer.sent_at = now
        customer = qbxml.customer_from(org)
        fingerprint = customer.fingerprint()
        entry = {
            "org": sent.org,
            "op": sent.op,
            # Changed since it was sent: not what QuickBooks confirmed, so sent again later.
            "fp": fingerprint if fingerprint.startswith(sent.fp) else "",
            "name": customer.name,
            "adj": "; ".join(customer.adjustments),
        }
        _apply(session, transfer, entry, rs, now)
        if transfer.next_action and transfer.followups >= MAX_FOLLOWUPS:
            # The chain gives up; the error QuickBooks gave on this last try stays for the log.
            transfer.next_action = ""
            session.errors += 1
            session.processed += 1
        changed[sent.org] = transfer
    if batch is not None:
        missing = batch.count - len(answered)
        if missing > 0:
            # With continueOnError QuickBooks answers every request; a missing answer means the
            # request was not processed: an error for this run, retried next time.
            session.errors += missing
            session.processed += missing
        session.cursor = scan_last
        session.scan_done = session.scan_done or batch.scan_done
        if batch.more_followups:
            session.followups_waiting = True
        elif not any(t.next_action for t in changed.values()):
            session.followups_waiting = False
    session.progress = progress(session)
    # One INSERT … ON CONFLICT for the whole batch, with the session update on PostgreSQL.
    written = _writes(list(changed.values()), _STATE_FIELDS)
    sql.update(session, _RECEIVE_FIELDS, then_upsert=written)
    return session.progress


def progress(session: QbwcSession) -> int:
    """0–99 while anything is left for this session, 100 only when everything is done."""
    if session.scan_done and not session.followups_waiting:
        return 100
    total = max(session.total, 1)
    return min(99, session.processed * 100 // total)


def summary(session: QbwcSession) -> str:
    """What QBWC shows when the session closes: "12 customers added, 3 updated, 1 error"."""

    def plural(n, word, words):
        return f"{n} {word if n == 1 else words}"

    parts = [
        plural(session.added, "customer added", "customers added"),
        f"{session.updated} updated",
    ]
    if session.linked:
        parts.append(f"{session.linked} linked")
    parts.append(plural(session.errors, "error", "errors"))
    return ", ".join(parts)


def transfer_states(connector):
    """The organizations routed to `connector` with their transfer state for it, one query."""
    return (
        organizations_for(connector)
        .annotate(
            t=FilteredRelation("qb_transfers", condition=Q(qb_transfers__connector=connector))
        )
        .annotate(
            t_list_id=F("t__list_id"),
            t_qb_name=F("t__qb_name"),
            t_sent_at=F("t__sent_at"),
            t_transferred_at=F("t__transferred_at"),
            t_error_code=F("t__last_error_code"),
            t_error=F("t__last_error"),
            t_adjustments=F("t__adjustments"),
            t_fingerprint=F("t__fingerprint"),
        )
        .order_by("name", "pk")
    )
