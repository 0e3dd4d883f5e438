"""The invoice request kind, and the rule it keeps: an invoice reaches QuickBooks at most once.

QBWC can lose any answer: the conversation may die after QuickBooks created an invoice and
before receiveResponseXML stored its TxnID. So, per connector and conversation, the pipeline:

1. looks up first (`to_look_up`): every invoice sent through this connector whose outcome is
   unknown is queried by RefNumber in that company file, whatever the organization's routing
   says now; `apply_query` settles it (found → in QuickBooks, not found → approved again);
2. then sends (`to_send`): approved invoices of the organizations routed to this connector now
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
from django.db.models import Case, Exists, F, IntegerField, OuterRef, Prefetch, Q, Subquery, When

from billing.models import Invoice, InvoiceLine, InvoiceStatus, ItemMapping, held_message
from connectors.services import organizations_for

from . import qbxml
from .models import CustomerTransfer

_SETTLED_FIELDS = ["status", "connector", "txn_id", "transferred_at", "error_code", "error"]


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


def to_look_up(connector, limit=None) -> list[Invoice]:
    """Invoices sent through `connector` whose outcome is unknown (status sent): they must be
    looked up by RefNumber in its company file before anything could send them again. They stay
    with the connector they were sent to, wherever their organization is routed now. One query."""
    invoices = Invoice.objects.filter(connector=connector, status=InvoiceStatus.SENT).order_by(
        "sent_at", "pk"
    )
    return list(invoices[:limit] if limit else invoices)


def to_send(connector, limit: int) -> list[Outgoing]:
    """Up to `limit` approved invoices to send through `connector` now: their organization is
    routed to it now (organizations_for, the routing rule), QuickBooks has their customer in
    this company file (a CustomerTransfer with a ListID), and every line has an active item
    mapping on this connector (ItemMapping.objects.items_for). An invoice that misses a mapping
    or its customer is held: its `held` says why; it is cleared once it goes.

    Sendable invoices come first, so held ones never crowd them out. Statements: the invoices,
    their lines, the item mappings, and one UPDATE of changed held messages when there are any."""
    lines = InvoiceLine.objects.select_related("module").order_by("position", "pk")
    # Only orders the candidates (sendable first); items_for below decides.
    unmapped_line = InvoiceLine.objects.filter(invoice=OuterRef("pk")).filter(
        ~Exists(
            ItemMapping.objects.filter(
                connector=connector,
                module=OuterRef("module"),
                billing_type=OuterRef("billing_type"),
                item__active=True,
            )
        )
    )
    candidates = list(
        Invoice.objects.filter(
            status=InvoiceStatus.APPROVED, organization__in=organizations_for(connector)
        )
        .annotate(customer_list_id=_customer_list_id(connector))
        .annotate(
            blocked=Case(
                When(Q(customer_list_id__isnull=True) | Exists(unmapped_line), then=1),
                default=0,
                output_field=IntegerField(),
            ),
            # Among held invoices, those not told why yet come first.
            told=Case(When(held="", then=0), default=1, output_field=IntegerField()),
        )
        .select_related("organization")
        .prefetch_related(Prefetch("lines", queryset=lines))
        .order_by("blocked", "told", "pk")[:limit]
    )
    all_lines = [line for invoice in candidates for line in invoice.lines.all()]
    found, missing = ItemMapping.objects.items_for(connector, all_lines)
    missing_by_invoice = {}
    for line in missing:
        missing_by_invoice.setdefault(line.invoice_id, []).append(line)

    outgoing, changed = [], []
    for invoice in candidates:
        reason = _held_reason(connector, invoice, missing_by_invoice.get(invoice.pk, []))
        if reason:
            if invoice.held != reason:
                invoice.held = reason
                changed.append(invoice)
            continue
        keys = {(line.module_id, line.billing_type) for line in invoice.lines.all()}
        outgoing.append(Outgoing(invoice, invoice.customer_list_id, {k: found[k] for k in keys}))
    if changed:
        Invoice.objects.bulk_update(changed, ["held"])
    return outgoing


def _held_reason(connector, invoice, missing_lines) -> str:
    if invoice.customer_list_id is None:
        return (
            f"Held back: {invoice.organization.name} is not a customer in {connector.name}'s "
            "QuickBooks company file yet; the invoice goes once the customer has been added "
            "(see the transfer log)."
        )
    if missing_lines:
        return held_message(connector, missing_lines)
    lines = invoice.lines.all()
    if not lines:
        return "Held back: the invoice has no lines."
    try:
        qbxml.invoice_number(invoice.ref_number or "")
        for line in lines:
            qbxml.quantity(line.quantity)
            qbxml.price(line.rate)
    except qbxml.QbxmlValueError as exc:
        return f"Held back: {exc}."
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
    take (to_send holds such invoices back, so a sent one never does)."""
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


def _settle_in_quickbooks(invoice, txn_id, now) -> None:
    invoice.status = InvoiceStatus.IN_QUICKBOOKS
    invoice.txn_id = txn_id
    invoice.transferred_at = now
    invoice.error_code = None
    invoice.error = ""


def _locked(connector, pks, **annotations) -> dict:
    """The answered invoices still awaiting an answer through `connector`, locked. One query."""
    invoices = Invoice.objects.select_for_update(of=("self",)).filter(
        pk__in=pks, status=InvoiceStatus.SENT, connector=connector
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
    Returns {"added": n, "failed": n}. Statements: one SELECT … FOR UPDATE, one UPDATE."""
    answers = list(answers)
    counts = {"added": 0, "failed": 0}
    with transaction.atomic():
        invoices = _locked(connector, [pk for pk, _ in answers])
        changed = {}
        for pk, rs in answers:
            invoice = invoices.get(pk)
            if invoice is None or pk in changed:
                continue
            ret = _first_invoice_ret(rs)
            if rs.ok and ret is not None and ret.txn_id:
                _settle_in_quickbooks(invoice, ret.txn_id, now)
                counts["added"] += 1
            elif rs.status_code >= 1000:
                invoice.status = InvoiceStatus.FAILED
                invoice.error_code = rs.status_code
                invoice.error = rs.message or f"QuickBooks refused the invoice ({rs.status_code})."
                counts["failed"] += 1
            else:
                continue
            changed[pk] = invoice
        if changed:
            Invoice.objects.bulk_update(list(changed.values()), _SETTLED_FIELDS)
    return counts


def apply_query(connector, answers, now) -> dict:
    """Apply QuickBooks' answers to InvoiceQuery-by-RefNumber lookups: `answers` is (invoice pk,
    Response) pairs. Found for the invoice's customer → in_quickbooks with that TxnID (nothing is
    created); found only for other customers → failed, saying so (the number is taken in that
    company file); not found (status 1) → approved again with no connector, to be sent wherever
    its organization goes now; a failed lookup leaves it sent with the reason, to be looked up
    again. Returns {"found": n, "not_found": n, "conflict": n}.
    Statements: one SELECT … FOR UPDATE (with the customers' ListIDs), one UPDATE."""
    answers = list(answers)
    counts = {"found": 0, "not_found": 0, "conflict": 0}
    with transaction.atomic():
        invoices = _locked(
            connector,
            [pk for pk, _ in answers],
            customer_list_id=_customer_list_id(connector),
        )
        changed = {}
        for pk, rs in answers:
            invoice = invoices.get(pk)
            if invoice is None or pk in changed:
                continue
            rets = [ret for ret in rs.rets if isinstance(ret, qbxml.InvoiceRet)]
            if rs.status_code == 0 and rets:
                mine = [
                    ret
                    for ret in rets
                    if invoice.customer_list_id and ret.customer_list_id == invoice.customer_list_id
                ]
                if mine:
                    _settle_in_quickbooks(invoice, mine[0].txn_id, now)
                    counts["found"] += 1
                else:
                    others = ", ".join(
                        sorted({ret.customer_full_name or ret.customer_list_id for ret in rets})
                    )
                    invoice.status = InvoiceStatus.FAILED
                    invoice.error_code = None
                    invoice.error = (
                        f"QuickBooks ({connector.name}) already has invoice number "
                        f"{invoice.ref_number} for another customer ({others}); it was not sent "
                        "again. Check that invoice in QuickBooks before retrying."
                    )
                    counts["conflict"] += 1
            elif rs.no_match:
                invoice.status = InvoiceStatus.APPROVED
                invoice.connector = None
                invoice.error_code = None
                invoice.error = ""
                counts["not_found"] += 1
            else:
                invoice.error_code = rs.status_code if rs.status_code > 0 else None
                invoice.error = (
                    f"Looking the invoice up in QuickBooks failed ({rs.message or 'no answer'}); "
                    "it is looked up again at the next update before anything is sent."
                )
            changed[pk] = invoice
        if changed:
            Invoice.objects.bulk_update(list(changed.values()), _SETTLED_FIELDS)
    return counts
