"""Statements per SOAP call are the same whatever the batch size and the number of organizations
(issue 12's target), and receiveResponseXML commits synchronously."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import Invoice, InvoiceStatus
from qbwc_soap import qbxml
from qbwc_soap.models import CustomerTransfer
from tests.connectors.factories import CONNECTOR_PASSWORD
from tests.organizations.factories import OrganizationFactory

from .invoice_support import approved_invoice, customer_in, map_item, module
from .simulator import QuickBooks

# Item queries have their own tests (test_invoice_conversation.py); these start with items read.
pytestmark = pytest.mark.usefixtures("items_already_read")


def _statements_per_call(qbwc, connector, quickbooks=None):
    """[(sendRequestXML statements, receiveResponseXML statements)] for a whole session."""
    quickbooks = quickbooks or QuickBooks()
    ticket, status = qbwc.authenticate(connector.username, CONNECTOR_PASSWORD)
    assert status not in ("none", "nvu")
    counts, hcp = [], quickbooks.hcp_response()
    while True:
        with CaptureQueriesContext(connection) as send:
            request = qbwc.sendRequestXML(ticket, hcp, connector.company_file, "US", 13, 0)
        hcp = ""
        answer = quickbooks.answer(request)
        with CaptureQueriesContext(connection) as receive:
            progress = qbwc.receiveResponseXML(ticket, answer, "", "")
        counts.append((len(send.captured_queries), len(receive.captured_queries)))
        assert 0 <= progress <= 100 and len(counts) < 20
        if progress == 100:
            return counts


@pytest.mark.parametrize("batch", [5, 40])
def test_statements_per_call_do_not_grow_with_the_batch_or_the_organizations(
    default_connector, qbwc, settings, batch
):
    # given three and a bit batches of organizations, at a small and at a large batch size
    settings.QBWC_BATCH_SIZE = batch
    OrganizationFactory.create_batch(3 * batch + 1)
    # when a session sends them all
    counts = _statements_per_call(qbwc, default_connector)
    # then every call costs the same as at the other batch size (the first sendRequestXML also
    # records what QuickBooks reported)
    assert counts == [(3, 7), (2, 7), (2, 7), (2, 7)]


def test_statements_per_call_are_the_same_for_one_organization(default_connector, qbwc):
    OrganizationFactory()
    assert _statements_per_call(qbwc, default_connector) == [(3, 7)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="synchronous_commit is PostgreSQL's")
def test_receive_response_commits_synchronously(qbwc, quickbooks, default_connector):
    # given a session with a batch to answer
    OrganizationFactory.create_batch(3)
    ticket, _ = qbwc.authenticate(default_connector.username, CONNECTOR_PASSWORD)
    request = qbwc.sendRequestXML(ticket, quickbooks.hcp_response(), "", "US", 13, 0)
    # when QuickBooks' answer is applied (inside the test's transaction, so a transaction-local
    # setting made on the way would still show)
    assert qbwc.receiveResponseXML(ticket, quickbooks.answer(request), "", "") == 100
    # then the commit waits for the WAL flush: durability is never traded for speed
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


def _invoices_ready(count, connector, quickbooks):
    """`count` approved invoices whose customers QuickBooks has, up to date, and whose item is
    mapped: a conversation that only sends invoices."""
    mod = module()
    map_item(quickbooks, connector, mod)
    for org in OrganizationFactory.create_batch(count):
        customer_in(quickbooks, org, connector)
        CustomerTransfer.objects.filter(organization=org).update(
            fingerprint=qbxml.customer_from(org).fingerprint()
        )
        approved_invoice(org, mod)


@pytest.mark.parametrize("batch", [5, 40])
def test_statements_per_call_do_not_grow_with_the_batch_or_the_invoices(
    default_connector, qbwc, settings, batch
):
    # given three and a bit batches of invoices to send, at a small and at a large batch size
    settings.QBWC_BATCH_SIZE = batch
    quickbooks = QuickBooks()
    _invoices_ready(3 * batch + 1, default_connector, quickbooks)
    # when a session sends them all
    counts = _statements_per_call(qbwc, default_connector, quickbooks)
    # then every call costs the same as at the other batch size: the customers' scan finds
    # nothing to send (a HostQuery), then each message of invoices costs the same. Sending: the
    # session, to_send's invoices, lines and item mappings, mark_sent's UPDATE in its own
    # transaction (a savepoint pair here, inside the test's transaction). Receiving: the
    # session, the invoices locked, one UPDATE of those QuickBooks took, the session saved, and
    # two savepoint pairs.
    assert Invoice.objects.filter(status=InvoiceStatus.IN_QUICKBOOKS).count() == 3 * batch + 1
    assert counts == [(4, 4), (7, 8), (7, 8), (7, 8), (7, 8)]
