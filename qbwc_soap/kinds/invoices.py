"""Invoices: approved invoices sent through the connector their organization is routed to now,
never twice. A thin adapter over qbwc_soap.invoices, which keeps the rule (read its docstring).

Asked only once the earlier kinds are finished (after_earlier): an invoice needs its customer's
ListID and its items' ListIDs, which the customers and item queries of the same conversation may
just have learnt. Per session, in this order:

1. lookups (`look`): every invoice sent through this connector whose outcome is unknown is
   looked up by RefNumber (InvoiceQuery), once, before anything is sent; messages of lookups
   only, walked in pk order (`after`);
2. sends (`sending`): to_send → mark_sent → InvoiceAdd, a message at a time, until to_send
   reads fewer invoices than it was asked for. Held invoices were re-checked at authenticate
   (recheck_held, in `begin`), so each is checked once per conversation.

requests() writes, the only kind that does in sendRequestXML: to_send holds or fails what cannot
go, and mark_sent claims the invoices it sends (status sent) and commits on its own, because
sendRequestXML runs outside any transaction (qbwc_soap.sessions.send_request). So an InvoiceAdd
only leaves once its invoice is recorded as sent; if the answer is lost, the next conversation
looks it up instead of sending it again.

requestID items: `q<invoice pk>_<last pk of the message's lookups>` for a lookup (the second
number moves the lookup walk on, whichever answers arrive), `a<invoice pk>` for an InvoiceAdd.
Flags: `l` the lookups are over after this message, `d` the sends are over after it.
"""

from django.utils import timezone

from billing.models import Invoice, InvoiceStatus

from .. import invoices
from ..pipeline import Batch, Request, RequestKind, plural

LOOKUPS_DONE, SENDS_DONE = "l", "d"
# How many batches one sendRequestXML may read when every invoice read is held back.
HELD_READS_PER_CALL = 3
LOOKUP, ADD = "q", "a"


def _lookup(invoice, last_pk) -> Request:
    ref_number = invoice.ref_number
    return Request(
        f"{LOOKUP}{invoice.pk}_{last_pk}",
        lambda builder, rid: builder.invoice_query_by_ref_number(rid, ref_number),
    )


def _add(out) -> Request:
    return Request(
        f"{ADD}{out.invoice.pk}",
        lambda builder, rid: invoices.build(
            builder, rid, out.invoice, out.customer_list_id, out.items
        ),
    )


def _decode(item: str):
    """(LOOKUP or ADD, invoice pk, last lookup pk or None), or None for an item not ours."""
    try:
        if item[:1] == LOOKUP:
            pk, last = item[1:].split("_")
            return LOOKUP, int(pk), int(last)
        if item[:1] == ADD:
            return ADD, int(item[1:]), None
    except ValueError:
        pass
    return None


class Invoices(RequestKind):
    code = "v"
    name = "invoices"
    after_earlier = True

    def begin(self, session) -> int:
        """The invoices to look up and to send. Forgets why invoices were held (recheck_held),
        so this conversation checks each held one again, once. Three statements."""
        connector = session.connector
        lookups = Invoice.objects.filter(connector=connector, status=InvoiceStatus.SENT).count()
        invoices.recheck_held(connector)
        sendable = invoices.routed_approved(connector).count()
        if lookups or sendable:
            # A lookup that finds nothing puts its invoice back to approved, to be sent in this
            # same conversation: so there is sending to do whenever there are lookups.
            self.state(session).update(look=bool(lookups), after=0, sending=True)
        return lookups + sendable

    def finished(self, session) -> bool:
        state = session.kind_state.get(self.code, {})
        return not state.get("look") and not state.get("sending")

    def requests(self, session, room: int) -> Batch:
        """Lookups (one query), or the next invoices to send: to_send's reads (at most four),
        its UPDATE of held or refused invoices, and mark_sent's UPDATE, committed."""
        state = self.state(session)
        connector = session.connector
        if state.get("look"):
            found = invoices.to_look_up(connector, limit=room + 1, after_pk=state.get("after", 0))
            batch = found[:room]
            last = batch[-1].pk if batch else 0
            flags = LOOKUPS_DONE if len(found) <= room else ""
            return Batch([_lookup(invoice, last) for invoice in batch], flags)
        for _ in range(HELD_READS_PER_CALL):
            outgoing = invoices.to_send(connector, room)
            # Every invoice read was held or refused: read the next ones, a bounded number of
            # times so a call's statements stay bounded; what is left waits for the next call
            # (each read holds its invoices for good, so the conversation moves on).
            if outgoing or outgoing.read < room:
                break
        done = SENDS_DONE if outgoing.read < room else ""
        claimed = invoices.mark_sent(outgoing, connector, timezone.now())
        return Batch([_add(out) for out in claimed], done)

    def apply(self, session, answers, flags) -> None:
        """Statements: for lookups, those of apply_query; for sends, those of apply_add; none
        when no answer is the kind's."""
        state = self.state(session)
        connector = session.connector
        now = timezone.now()
        lookups, adds = [], []
        for answer in answers:
            decoded = _decode(answer.item)
            if decoded is None:
                continue
            op, pk, last = decoded
            if op == LOOKUP:
                lookups.append((pk, answer.response))
                state["after"] = max(state.get("after", 0), last)
            else:
                adds.append((pk, answer.response))
        if LOOKUPS_DONE in flags:
            state["look"] = False
        if SENDS_DONE in flags:
            state["sending"] = False
        if lookups:
            result = invoices.apply_query(connector, lookups, now)
            self.count(session, "found", result["found"])
            self.count(session, "refused", result["conflict"])
            session.errors += result["conflict"]
        if adds:
            result = invoices.apply_add(connector, adds, now)
            self.count(session, "sent", result["added"])
            self.count(session, "refused", result["failed"])
            session.errors += result["failed"]
        session.processed += len(lookups) + len(adds)

    def summary(self, session) -> list[str]:
        sent, found = self.counted(session, "sent"), self.counted(session, "found")
        refused = self.counted(session, "refused")
        if not (sent or found or refused or self.code in session.kind_state):
            return []
        parts = [plural(sent, "invoice sent", "invoices sent")]
        if found:
            parts.append(f"{found} found in QuickBooks")
        if refused:
            parts.append(f"{refused} refused")
        return parts
