"""Invoices and item lists through the real SOAP endpoint, QBWC's side played by the test client
and QuickBooks' by the simulator (which validates every message against the qbXML 13.0 schema):
each connector receives only its organizations' invoices, never twice."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from lxml import etree

from billing.apps import BILLING_GROUP
from billing.invoicing import retry
from billing.models import Invoice, InvoiceStatus, ItemCatalog, QuickBooksItem
from billing.prices import request_item_refresh
from connectors.services import map_organization
from tests.conftest import make_user
from tests.organizations.factories import OrganizationFactory

from .invoice_support import PERIOD, approved_invoice, map_item, module
from .simulator import AnswerLost, QuickBooks


@pytest.fixture
def graphus(db):
    return module()


@pytest.fixture
def main_file():
    return QuickBooks("Main")


@pytest.fixture
def second_file():
    return QuickBooks("Second")


@pytest.fixture
def billing_page(db):
    client = Client()
    client.force_login(make_user("biller", groups=[BILLING_GROUP]))
    return client


def _reload(invoice):
    return Invoice.objects.get(pk=invoice.pk)


def _ref_numbers(quickbooks):
    return sorted(inv["RefNumber"] for group in quickbooks.invoices.values() for inv in group)


def _sent_request_tags(conversation):
    return [tag for message in conversation.messages for tag in _tags(message)]


def _tags(message):
    msgs = etree.fromstring(message.encode()).find("QBXMLMsgsRq")
    return [rq.tag for rq in msgs]


def test_two_connectors_each_receive_only_their_organizations_invoices_and_items(
    default_connector, other_connector, converse, main_file, second_file, graphus
):
    # given: one organization on each connector, each file with its own item
    stays, moved = OrganizationFactory(), OrganizationFactory()
    map_organization(moved, other_connector)
    map_item(main_file, default_connector, graphus, full_name="Main service")
    map_item(second_file, other_connector, graphus, full_name="Second service")
    stays_invoice, moved_invoice = (
        approved_invoice(stays, graphus),
        approved_invoice(moved, graphus),
    )
    # when each web connector runs a conversation
    main_summary = converse(default_connector, main_file).run()
    second_summary = converse(other_connector, second_file).run()
    # then: customers first, then the invoices, each in its own company file
    assert _ref_numbers(main_file) == [stays_invoice.ref_number]
    assert _ref_numbers(second_file) == [moved_invoice.ref_number]
    assert _reload(stays_invoice).connector == default_connector
    assert _reload(moved_invoice).connector == other_connector
    for invoice in (stays_invoice, moved_invoice):
        invoice = _reload(invoice)
        assert invoice.status == InvoiceStatus.IN_QUICKBOOKS and invoice.txn_id
    assert main_summary == (
        "3 item lists read, 1 customer added, 0 updated, 1 invoice sent, 0 errors"
    )
    assert "1 invoice sent" in second_summary
    # and each file's item list is read into its own connector's items
    assert set(
        QuickBooksItem.objects.filter(connector=other_connector).values_list("full_name", flat=True)
    ) == {"Second service"}


def test_items_are_queried_first_and_invoices_after_the_customers(
    default_connector, converse, main_file, graphus
):
    map_item(main_file, default_connector, graphus)
    approved_invoice(OrganizationFactory(), graphus)
    conversation = converse(default_connector, main_file)
    conversation.run()
    tags = _sent_request_tags(conversation)
    assert tags.index("CustomerAddRq") > tags.index("ItemOtherChargeQueryRq")
    assert tags.index("InvoiceAddRq") > tags.index("CustomerAddRq")
    # nothing was sent twice and no lookup was needed
    assert tags.count("InvoiceAddRq") == 1 and "InvoiceQueryRq" not in tags


def test_an_organization_remapped_after_approval_is_invoiced_where_it_goes_at_sending_time(
    default_connector, other_connector, converse, main_file, second_file, graphus, billing_page
):
    # given an invoice approved while its organization went to the default connector
    org = OrganizationFactory(name="Moving Ltd")
    map_item(main_file, default_connector, graphus)
    map_item(second_file, other_connector, graphus)
    invoice = approved_invoice(org, graphus, approved_connector_name=default_connector.name)
    # when the organization is re-mapped before the invoice is sent
    map_organization(org, other_connector)
    page = billing_page.get(reverse("billing:invoices"), {"period": f"{PERIOD:%Y-%m}"})
    # then the Invoices page says where it goes now
    assert page.status_code == 200
    text = page.content.decode()
    assert "Second company file" in text and "(was Main company file when approved)" in text
    # and the conversations send it to the new connector's file only
    converse(default_connector, main_file).run()
    converse(other_connector, second_file).run()
    assert _ref_numbers(main_file) == []
    assert _ref_numbers(second_file) == [invoice.ref_number]
    assert _reload(invoice).connector == other_connector


def test_a_missing_item_mapping_holds_the_invoice_with_the_message_and_sends_the_rest(
    default_connector, converse, main_file, graphus
):
    # given two invoices, one with a billing type that has no item on this connector
    map_item(main_file, default_connector, graphus)
    ready = approved_invoice(OrganizationFactory(), graphus)
    held = approved_invoice(
        OrganizationFactory(), graphus, lines=(("devices", Decimal("2"), Decimal("5")),)
    )
    # when
    converse(default_connector, main_file).run()
    # then
    assert _ref_numbers(main_file) == [ready.ref_number]
    held = _reload(held)
    assert held.status == InvoiceStatus.APPROVED
    assert "Devices" in held.held and default_connector.name in held.held


def test_more_held_invoices_than_one_call_reads_still_let_the_sendable_ones_through(
    default_connector, converse, main_file, graphus, settings
):
    # given batches of 2 and more held invoices than one sendRequestXML reads (3 batches)
    settings.QBWC_BATCH_SIZE = 2
    map_item(main_file, default_connector, graphus)
    held = [
        approved_invoice(
            OrganizationFactory(), graphus, lines=(("devices", Decimal("2"), Decimal("5")),)
        )
        for _ in range(9)
    ]
    ready = [approved_invoice(OrganizationFactory(), graphus) for _ in range(2)]
    # when
    converse(default_connector, main_file).run()
    # then every sendable invoice was sent once and every held one says why
    assert _ref_numbers(main_file) == sorted(invoice.ref_number for invoice in ready)
    for invoice in held:
        invoice = _reload(invoice)
        assert invoice.status == InvoiceStatus.APPROVED and "Devices" in invoice.held


@pytest.mark.django_db(transaction=True)
def test_an_invoice_whose_answer_was_lost_is_found_by_ref_number_and_never_sent_twice(
    default_connector, converse, main_file, graphus
):
    # given an approved invoice, and a QuickBooks whose answer to the InvoiceAdd never arrives
    map_item(main_file, default_connector, graphus)
    invoice = approved_invoice(OrganizationFactory(), graphus)
    main_file.lose_invoice_add_answers = 1
    first = converse(default_connector, main_file)
    with pytest.raises(AnswerLost):
        first.run()
    # then QuickBooks has it, and the portal committed it as sent before the request left
    assert len(main_file.invoices_numbered(invoice.ref_number)) == 1
    assert _reload(invoice).status == InvoiceStatus.SENT
    # when the next conversation runs
    second = converse(default_connector, main_file)
    summary = second.run()
    # then it looked the invoice up instead of sending it again
    tags = _sent_request_tags(second)
    assert "InvoiceQueryRq" in tags and "InvoiceAddRq" not in tags
    assert len(main_file.invoices_numbered(invoice.ref_number)) == 1
    invoice = _reload(invoice)
    assert invoice.status == InvoiceStatus.IN_QUICKBOOKS
    assert invoice.txn_id == main_file.invoices_numbered(invoice.ref_number)[0]["TxnID"]
    assert "1 found in QuickBooks" in summary


def test_a_refused_invoice_shows_quickbooks_error_and_goes_after_retry(
    default_connector, converse, main_file, graphus, billing_page
):
    # given QuickBooks refuses the invoice with 3140 (an invalid reference)
    map_item(main_file, default_connector, graphus)
    invoice = approved_invoice(OrganizationFactory(), graphus)
    main_file.fail_invoices[invoice.ref_number] = 3140
    # when
    summary = converse(default_connector, main_file).run()
    # then the error is on the invoice and its page
    invoice = _reload(invoice)
    assert invoice.status == InvoiceStatus.FAILED and invoice.error_code == 3140
    assert "1 refused" in summary
    page = billing_page.get(reverse("billing:invoice", args=[invoice.pk]))
    assert "3140" in page.content.decode()
    # when an admin fixes it in QuickBooks and retries
    del main_file.fail_invoices[invoice.ref_number]
    retry(invoice)
    converse(default_connector, main_file).run()
    # then the next conversation sends it, once
    assert _reload(invoice).status == InvoiceStatus.IN_QUICKBOOKS
    assert len(main_file.invoices_numbered(invoice.ref_number)) == 1


def test_item_lists_are_read_once_and_again_when_an_admin_asks(
    default_connector, converse, main_file
):
    # given a company file with items of each kind
    main_file.add_item("Consulting", "service")
    main_file.add_item("Licences", "noninventory")
    main_file.add_item("Setup fee", "othercharge")
    # when a conversation runs
    assert "3 item lists read" in converse(default_connector, main_file).run()
    # then the connector's items are known
    known = QuickBooksItem.objects.filter(connector=default_connector)
    assert sorted(known.values_list("full_name", "kind")) == [
        ("Consulting", "service"),
        ("Licences", "noninventory"),
        ("Setup fee", "othercharge"),
    ]
    # and the next conversation does not read them again (nothing else to do)
    main_file.add_item("Backup", "service")
    assert converse(default_connector, main_file).start() == "none"
    # until an admin asks for a refresh
    request_item_refresh(default_connector)
    conversation = converse(default_connector, main_file)
    assert "3 item lists read" in conversation.run()
    assert known.filter(full_name="Backup").exists()


def test_a_refresh_asked_for_while_the_items_are_being_read_stays_pending(
    default_connector, converse, main_file
):
    # given a conversation that has decided to read the item lists
    main_file.add_item("Consulting", "service")
    conversation = converse(default_connector, main_file)
    conversation.start()
    # when an admin asks for a refresh before QuickBooks' answers arrive
    request_item_refresh(default_connector)
    while conversation.step() != 100:
        pass
    conversation.qbwc.closeConnection(conversation.ticket)
    # then the lists read count, and the refresh is still due for the next conversation
    catalog = ItemCatalog.objects.get(connector=default_connector)
    assert catalog.refreshed_at is not None
    assert catalog.refresh_requested_at is not None
    assert "3 item lists read" in converse(default_connector, main_file).run()
    catalog.refresh_from_db()
    assert catalog.refresh_requested_at is None


def test_a_failed_answer_leaves_the_invoice_sent_and_the_next_conversation_looks_it_up_first(
    default_connector, converse, main_file, graphus
):
    # given a conversation that sent an InvoiceAdd, then QBWC reported an error for the message
    # (QuickBooks never processed it)
    map_item(main_file, default_connector, graphus)
    invoice = approved_invoice(OrganizationFactory(), graphus)
    first = converse(default_connector, main_file)
    first.start()
    while True:
        hcp = main_file.hcp_response() if not first.messages else ""
        request = first.qbwc.sendRequestXML(first.ticket, hcp, first.status, "US", 13, 0)
        first.messages.append(request)
        if "InvoiceAddRq" in request:
            break
        assert first.qbwc.receiveResponseXML(first.ticket, main_file.answer(request), "", "") >= 0
    assert first.qbwc.receiveResponseXML(first.ticket, "", "0x80040400", "parse error") < 0
    # then nothing changed: the invoice stays sent, its outcome unknown
    assert _reload(invoice).status == InvoiceStatus.SENT
    # when the next conversation runs
    second = converse(default_connector, main_file)
    second.run()
    # then it looks the invoice up, finds nothing, and only then sends it, once
    tags = _sent_request_tags(second)
    assert tags.index("InvoiceQueryRq") < tags.index("InvoiceAddRq")
    assert len(main_file.invoices_numbered(invoice.ref_number)) == 1
    invoice = _reload(invoice)
    assert invoice.status == InvoiceStatus.IN_QUICKBOOKS and invoice.send_attempts == 2
