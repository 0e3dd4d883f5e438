"""Customers: each organization routed to a connector, as a customer in its company file.

State lives per (organization, connector) in CustomerTransfer and, for the session, in
QbwcSession's customer columns (the scan cursor, scan_done, followups_waiting; added, updated,
linked), never in process memory, so any number of QBWC clients may poll at once and each ticket
only ever sees the organizations `organizations_for(its connector)` returns.

A session scans the routed organizations in pk order and sends those whose customer is missing or
stale (CustomerAdd, or CustomerMod with the ListID and EditSequence QuickBooks last gave); some
answers call for a follow-up request in a later message (PROTOCOL.md §5):

| sent | answer | next |
|---|---|---|
| add / mod | 0 | confirmed: ListID, EditSequence and the fingerprint kept |
| add | 3100 (name in use) | query by name |
| mod | 3200 (EditSequence out of date) | query by ListID |
| mod | 3120 (ListID not found) | forget the ListID, add |
| query by name | 0, exactly the name | link it (ListID), mod |
| query by name | 0, another case | error: rename one of them |
| query by name | 1 / 500 (no customer has it) | add (another list holds the name) |
| query by ListID | 0 | mod with the new EditSequence |
| query by ListID | 1 / 500 / 3120 | forget the ListID, add |
| anything else | error | kept on the transfer, retried next session |

A chain gives up after MAX_FOLLOWUPS follow-ups. Follow-ups come before the scan in a message.
"""

import logging

from django.db import transaction
from django.db.models import F, FilteredRelation, OuterRef, Q, Subquery
from django.utils import timezone

from connectors.services import organizations_for
from organizations.models import BILLING_FIELDS, Organization

from .. import qbxml
from ..models import CustomerTransfer
from ..pipeline import Batch, Request, RequestKind, plural

logger = logging.getLogger(__name__)

# A follow-up chain (add → 3100 → query → mod …) gives up after this many extra requests, so a
# name QuickBooks keeps refusing cannot loop a session forever.
MAX_FOLLOWUPS = 3
# Later scan chunks read at least this many organizations, so a long run of unchanged ones costs
# few queries; a sendRequestXML reads at most SCAN_CHUNKS_PER_CALL chunks (its statements stay
# bounded) and, when they held nothing to send, moves the session's scan past them.
SCAN_CHUNK = 500
SCAN_CHUNKS_PER_CALL = 4
_ORG_FIELDS = ("autotask_id", "name", *BILLING_FIELDS)
# What CustomerTransfer holds besides its organization and connector.
STATE_FIELDS = [
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
_FP_CHARS = 12
# The transfer state the scan reads with each organization.
_SCAN_STATE = ("list_id", "edit_sequence", "fingerprint", "next_action", "sent_at")

Next = CustomerTransfer.Next
# A request's operation in its requestID item.
_OP_CODES = {Next.ADD: "a", Next.MOD: "m", Next.QUERY_NAME: "n", Next.QUERY_ID: "i"}
_CODE_OPS = {code: op for op, code in _OP_CODES.items()}
# How a request came about: the scan, or a follow-up.
SCAN, FOLLOWUP = "s", "f"
# Flags: the scan is over once this message is answered; more follow-ups wait than it holds.
SCAN_DONE, MORE_FOLLOWUPS = "d", "w"


def _routed_with_state(connector):
    """Organizations routed to `connector` in pk order, each with its transfer state for it as
    t_… attributes (None when it has none).

    The transfer state comes from subqueries on (organization, connector), one probe of that
    unique index per organization read, rather than a join: PostgreSQL may plan a join as a
    hash of every transfer of the connector, each call, and does so whenever its statistics
    still describe a smaller transfer table (as during a company file's first sessions)."""
    transfer = CustomerTransfer.objects.filter(organization=OuterRef("pk"), connector=connector)
    state = {f"t_{name}": Subquery(transfer.values(name)[:1]) for name in _SCAN_STATE}
    return organizations_for(connector).only(*_ORG_FIELDS).annotate(**state).order_by("pk")


def _stale(org, sent_since=None):
    """The Customer to send for `org` (read by _routed_with_state) when its customer in the
    company file is missing or stale, else None. Organizations with a follow-up under way are
    left to the follow-up queue, and those sent since `sent_since` (by this session's
    follow-ups) are not sent twice."""
    if org.t_next_action or (sent_since and org.t_sent_at and org.t_sent_at >= sent_since):
        return None
    customer = qbxml.customer_from(org)
    return customer if org.t_fingerprint != customer.fingerprint() else None


def _count_stale(connector) -> int:
    """How many routed organizations need sending now: one query."""
    return sum(1 for org in _routed_with_state(connector) if _stale(org))


def _scan(connector, after_pk: int, want: int, sent_since=None):
    """Up to `want` organizations past `after_pk` (in pk order) to send, as (org, customer),
    reading at most SCAN_CHUNKS_PER_CALL chunks, so a call's statements stay bounded however
    many up-to-date organizations lie in between. Returns (found, the last pk read, whether the
    routed organizations were read to the end)."""
    routed = _routed_with_state(connector)
    found = []
    # Twice what is wanted first: some of the next organizations are usually up to date.
    chunk_size = 2 * want - 1
    for _ in range(SCAN_CHUNKS_PER_CALL):
        rows = list(routed.filter(pk__gt=after_pk)[:chunk_size])
        for org in rows:
            customer = _stale(org, sent_since)
            if customer is not None:
                found.append((org, customer))
                if len(found) >= want:
                    return found, org.pk, False
        if len(rows) < chunk_size:
            return found, after_pk, True
        after_pk = rows[-1].pk
        chunk_size = max(chunk_size, SCAN_CHUNK)
    return found, after_pk, False


def _followups(connector):
    """Transfers of organizations still routed to `connector` that wait for a follow-up."""
    return (
        CustomerTransfer.objects.filter(connector=connector)
        .exclude(next_action="")
        .filter(organization__in=organizations_for(connector).values("pk"))
    )


def _request(op, org_pk, how, customer, list_id="", edit_sequence="", qb_name="") -> Request:
    item = f"{org_pk}_{_OP_CODES[op]}{how}_{customer.fingerprint()[:_FP_CHARS]}"
    if op == Next.ADD:
        return Request(item, lambda builder, rid: builder.customer_add(rid, customer))
    if op == Next.MOD:
        return Request(
            item, lambda builder, rid: builder.customer_mod(rid, list_id, edit_sequence, customer)
        )
    if op == Next.QUERY_NAME:
        name = qb_name or customer.name
        return Request(item, lambda builder, rid: builder.customer_query_by_name(rid, name))
    return Request(item, lambda builder, rid: builder.customer_query_by_id(rid, list_id))


def _decode(item: str):
    """(organization pk, op, how, fingerprint prefix) from a requestID item, or None."""
    try:
        org, code, fp = item.split("_")
        return int(org), _CODE_OPS[code[0]], code[1], fp
    except (ValueError, KeyError, IndexError):
        return None


class Customers(RequestKind):
    code = "c"
    name = "customers"
    session_fields = ("cursor", "scan_done", "followups_waiting", "added", "updated", "linked")

    def begin(self, session) -> int:
        """The organizations to send now: follow-ups left over from earlier sessions, and
        routed organizations whose customer is missing or stale (their fingerprints are
        computed, so this reads every routed organization once)."""
        connector = session.connector
        followups = _followups(connector).count()
        session.followups_waiting = bool(followups)
        return followups + _count_stale(connector)

    def finished(self, session) -> bool:
        return session.scan_done and not session.followups_waiting

    def requests(self, session, room: int) -> Batch:
        """Follow-ups first, then the next stale or new organizations of the scan.

        Queries: when follow-ups wait, one for them; one for the next candidates with their
        transfer state (unless a run of unchanged organizations has to be skipped). Only a
        follow-up given up after MAX_FOLLOWUPS tries is written here (rare)."""
        connector = session.connector
        requests = []
        more_followups = False
        if session.followups_waiting:
            waiting = list(
                _followups(connector).select_related("organization").order_by("pk")[: room + 1]
            )
            more_followups = len(waiting) > room
            given_up = []
            for transfer in waiting[:room]:
                customer = qbxml.customer_from(transfer.organization)
                op = transfer.next_action
                if transfer.followups >= MAX_FOLLOWUPS:
                    # Only rows left by an older version get here (apply gives up as soon as a
                    # chain reaches the limit). QuickBooks' last error stays for the log.
                    transfer.next_action = ""
                    given_up.append(transfer)
                    session.errors += 1
                    session.processed += 1
                    continue
                if op == Next.MOD and not transfer.list_id:
                    op = Next.ADD
                requests.append(
                    _request(
                        op,
                        transfer.organization_id,
                        FOLLOWUP,
                        customer,
                        transfer.list_id,
                        transfer.edit_sequence,
                        transfer.qb_name,
                    )
                )
            if given_up:
                with transaction.atomic():
                    CustomerTransfer.objects.bulk_update(given_up, ["next_action"])
                    session.save(update_fields=["errors", "processed", "last_seen_at"])

        scan_done = session.scan_done
        if not scan_done:
            left = room - len(requests)
            # One more than fits, to know whether the scan is over after this message.
            found, last_read, read_to_end = _scan(
                connector, session.cursor, left + 1, sent_since=session.started_at
            )
            for org, customer in found[:left]:
                op = Next.MOD if org.t_list_id else Next.ADD
                requests.append(
                    _request(op, org.pk, SCAN, customer, org.t_list_id, org.t_edit_sequence or "")
                )
            scan_done = read_to_end and len(found) <= left
            if not found and not read_to_end:
                # Only up-to-date organizations so far: the scan moves past them now (sending
                # nothing, so nothing can be lost), and the next call reads on from there.
                session.cursor = last_read
                session.save(update_fields=["cursor"])
        flags = (SCAN_DONE if scan_done else "") + (MORE_FOLLOWUPS if more_followups else "")
        return Batch(requests, flags)

    def apply(self, session, answers, flags) -> None:
        """Queries: the answered organizations, and their transfer rows (locked); one upsert of
        the transfers."""
        now = timezone.now()
        sent = [(_decode(answer.item), answer.response) for answer in answers]
        sent = [(decoded, rs) for decoded, rs in sent if decoded is not None]
        org_ids = list(dict.fromkeys(d[0] for d, _ in sent))
        changed = {}
        scan_last = session.cursor
        if org_ids:
            connector_id = session.connector_id
            transfers = {
                t.organization_id: t
                for t in CustomerTransfer.objects.select_for_update().filter(
                    connector_id=connector_id, organization_id__in=org_ids
                )
            }
            orgs = Organization.objects.only(*_ORG_FIELDS).order_by().in_bulk(org_ids)
            for (org_pk, op, how, fp), rs in sent:
                org = orgs.get(org_pk)
                if org is None:
                    continue  # the organization was deleted meanwhile
                transfer = transfers.get(org_pk)
                if transfer is None:
                    transfer = transfers[org_pk] = CustomerTransfer(
                        organization_id=org_pk, connector_id=connector_id
                    )
                if how == SCAN:
                    if org_pk <= session.cursor or transfer.next_action:
                        continue  # answered already (a replayed response)
                    scan_last = max(scan_last, org_pk)
                    transfer.followups = 0
                else:
                    expected = transfer.next_action
                    if not expected or not (
                        expected == op or (expected == Next.MOD and op == Next.ADD)
                    ):
                        continue  # answered already (a replayed response)
                    transfer.next_action = ""
                    transfer.followups += 1
                transfer.sent_at = now
                customer = qbxml.customer_from(org)
                fingerprint = customer.fingerprint()
                entry = {
                    "op": op,
                    # Changed since it was sent: not what QuickBooks confirmed, so sent again.
                    "fp": fingerprint if fingerprint.startswith(fp) else "",
                    "name": customer.name,
                    "adj": "; ".join(customer.adjustments),
                }
                _apply(session, transfer, entry, rs, now)
                if transfer.next_action and transfer.followups >= MAX_FOLLOWUPS:
                    # The chain gives up; QuickBooks' error on this last try stays for the log.
                    transfer.next_action = ""
                    session.errors += 1
                    session.processed += 1
                changed[org_pk] = transfer
        session.cursor = scan_last
        session.scan_done = session.scan_done or SCAN_DONE in flags
        if MORE_FOLLOWUPS in flags:
            session.followups_waiting = True
        elif not any(t.next_action for t in changed.values()):
            session.followups_waiting = False
        if changed:
            _write(changed.values())

    def summary(self, session) -> list[str]:
        parts = [
            plural(session.added, "customer added", "customers added"),
            f"{session.updated} updated",
        ]
        if session.linked:
            parts.append(f"{session.linked} linked")
        return parts


def _write(transfers) -> None:
    """One INSERT … ON CONFLICT DO UPDATE for the whole batch, new rows and existing alike (the
    rows are written by their (organization, connector) key, so their pk is left out)."""
    rows = []
    for transfer in transfers:
        transfer.pk = None
        rows.append(transfer)
    CustomerTransfer.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["organization", "connector"],
        update_fields=STATE_FIELDS,
    )


def _apply(session, transfer, entry, rs, now) -> None:
    """Apply one …Rs to the transfer it answers (the table in the module docstring)."""
    op, code = entry["op"], rs.status_code
    ret = rs.rets[0] if rs.rets else None
    transfer.adjustments = entry["adj"]

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
