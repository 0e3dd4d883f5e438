"""What the item and invoice request-kind tests share: billing rows made the way billing makes
them, a customer both QuickBooks and the portal know, and one round trip of the invoice kind
against the simulator, driven the way the QBWC pipeline drives it."""

import itertools
from datetime import date
from decimal import Decimal

from billing.models import Invoice, InvoiceLine, InvoiceStatus, ItemMapping, QuickBooksItem
from qbwc_soap import invoices, qbxml
from qbwc_soap.models import CustomerTransfer
from tests.kaseya_modules.factories import KaseyaModuleFactory

PERIOD = date(2026, 10, 1)
_numbers = itertools.count(1)


def module():
    return KaseyaModuleFactory()


def approved_invoice(org, mod, lines=(("users", Decimal("12"), Decimal("3.5")),), **fields):
    """An approved invoice of `org` for PERIOD, one line per (billing type, quantity, rate)."""
    values = dict(
        organization=org,
        period=PERIOD,
        status=InvoiceStatus.APPROVED,
        ref_number=f"T{next(_numbers):06d}",
    )
    values.update(fields)
    invoice = Invoice.objects.create(**values)
    total = Decimal(0)
    for position, (billing_type, quantity, rate) in enumerate(lines):
        amount = (quantity * rate).quantize(Decimal("0.01"))
        total += amount
        InvoiceLine.objects.create(
            invoice=invoice,
            position=position,
            module=mod,
            billing_type=billing_type,
            billing_type_name=billing_type.title(),
            quantity=quantity,
            rate=rate,
            amount=amount,
            description=f"{mod.name} {billing_type.title()}: {org.name}",
        )
    invoice.total = total
    invoice.save(update_fields=["total"])
    return invoice


def customer_in(quickbooks, org, connector):
    """The organization is a customer in the connector's company file, and the portal knows
    its ListID (what the customer request kind leaves behind)."""
    customer = quickbooks.add_customer(qbxml.customer_from(org).name)
    CustomerTransfer.objects.update_or_create(
        organization=org, connector=connector, defaults={"list_id": customer["ListID"]}
    )
    return customer["ListID"]


def map_item(quickbooks, connector, mod, billing_type="users", full_name=None):
    """The billing type is invoiced as an item of the connector's company file."""
    full_name = full_name or f"{mod.name} {billing_type}"
    qb_item = quickbooks.add_item(full_name, "service")
    item = QuickBooksItem.objects.create(
        connector=connector, list_id=qb_item["ListID"], full_name=full_name, kind="service"
    )
    ItemMapping.objects.create(
        connector=connector, module=mod, billing_type=billing_type, item=item
    )
    return item


def request_ids(responses, prefix):
    """(invoice pk, Response) for the answers to requests whose requestID starts with `prefix`."""
    return [(int(rs.request_id[1:]), rs) for rs in responses if rs.request_id[0] == prefix]


def round_trip(connector, quickbooks, now, limit=50):
    """One sendRequestXML / receiveResponseXML of the invoice kind: lookups first, then sends.
    Returns the request text (None when there was nothing to ask); the simulator's AnswerLost
    propagates after the invoices were committed as sent."""
    builder = qbxml.RequestBuilder()
    for invoice in invoices.to_look_up(connector):
        builder.invoice_query_by_ref_number(f"q{invoice.pk}", invoice.ref_number)
    for out in invoices.mark_sent(invoices.to_send(connector, limit), connector, now):
        invoices.build(builder, f"a{out.invoice.pk}", out.invoice, out.customer_list_id, out.items)
    if not len(builder):
        return None
    text = builder.tostring()
    responses = qbxml.parse_response(quickbooks.answer(text))
    invoices.apply_query(connector, request_ids(responses, "q"), now)
    invoices.apply_add(connector, request_ids(responses, "a"), now)
    return text
