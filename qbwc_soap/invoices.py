"""The invoice request kind, and the rule it keeps: an invoice reaches QuickBooks at most once.

QBWC can lose any answer: the conversation may die after QuickBooks created an invoice and
before receiveResponseXML stored its TxnID. So, per connector and conversation, the pipeline:

1. looks up first (`to_look_up`): every invoice sent through this connector whose outcome is
   unknown is queried by RefNumber in that company file, whatever the organization's routing
   says now; `apply_query` settles it (found → in QuickBooks, not found → approved again);
2. once per conversation, forgets why invoices were held (`recheck_held`), then sends
   (`to_send`): approved invoices of the organizations routed to this connector now
   (connectors.services.organizations_for) whose customer QuickBooks has and whose lines all
   have an item on this connector; the others are held with a message;
3. marks them sent (`mark_sent`) and commits that before the request leaves sendRequestXML:
   from then on the invoice is "outcome unknown" until an answer is applied (`apply_add`);
4. builds each InvoiceAdd (`build`).

Status flow: approved → sent → in_quickbooks | failed (Retry in billing puts failed back to
approved) | approved (a lookup found nothing, so it was never created).
"""

import calendar
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import (
    Case,
    CharField,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast

from billing.models import Invoice, InvoiceLine, InvoiceStatus, ItemMapping, held_message
from connectors.services import organizations_for
from kaseya_modules.models import KaseyaModule

from . import qbxml
from .models import CustomerTransfer


@dataclass
class Outgoing:
    """An approved invoice ready to go through a connector: its lines (in `invoice.lines.all()`,
    prefetched), the ListID of its customer in that company file and the items of its lines."""

    invoice: Invoice
    customer_list_id: str
    items: dict = field(default_factory=dict)  # {(module id, billing type): QuickBooksItem}


def _customer_list_id(connector):
    """The organization's customer ListID in the connector's company file (None: not there)."""
    return Subquery(
        CustomerTransfer.objects.filter(organization=OuterRef("organization"), connector=connector)
        .exclude(list_id="")
        .values("list_id")[:1]
    )


def to_look_up(connector, limit=None, after_pk=0) -> list[Invoice]:
    """Invoices sent through `connector` whose outcome is unknown (status sent): they must be
    looked up by RefNumber in its company file before anything could send them again. They stay
    with the connector they were sent to, wherever their organization is routed now. Ask once
    per conversation, at its start: a lookup that fails leaves its invoice sent, and asking
    again within the same conversation would only fail again: the request kind walks them in pk
    order from `after_pk` on. One query."""
    invoices = Invoice.objects.filter(
        connector=connector, status=InvoiceStatus.SENT, pk__gt=after_pk
    ).order_by("pk")
    return list(invoices[:limit] if limit else invoices)


class Sendable(list):
    """to_send's result: the invoices to send, and `read`, how many approved invoices it read
    (fewer than the limit: none are left to read)."""

    read = 0


def routed_approved(connector):
    """Approved invoices of the organizations routed to `connector` now (the routing rule)."""
    return Invoice.objects.filter(
        status=InvoiceStatus.APPROVED, organization__in=organizations_for(connector)
    )


def recheck_held(connector) -> int:
    """Forget why this connector's held invoices were held, so the conversation that calls this
    (once, before its first to_send) checks each of them again, once: mappings, items and
    customers may have changed since. One UPDATE; returns how many were held."""
    return routed_approved(connector).exclude(held="").update(held="")


def to_send(connector, limit: int) -> Sendable:
    """Up to `limit` approved invoices to send through `connector` now, in no particular order:
    their organization is routed to it now (organizations_for, the routing rule), QuickBooks has
    their customer in this company file (a CustomerTransfer with a ListID), and every line has
    an active item mapping on this connector (ItemMapping.objects.items_for).

    Only invoices not held yet are read. One that misses its customer or a mapping is held: its
    `held` says why, so it is not read again until recheck_held (mark_sent clears it once it
    goes). One QuickBooks could never take (no lines, a number or quantity beyond its limits)
    is failed with the reason. So every call makes progress, and held invoices never crowd out
    sendable ones.

    Statements: the invoices (with their customers' ListIDs), their lines, the item mappings,
    the modules' names when a line has no item, and one UPDATE when an invoice was held or
    failed: at most five."""
    lines = InvoiceLine.objects.order_by("position", "pk")
    candidates = list(
        routed_approved(connector)
        .filter(held="")
        .annotate(
            customer_list_id=_customer_list_id(connector),
            organization_name=F("organization__name"),  # for a held message
        )
        .prefetch_related(Prefetch("lines", queryset=lines))
        # Any order: the database stops at `limit` instead of sorting every approved invoice.
        .order_by()[:limit]
    )
    all_lines = [line for invoice in candidates for line in invoice.lines.all()]
    found, missing = ItemMapping.objects.items_for(connector, all_lines)
    missing_by_invoice = {}
    if missing:
        # held_message names the modules: one query for all of them, only when needed.
        modules = KaseyaModule.objects.only("name").in_bulk({line.module_id for line in missing})
        for line in missing:
            line.module = modules[line.module_id]
            missing_by_invoice.setdefault(line.invoice_id, []).append(line)

    outgoing, held, refused = Sendable(), [], []
    outgoing.read = len(candidates)
    for invoice in candidates:
        reason = _held_reason(connector, invoice, missing_by_invoice.get(invoice.pk, []))
        if reason:
            invoice.held = reason
            held.append(invoice)
            continue
        reason = _refusal(invoice)
        if reason:
            invoice.status = InvoiceStatus.FAILED
            invoice.error_code = None
            invoice.error = reason
            refused.append(invoice)
            continue
        keys = {(line.module_id, line.billing_type) for line in invoice.lines.all()}
        outgoing.append(Outgoing(invoice, invoice.customer_list_id, {k: found[k] for k in keys}))
    if held or refused:
        Invoice.objects.bulk_update(held + refused, ["held", "status", "error_code", "error"])
    return outgoing


def _held_reason(connector, invoice, missing_lines) -> str:
    """Why the invoice waits for something the portal will learn (its customer in QuickBooks,
    an item mapping); "" when it does not."""
    if invoice.customer_list_id is None:
        return (
            f"Held back: {invoice.organization_name} is not a customer in {connector.name}'s "
            "QuickBooks company file yet; the invoice goes once the customer has been added "
            "(see the transfer log)."
        )
    return held_message(connector, missing_lines)


def _refusal(invoice) -> str:
    """Why QuickBooks could never take the invoice as it is: it fails at once (an admin fixes
    it and retries) instead of taking a sending slot at every conversation."""
    lines = invoice.lines.all()
    if not lines:
        return "The invoice has no lines; QuickBooks needs at least one."
    try:
        qbxml.invoice_number(invoice.ref_number or "")
        for line in lines:
            qbxml.quantity(line.quantity)
            qbxml.price(line.rate)
    except qbxml.QbxmlValueError as exc:
        return f"Not sent: {exc}."
    return ""


def mark_sent(invoices, connector, now) -> list:
    """Claim `invoices` (Invoice or Outgoing objects) for sending through `connector`: one
    conditional UPDATE … WHERE status = approved setting status sent, the connector, sent_at and
    send_attempts + 1. Returns those claimed, in order; one that is no longer approved (a race
    with another conversation, or an admin) is left out and must not be sent.

    QBWC may lose sendRequestXML's answer after QuickBooks acted on it, so this must be
    committed before the request is returned: call it outside any transaction (it commits on
    its own), or commit the caller's transaction before answering QBWC. One statement, two when
    some invoice was lost to a race."""
    invoices = list(invoices)
    pks = [getattr(entry, "invoice", entry).pk for entry in invoices]
    if not pks:
        return []
    with transaction.atomic():
        count = Invoice.objects.filter(pk__in=pks, status=InvoiceStatus.APPROVED).update(
            status=InvoiceStatus.SENT,
            connector=connector,
            sent_at=now,
            send_attempts=F("send_attempts") + 1,
            held="",
            error_code=None,
            error="",
        )
        if count == len(set(pks)):
            claimed = set(pks)
        else:
            claimed = set(
                Invoice.objects.filter(
                    pk__in=pks, status=InvoiceStatus.SENT, connector=connector, sent_at=now
                ).values_list("pk", flat=True)
            )
    result = []
    for entry in invoices:
        invoice = getattr(entry, "invoice", entry)
        if invoice.pk in claimed:
            invoice.status = InvoiceStatus.SENT
            invoice.connector = connector
            invoice.sent_at = now
            invoice.send_attempts += 1
            invoice.held = invoice.error = ""
            invoice.error_code = None
            result.append(entry)
    return result


def build(builder: qbxml.RequestBuilder, request_id: str, invoice, customer_list_id, items) -> None:
    """Add `invoice`'s InvoiceAdd to `builder`: the customer's ListID, RefNumber = the invoice's
    number, TxnDate = the last day of its period, one line per invoice line with its item's
    ListID (`items`: {(module id, billing type): QuickBooksItem}, as to_send found them),
    description, quantity and rate. Raises qbxml.QbxmlValueError for a value QuickBooks cannot
    take (to_send fails such invoices instead of offering them, so one it offered never does)."""
    period = invoice.period
    last_day = period.replace(day=calendar.monthrange(period.year, period.month)[1])
    builder.invoice_add(
        request_id,
        customer_list_id,
        invoice.ref_number,
        last_day,
        [
            (
                items[(line.module_id, line.billing_type)].list_id,
                line.description,
                line.quantity,
                line.rate,
            )
            for line in invoice.lines.all()
        ],
        memo=f"{period:%B %Y}",
    )


def _first_invoice_ret(rs):
    return next((ret for ret in rs.rets if isinstance(ret, qbxml.InvoiceRet)), None)


def _per_invoice(values: dict, output_field):
    """CASE over the invoice pk: a value that differs per invoice, in one UPDATE. Cast, since a
    CASE whose branches are all NULL has no type PostgreSQL could assign to the column."""
    return Cast(
        Case(*[When(pk=pk, then=Value(value)) for pk, value in values.items()]),
        output_field=output_field,
    )


class _Outcomes:
    """What a batch of answers does to the invoices, grouped so each kind of outcome is one
    UPDATE whatever the batch size (Django's bulk_update would compile a CASE branch per
    invoice and field, which costs more than QuickBooks' own answer)."""

    def __init__(self):
        self.in_quickbooks = {}  # pk → TxnID
        self.failed = {}  # pk → (QuickBooks status code or None, message)
        self.not_found = []  # pks
        self.unsettled = {}  # pk → (status code or None, message): still sent, with a reason

    def __len__(self):
        return (
            len(self.in_quickbooks) + len(self.failed) + len(self.not_found) + len(self.unsettled)
        )

    def __contains__(self, pk):
        return (
            pk in self.in_quickbooks
            or pk in self.failed
            or pk in self.not_found
            or pk in self.unsettled
        )

    def write(self, connector, now) -> None:
        # Every UPDATE is limited to invoices still awaiting an answer through this connector;
        # they are locked by _locked, so none of these conditions can have changed meanwhile.
        awaiting = Invoice.objects.filter(status=InvoiceStatus.SENT, connector=connector)
        if self.in_quickbooks:
            awaiting.filter(pk__in=self.in_quickbooks).update(
                status=InvoiceStatus.IN_QUICKBOOKS,
                txn_id=_per_invoice(self.in_quickbooks, CharField()),
                transferred_at=now,
                error_code=None,
                error="",
            )
        if self.failed:
            awaiting.filter(pk__in=self.failed).update(
                status=InvoiceStatus.FAILED,
                error_code=_per_invoice({k: v[0] for k, v in self.failed.items()}, IntegerField()),
                error=_per_invoice({k: v[1] for k, v in self.failed.items()}, TextField()),
            )
        if self.not_found:
            awaiting.filter(pk__in=self.not_found).update(
                status=InvoiceStatus.APPROVED, connector=None, error_code=None, error=""
            )
        if self.unsettled:
            awaiting.filter(pk__in=self.unsettled).update(
                error_code=_per_invoice(
                    {k: v[0] for k, v in self.unsettled.items()}, IntegerField()
                ),
                error=_per_invoice({k: v[1] for k, v in self.unsettled.items()}, TextField()),
            )


def _locked(connector, pks, **annotations) -> dict:
    """The answered invoices still awaiting an answer through `connector`, locked, so a replayed
    or concurrent answer cannot settle one twice. One query."""
    invoices = (
        Invoice.objects.select_for_update()
        .filter(pk__in=pks, status=InvoiceStatus.SENT, connector=connector)
        .only("pk", "organization_id", "ref_number")
        .order_by("pk")  # locks taken in one order everywhere
    )
    if annotations:
        invoices = invoices.annotate(**annotations)
    return {invoice.pk: invoice for invoice in invoices}


def apply_add(connector, answers, now) -> dict:
    """Apply QuickBooks' answers to InvoiceAdd requests: `answers` is (invoice pk, Response)
    pairs. Done (with an InvoiceRet) → in_quickbooks with its TxnID; a QuickBooks error
    (3140 invalid reference, 3180, 3200, …) → failed with QuickBooks' code and message. Anything
    else (no answer, no result) leaves it sent: it is looked up by RefNumber next time. An
    invoice no longer sent through this connector (an answer replayed) is left alone.
    Returns {"added": n, "failed": n}. Statements: one SELECT … FOR UPDATE, then one UPDATE
    per kind of outcome present (at most two)."""
    answers = list(answers)
    outcomes = _Outcomes()
    with transaction.atomic():
        invoices = _locked(connector, [pk for pk, _ in answers])
        for pk, rs in answers:
            if pk not in invoices or pk in outcomes:
                continue
            ret = _first_invoice_ret(rs)
            if rs.ok and ret is not None and ret.txn_id:
                outcomes.in_quickbooks[pk] = ret.txn_id
            elif rs.status_code >= 1000:
                message = rs.message or f"QuickBooks refused the invoice ({rs.status_code})."
                outcomes.failed[pk] = (rs.status_code, message)
        outcomes.write(connector, now)
    return {"added": len(outcomes.in_quickbooks), "failed": len(outcomes.failed)}


def apply_query(connector, answers, now) -> dict:
    """Apply QuickBooks' answers to InvoiceQuery-by-RefNumber lookups: `answers` is (invoice pk,
    Response) pairs. Found for the invoice's customer → in_quickbooks with that TxnID (nothing is
    created); found only for other customers → failed, saying so (the number is taken in that
    company file); not found (status 1) → approved again with no connector, to be sent wherever
    its organization goes now; a failed lookup leaves it sent with the reason, to be looked up
    again. Returns {"found": n, "not_found": n, "conflict": n}.
    Statements: one SELECT … FOR UPDATE (with the customers' ListIDs), then one UPDATE per kind
    of outcome present (at most four)."""
    answers = list(answers)
    outcomes = _Outcomes()
    with transaction.atomic():
        invoices = _locked(
            connector,
            [pk for pk, _ in answers],
            customer_list_id=_customer_list_id(connector),
        )
        for pk, rs in answers:
            invoice = invoices.get(pk)
            if invoice is None or pk in outcomes:
                continue
            rets = [ret for ret in rs.rets if isinstance(ret, qbxml.InvoiceRet)]
            if rs.status_code == 0 and rets:
                mine = [
                    ret
                    for ret in rets
                    if invoice.customer_list_id and ret.customer_list_id == invoice.customer_list_id
                ]
                if mine:
                    outcomes.in_quickbooks[pk] = mine[0].txn_id
                else:
                    others = ", ".join(
                        sorted({ret.customer_full_name or ret.customer_list_id for ret in rets})
                    )
                    outcomes.failed[pk] = (
                        None,
                        f"QuickBooks ({connector.name}) already has invoice number "
                        f"{invoice.ref_number} for another customer ({others}); it was not sent "
                        "again. Check that invoice in QuickBooks before retrying.",
                    )
            elif rs.no_match:
                outcomes.not_found.append(pk)
            else:
                outcomes.unsettled[pk] = (
                    rs.status_code if rs.status_code > 0 else None,
                    f"Looking the invoice up in QuickBooks failed ({rs.message or 'no answer'}); "
                    "it is looked up again at the next update before anything is sent.",
                )
        outcomes.write(connector, now)
    return {
        "found": len(outcomes.in_quickbooks),
        "not_found": len(outcomes.not_found),
        "conflict": len(outcomes.failed),
    }
