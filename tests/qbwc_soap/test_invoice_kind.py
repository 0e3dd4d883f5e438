"""The invoice request kind against the real database and the QuickBooks simulator: an invoice
goes where its organization is routed when it is sent, and reaches QuickBooks at most once."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import Invoice, InvoiceStatus
from connectors.services import map_organization
from qbwc_soap import invoices, qbxml
from tests.organizations.factories import OrganizationFactory

from .invoice_support import (
    approved_invoice,
    customer_in,
    map_item,
    module,
    round_trip,
)
from .simulator import AnswerLost, QuickBooks, validate

pytestmark = pytest.mark.django_db


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def graphus():
    return module()


@pytest.fixture
def main_file():
    return QuickBooks("Main")


@pytest.fixture
def second_file():
    return QuickBooks("Second")


def _ready(org, connector, quickbooks, mod, **fields):
    """An approved invoice whose customer and item QuickBooks has on this connector."""
    customer_in(quickbooks, org, connector)
    if not connector.item_mappings.filter(module=mod, billing_type="users").exists():
        map_item(quickbooks, connector, mod)
    return approved_invoice(org, mod, **fields)


def _reload(invoice):
    return Invoice.objects.get(pk=invoice.pk)


def test_two_connectors_each_receive_only_their_organizations_invoices(
    default_connector, other_connector, main_file, second_file, graphus, now
):
    # given: one organization on the default connector, one mapped to the other
    stays, moved = OrganizationFactory(), OrganizationFactory()
    map_organization(moved, other_connector)
    stays_invoice = _ready(stays, default_connector, main_file, graphus)
    moved_invoice = _ready(moved, other_connector, second_file, graphus)
    # when
    round_trip(default_connector, main_file, now)
    round_trip(other_connector, second_file, now)
    # then
    assert [i["RefNumber"] for i in _all(main_file)] == [stays_invoice.ref_number]
    assert [i["RefNumber"] for i in _all(second_file)] == [moved_invoice.ref_number]
    for invoice, connector in (
        (stays_invoice, default_connector),
        (moved_invoice, other_connector),
    ):
        invoice = _reload(invoice)
        assert invoice.status == InvoiceStatus.IN_QUICKBOOKS
        assert invoice.connector == connector
        assert invoice.txn_id and invoice.transferred_at == now


def _all(quickbooks):
    return [invoice for found in quickbooks.invoices.values() for invoice in found]


def test_to_send_offers_only_invoices_of_organizations_routed_to_the_connector(
    default_connector, other_connector, main_file, second_file, graphus
):
    stays, moved = OrganizationFactory(), OrganizationFactory()
    map_organization(moved, other_connector)
    stays_invoice = _ready(stays, default_connector, main_file, graphus)
    moved_invoice = _ready(moved, other_connector, second_file, graphus)
    assert [o.invoice for o in invoices.to_send(default_connector, 50)] == [stays_invoice]
    assert [o.invoice for o in invoices.to_send(other_connector, 50)] == [moved_invoice]


def test_an_organization_remapped_after_approval_is_invoiced_through_its_new_connector(
    default_connector, other_connector, main_file, second_file, graphus, now
):
    # given: approved while the organization went to the default connector
    org = OrganizationFactory()
    invoice = _ready(org, default_connector, main_file, graphus)
    customer_in(second_file, org, other_connector)
    map_item(second_file, other_connector, graphus)
    # when: it is mapped to the other connector before anything was sent
    map_organization(org, other_connector)
    # then
    assert invoices.to_send(default_connector, 50) == []
    assert round_trip(default_connector, main_file, now) is None
    round_trip(other_connector, second_file, now)
    assert _all(main_file) == []
    assert [i["RefNumber"] for i in _all(second_file)] == [invoice.ref_number]
    assert _reload(invoice).connector == other_connector


def test_an_invoice_whose_outcome_is_unknown_is_looked_up_where_it_was_sent(
    default_connector, other_connector, main_file, second_file, graphus, now
):
    # given: sent through the default connector, the answer lost
    org = OrganizationFactory()
    invoice = _ready(org, default_connector, main_file, graphus)
    main_file.lose_invoice_add_answers = 1
    with pytest.raises(AnswerLost):
        round_trip(default_connector, main_file, now)
    assert _reload(invoice).status == InvoiceStatus.SENT
    # when: the organization is remapped meanwhile
    customer_in(second_file, org, other_connector)
    map_item(second_file, other_connector, graphus)
    map_organization(org, other_connector)
    # then: the other connector neither looks it up nor sends it; its own connector looks it up
    assert invoices.to_look_up(other_connector) == []
    assert invoices.to_send(other_connector, 50) == []
    assert invoices.to_look_up(default_connector) == [invoice]
    request = round_trip(default_connector, main_file, now + timedelta(minutes=5))
    assert [rq.tag for rq in validate(request).find("QBXMLMsgsRq")] == ["InvoiceQueryRq"]
    invoice = _reload(invoice)
    assert invoice.status == InvoiceStatus.IN_QUICKBOOKS
    assert invoice.connector == default_connector
    assert _all(second_file) == []


def test_a_lost_answer_is_found_by_ref_number_and_nothing_is_created_twice(
    default_connector, main_file, graphus, now
):
    # given: QuickBooks created the invoice, then the conversation died
    invoice = _ready(OrganizationFactory(), default_connector, main_file, graphus)
    main_file.lose_invoice_add_answers = 1
    with pytest.raises(AnswerLost):
        round_trip(default_connector, main_file, now)
    [created] = main_file.invoices_numbered(invoice.ref_number)
    sent = _reload(invoice)
    assert (sent.status, sent.connector, sent.send_attempts) == (
        InvoiceStatus.SENT,
        default_connector,
        1,
    )
    assert sent.sent_at == now and sent.txn_id == ""
    # when: the next conversation
    request = round_trip(default_connector, main_file, now + timedelta(hours=1))
    # then: it asked, it did not send, and it kept QuickBooks' TxnID
    doc = validate(request)
    assert doc.find(".//InvoiceAddRq") is None
    assert doc.findtext(".//InvoiceQueryRq/RefNumber") == invoice.ref_number
    assert main_file.invoice_count == 1
    invoice = _reload(invoice)
    assert invoice.status == InvoiceStatus.IN_QUICKBOOKS
    assert invoice.txn_id == created["TxnID"]
    assert invoice.send_attempts == 1
    # and a third conversation has nothing to do
    assert round_trip(default_connector, main_file, now + timedelta(hours=2)) is None


def test_an_invoice_quickbooks_never_received_is_sent_again_after_the_lookup(
    default_connector, main_file, graphus, now
):
    # given: marked sent, but the request never reached QuickBooks
    invoice = _ready(OrganizationFactory(), default_connector, main_file, graphus)
    [out] = invoices.mark_sent(invoices.to_send(default_connector, 50), default_connector, now)
    # when: the lookup finds nothing
    round_trip(default_connector, main_file, now)
    looked_up = _reload(invoice)
    assert (looked_up.status, looked_up.connector) == (InvoiceStatus.APPROVED, None)
    assert main_file.invoice_count == 0
    # then: the next round sends it, once
    round_trip(default_connector, main_file, now)
    invoice = _reload(invoice)
    assert invoice.status == InvoiceStatus.IN_QUICKBOOKS
    assert invoice.send_attempts == 2
    assert main_file.invoice_count == 1


def test_an_invoice_number_quickbooks_has_for_another_customer_fails_with_a_clear_message(
    default_connector, main_file, graphus, now
):
    org = OrganizationFactory()
    invoice = _ready(org, default_connector, main_file, graphus)
    stranger = main_file.add_customer("Someone Else Ltd")
    main_file.add_invoice(invoice.ref_number, stranger["ListID"])
    invoices.mark_sent([invoice], default_connector, now)
    round_trip(default_connector, main_file, now)
    invoice = _reload(invoice)
    assert invoice.status == InvoiceStatus.FAILED
    assert "already has invoice number" in invoice.error
    assert "Someone Else Ltd" in invoice.error
    assert main_file.invoice_count == 1


def test_a_failed_lookup_keeps_the_invoice_sent_and_says_why(
    default_connector, main_file, graphus, now
):
    invoice = _ready(OrganizationFactory(), default_connector, main_file, graphus)
    invoices.mark_sent([invoice], default_connector, now)
    main_file.fail_invoice_queries[invoice.ref_number] = 3250
    round_trip(default_connector, main_file, now)
    invoice = _reload(invoice)
    assert (invoice.status, invoice.connector) == (InvoiceStatus.SENT, default_connector)
    assert invoice.error_code == 3250 and "looked up again" in invoice.error
    # QuickBooks answers the next time: not there, so it may be sent
    del main_file.fail_invoice_queries[invoice.ref_number]
    round_trip(default_connector, main_file, now)
    assert _reload(invoice).status == InvoiceStatus.APPROVED


def test_a_missing_item_mapping_holds_the_invoice_back_with_what_to_map(
    default_connector, main_file, graphus, now
):
    # given: the customer is in QuickBooks, the billing type has no item on this connector
    org = OrganizationFactory()
    customer_in(main_file, org, default_connector)
    invoice = approved_invoice(org, graphus)
    # when
    assert invoices.to_send(default_connector, 50) == []
    # then
    held = _reload(invoice)
    assert held.status == InvoiceStatus.APPROVED
    assert held.held.startswith("Held back: map ")
    assert graphus.name in held.held and default_connector.name in held.held
    assert round_trip(default_connector, main_file, now) is None
    # and once mapped it goes at the next conversation, and the message is gone
    map_item(main_file, default_connector, graphus)
    assert invoices.recheck_held(default_connector) == 1
    round_trip(default_connector, main_file, now)
    sent = _reload(invoice)
    assert (sent.status, sent.held) == (InvoiceStatus.IN_QUICKBOOKS, "")


def test_an_inactive_item_counts_as_unmapped(default_connector, main_file, graphus):
    org = OrganizationFactory()
    customer_in(main_file, org, default_connector)
    item = map_item(main_file, default_connector, graphus)
    item.active = False
    item.save()
    invoice = approved_invoice(org, graphus)
    assert invoices.to_send(default_connector, 50) == []
    assert _reload(invoice).held


def test_an_invoice_whose_customer_quickbooks_lacks_is_held_back(default_connector, graphus):
    invoice = approved_invoice(OrganizationFactory(name="Nowhere Inc"), graphus)
    assert invoices.to_send(default_connector, 50) == []
    assert "Nowhere Inc is not a customer" in _reload(invoice).held


def test_held_invoices_are_read_once_per_conversation_and_never_crowd_out_sendable_ones(
    default_connector, main_file, graphus
):
    unmapped = module()
    for _ in range(3):
        org = OrganizationFactory()
        customer_in(main_file, org, default_connector)
        approved_invoice(org, unmapped)
    ready = _ready(OrganizationFactory(), default_connector, main_file, graphus)
    sent = []
    for _ in range(3):
        outgoing = invoices.to_send(default_connector, 2)
        invoices.mark_sent(outgoing, default_connector, timezone.now())
        sent += [o.invoice for o in outgoing]
    assert sent == [ready]
    assert Invoice.objects.filter(status=InvoiceStatus.APPROVED).exclude(held="").count() == 3
    assert invoices.to_send(default_connector, 2) == []
    # the next conversation checks them again
    assert invoices.recheck_held(default_connector) == 3
    assert Invoice.objects.filter(held="", status=InvoiceStatus.APPROVED).count() == 3


def test_an_invoice_quickbooks_could_never_take_fails_instead_of_waiting(
    default_connector, main_file, graphus
):
    org = OrganizationFactory()
    customer_in(main_file, org, default_connector)
    map_item(main_file, default_connector, graphus)
    too_many = approved_invoice(org, graphus, lines=[("users", Decimal("1e11"), Decimal(1))])
    empty = approved_invoice(org, graphus, lines=[])
    assert invoices.to_send(default_connector, 50) == []
    too_many, empty = _reload(too_many), _reload(empty)
    assert too_many.status == InvoiceStatus.FAILED
    assert "Quantity" in too_many.error and "too large" in too_many.error
    assert empty.status == InvoiceStatus.FAILED and "no lines" in empty.error


def test_invalid_reference_3140_fails_the_invoice_with_quickbooks_message(
    default_connector, main_file, graphus, now
):
    # given: the customer was deleted in QuickBooks after the portal learned its ListID
    org = OrganizationFactory()
    invoice = _ready(org, default_connector, main_file, graphus)
    main_file.delete(org.qb_transfers.get().list_id)
    # when
    round_trip(default_connector, main_file, now)
    # then
    invoice = _reload(invoice)
    assert invoice.status == InvoiceStatus.FAILED
    assert invoice.error_code == 3140
    assert "invalid reference to QuickBooks Customer" in invoice.error
    assert main_file.invoice_count == 0
    assert invoices.to_look_up(default_connector) == []


def test_an_unknown_item_list_id_is_3140_too(default_connector, main_file, graphus, now):
    invoice = _ready(OrganizationFactory(), default_connector, main_file, graphus)
    main_file.items.clear()  # the item was deleted in QuickBooks
    round_trip(default_connector, main_file, now)
    invoice = _reload(invoice)
    assert (invoice.status, invoice.error_code) == (InvoiceStatus.FAILED, 3140)
    assert "QuickBooks Item" in invoice.error


@pytest.mark.parametrize("code", [3180, 3200])
def test_other_quickbooks_errors_fail_the_invoice_with_code_and_message(
    default_connector, main_file, graphus, now, code
):
    invoice = _ready(OrganizationFactory(), default_connector, main_file, graphus)
    main_file.fail_invoices[invoice.ref_number] = code
    round_trip(default_connector, main_file, now)
    invoice = _reload(invoice)
    assert (invoice.status, invoice.error_code) == (InvoiceStatus.FAILED, code)
    assert invoice.error and invoice.txn_id == ""


def test_an_invoice_taken_by_someone_else_before_mark_sent_is_not_sent(
    default_connector, main_file, graphus, now
):
    first = _ready(OrganizationFactory(), default_connector, main_file, graphus)
    second = _ready(OrganizationFactory(), default_connector, main_file, graphus)
    outgoing = invoices.to_send(default_connector, 50)
    Invoice.objects.filter(pk=second.pk).update(status=InvoiceStatus.SENT)  # another conversation
    claimed = invoices.mark_sent(outgoing, default_connector, now)
    assert [o.invoice for o in claimed] == [first]
    assert _reload(second).send_attempts == 0


def test_mark_sent_is_one_conditional_update(default_connector, main_file, graphus, now):
    batch = [_ready(OrganizationFactory(), default_connector, main_file, graphus) for _ in range(5)]
    with CaptureQueriesContext(connection) as captured:
        assert len(invoices.mark_sent(batch, default_connector, now)) == 5
    assert _statements(captured) == ["UPDATE"]


def _statements(captured):
    """The statements run, by their first word, without the test transaction's savepoints."""
    return [
        q["sql"].split()[0]
        for q in captured.captured_queries
        if "SAVEPOINT" not in q["sql"].upper()
    ]


def test_the_invoice_add_carries_the_customer_items_number_and_last_day_of_the_period(
    default_connector, main_file, graphus, now
):
    org = OrganizationFactory()
    list_id = customer_in(main_file, org, default_connector)
    users = map_item(main_file, default_connector, graphus, "users")
    enabled = map_item(main_file, default_connector, graphus, "is_enabled")
    invoice = approved_invoice(
        org,
        graphus,
        lines=[("users", Decimal("12"), Decimal("3.5")), ("is_enabled", Decimal("1"), Decimal(40))],
        period=date(2028, 2, 1),
    )
    [out] = invoices.to_send(default_connector, 50)
    builder = qbxml.RequestBuilder()
    invoices.build(builder, "a1", out.invoice, out.customer_list_id, out.items)
    add = validate(builder.tostring()).find(".//InvoiceAdd")
    assert add.findtext("CustomerRef/ListID") == list_id
    assert add.findtext("RefNumber") == invoice.ref_number
    assert add.findtext("TxnDate") == "2028-02-29"
    assert [line.findtext("ItemRef/ListID") for line in add.iter("InvoiceLineAdd")] == [
        users.list_id,
        enabled.list_id,
    ]
    assert [line.findtext("Quantity") for line in add.iter("InvoiceLineAdd")] == ["12", "1"]
    assert [line.findtext("Rate") for line in add.iter("InvoiceLineAdd")] == ["3.5", "40"]
    assert graphus.name in add.findtext("InvoiceLineAdd/Desc")
