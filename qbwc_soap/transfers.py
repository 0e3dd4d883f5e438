"""What a connector's QuickBooks company file is sent, and how each response status is applied.

State lives per (organization, connector) in CustomerTransfer and per ticket in QbwcSession, never
in process memory, so any number of QBWC clients may poll at once and each ticket only ever sees
the organizations `organizations_for(its connector)` returns.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F, FilteredRelation, Q
from django.utils import timezone

from connectors.services import organizations_for

from . import qbxml
from .models import CustomerTransfer, QbwcSession

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 25
# A follow-up chain (add → 3100 → query → mod …) gives up after this many extra requests, so a
# name QuickBooks keeps refusing cannot loop a session forever.
MAX_FOLLOWUPS = 3
_SCAN_CHUNK = 500
_ORG_FIELDS = (
    "pk",
    "autotask_id",
    "name",
    "address1",
    "address2",
    "city",
    "state",
    "postal_code",
    "country",
    "phone",
    "email",
)
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

Next = CustomerTransfer.Next


def batch_size() -> int:
    return max(1, int(getattr(settings, "QBWC_BATCH_SIZE", DEFAULT_BATCH_SIZE)))


def _candidates(connector, after_pk: int, chunk_size: int = _SCAN_CHUNK, sent_since=None):
    """Organizations routed to `connector` (pk > after_pk, in pk order) whose customer in its
    company file is missing or stale, as (org, customer); `org.t_list_id` etc. carry its transfer
    state for this connector (None when it has none). Organizations with a follow-up under way
    are left to the follow-up queue, and those sent since `sent_since` (by this session's
    follow-ups) are not sent twice."""
    routed = (
        organizations_for(connector)
        .order_by("pk")
        .only(*_ORG_FIELDS)
        .annotate(
            t=FilteredRelation("qb_transfers", condition=Q(qb_transfers__connector=connector)),
            t_list_id=F("t__list_id"),
            t_edit_sequence=F("t__edit_sequence"),
            t_fingerprint=F("t__fingerprint"),
            t_next_action=F("t__next_action"),
            t_sent_at=F("t__sent_at"),
        )
    )
    while True:
        chunk = list(routed.filter(pk__gt=after_pk)[:chunk_size])
        if not chunk:
            return
        for org in chunk:
            if org.t_next_action or (sent_since and org.t_sent_at and org.t_sent_at >= sent_since):
                continue
            customer = qbxml.customer_from(org)
            if org.t_fingerprint != customer.fingerprint():
                yield org, customer
        after_pk = chunk[-1].pk


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


def _pending_entry(org, customer, op):
    return {
        "org": org.pk,
        "op": op,
        "fp": customer.fingerprint(),
        "name": customer.name,
        "adj": "; ".join(customer.adjustments),
    }


def _add_to(builder, rid, entry, customer, transfer):
    op = entry["op"]
    if op == Next.ADD:
        builder.customer_add(rid, customer)
    elif op == Next.MOD:
        builder.customer_mod(rid, transfer.list_id, transfer.edit_sequence, customer)
    elif op == Next.QUERY_NAME:
        builder.customer_query_by_name(rid, transfer.qb_name or customer.name)
    elif op == Next.QUERY_ID:
        builder.customer_query_by_id(rid, transfer.list_id)


@transaction.atomic(savepoint=False)
def build_request(session: QbwcSession) -> str:
    """The next qbXML message for `session`: follow-ups first, then the next batch of stale or
    new organizations. Never empty: when nothing is left it asks QuickBooks a harmless HostQuery,
    because an empty answer would make QBWC report an error."""
    connector = session.connector
    size = batch_size()
    version = tuple(int(p) for p in (session.qbxml_version or "13.0").split("."))
    builder = qbxml.RequestBuilder(version)
    pending = {}
    now = timezone.now()

    if session.followups_waiting:
        waiting = list(
            _followups(connector).select_related("organization").order_by("pk")[: size + 1]
        )
        session.followups_waiting = len(waiting) > size
        for transfer in waiting[:size]:
            org = transfer.organization
            customer = qbxml.customer_from(org)
            op = transfer.next_action
            transfer.next_action = ""
            if op == Next.MOD and not transfer.list_id:
                op = Next.ADD
            if transfer.followups >= MAX_FOLLOWUPS:
                # The error QuickBooks gave on the last try stays on the transfer for the log.
                session.errors += 1
                session.processed += 1
                transfer.save(update_fields=["next_action"])
                continue
            transfer.followups += 1
            transfer.sent_at = now
            transfer.save(update_fields=["next_action", "followups", "sent_at"])
            rid = f"{org.pk}-{op}"
            pending[rid] = _pending_entry(org, customer, op)
            _add_to(builder, rid, pending[rid], customer, transfer)

    if not session.scan_done:
        sent = []
        last_pk = session.cursor
        # Most organizations usually need sending, so read little more than one batch at a time.
        scan = _candidates(
            connector, session.cursor, chunk_size=2 * size + 1, sent_since=session.started_at
        )
        for org, customer in scan:
            if len(builder) >= size:
                # One more candidate exists: the scan is not over.
                break
            last_pk = org.pk
            transfer = CustomerTransfer(
                organization_id=org.pk,
                connector=connector,
                list_id=org.t_list_id or "",
                edit_sequence=org.t_edit_sequence or "",
                sent_at=now,
                followups=0,
            )
            sent.append(transfer)
            op = Next.MOD if transfer.list_id else Next.ADD
            rid = f"{org.pk}-{op}"
            pending[rid] = _pending_entry(org, customer, op)
            _add_to(builder, rid, pending[rid], customer, transfer)
        else:
            session.scan_done = True
        scan.close()
        session.cursor = last_pk
        # Only when it was sent: the rest of a row's state changes only on QuickBooks' answer.
        CustomerTransfer.objects.bulk_create(
            sent,
            update_conflicts=True,
            unique_fields=["organization", "connector"],
            update_fields=["sent_at", "followups"],
        )

    if not len(builder):
        builder.host_query(NOOP_REQUEST_ID)
    session.pending = pending
    session.save(
        update_fields=[
            "pending",
            "cursor",
            "scan_done",
            "followups_waiting",
            "errors",
            "processed",
            "last_seen_at",
        ]
    )
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
    return _apply_all(session, qbxml.parse_response(text))


@transaction.atomic(savepoint=False)
def _apply_all(session: QbwcSession, responses: list) -> int:
    pending = session.pending or {}
    now = timezone.now()
    answered = {rs.request_id: rs for rs in responses if rs.request_id in pending}
    org_ids = [entry["org"] for entry in pending.values()]
    transfers = {
        t.organization_id: t
        for t in CustomerTransfer.objects.select_for_update().filter(
            connector_id=session.connector_id, organization_id__in=org_ids
        )
    }
    changed = []
    for rid, entry in pending.items():
        transfer = transfers.get(entry["org"]) or CustomerTransfer(
            organization_id=entry["org"], connector_id=session.connector_id
        )
        rs = answered.get(rid)
        if rs is None:
            # With continueOnError QuickBooks answers every request; a missing answer means the
            # request was not processed, so it is an error for this run and retried next time.
            rs = qbxml.Response(entry["op"], rid, -1, "Error", "QuickBooks returned no answer")
        _apply(session, transfer, entry, rs, now)
        changed.append(transfer)
    # One INSERT … ON CONFLICT for the whole batch: bulk_update's CASE per field costs ~100 ms
    # for 25 rows, most of a round trip.
    CustomerTransfer.objects.bulk_create(
        changed,
        update_conflicts=True,
        unique_fields=["organization", "connector"],
        update_fields=_STATE_FIELDS,
    )
    session.pending = {}
    session.progress = progress(session)
    session.save()
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
