"""Statements per SOAP call are the same whatever the batch size and the number of organizations
(issue 12's target), and receiveResponseXML commits synchronously."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.connectors.factories import CONNECTOR_PASSWORD
from tests.organizations.factories import OrganizationFactory

from .simulator import QuickBooks

# Item queries have their own tests (test_invoice_conversation.py); these start with items read.
pytestmark = pytest.mark.usefixtures("items_already_read")


def _statements_per_call(qbwc, connector):
    """[(sendRequestXML statements, receiveResponseXML statements)] for a whole session."""
    quickbooks = QuickBooks()
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
