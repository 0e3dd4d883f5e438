"""Query counts are tests: a QBWC call costs a small constant number of queries, whatever the
number of organizations routed to the connector and whatever the batch holds.

sendRequestXML reads only, outside any transaction (what receiveResponseXML needs travels in the
requestIDs): load the session and its connector (not locked); read the next batch of candidates
with their transfer state — plus, when follow-ups wait, one query for them. A session's first
sendRequestXML also records what QuickBooks reported (one UPDATE). The candidate read is one query
unless more than two batches' worth of unchanged organizations must be skipped (their
fingerprints are computed in Python): then one more per 500 organizations read, at most
SCAN_CHUNKS_PER_CALL reads in all, and one UPDATE moving the scan past them when they held
nothing to send.
receiveResponseXML: load the session (locked); read the answered organizations' transfer rows
(locked) and the organizations; one upsert of the transfers and one session update. It is one
transaction (its BEGIN/COMMIT, or SAVEPOINT/RELEASE inside a test, count too).
"""

import pytest

from connectors.services import map_organization
from qbwc_soap.kinds import customers
from qbwc_soap.models import CustomerTransfer
from tests.connectors.factories import CONNECTOR_PASSWORD
from tests.organizations.factories import OrganizationFactory

from .simulator import ADD_3250

# Item queries have their own tests (test_invoice_conversation.py); these start with items read.
pytestmark = pytest.mark.usefixtures("items_already_read")

# The transfer upsert (INSERT … ON CONFLICT DO UPDATE) and the session update.
WRITES = 2
SEND_SCAN_QUERIES = 2
SEND_WITH_FOLLOWUPS_QUERIES = SEND_SCAN_QUERIES + 1
# The first sendRequestXML of a session records what QuickBooks reported.
FIRST_CALL_WRITE = 1
SEND_FIRST_QUERIES = SEND_SCAN_QUERIES + FIRST_CALL_WRITE
# The session, the answered organizations' transfer rows (locked), the organizations.
READS = 3
RECEIVE_QUERIES = 2 + READS + WRITES


def drive(qbwc, quickbooks, connector, assert_max_queries, scan_reads=1):
    """A whole QBWC session, each sendRequestXML/receiveResponseXML under a query ceiling
    (`scan_reads`: how many candidate reads a sendRequestXML may make); returns [(send queries,
    receive queries)] per round trip."""
    ticket, status = qbwc.authenticate(connector.username, CONNECTOR_PASSWORD)
    assert status not in ("none", "nvu")
    counts = []
    hcp = quickbooks.hcp_response()
    for i in range(100):
        ceiling = SEND_WITH_FOLLOWUPS_QUERIES + (FIRST_CALL_WRITE if i == 0 else 0)
        if scan_reads > 1:  # more reads, and the UPDATE moving the scan past them
            ceiling += scan_reads - 1 + 1
        with assert_max_queries(ceiling) as send:
            request = qbwc.sendRequestXML(ticket, hcp, connector.company_file, "US", 13, 0)
        hcp = ""
        answer = quickbooks.answer(request)
        with assert_max_queries(RECEIVE_QUERIES) as receive:
            progress = qbwc.receiveResponseXML(ticket, answer, "", "")
        counts.append((len(send.captured_queries), len(receive.captured_queries)))
        assert progress >= 0
        if progress == 100:
            break
    else:
        raise AssertionError("session never reached 100")
    qbwc.closeConnection(ticket)
    return counts


def test_query_counts_per_call_do_not_grow_with_the_organizations(
    default_connector, other_connector, qbwc, django_assert_max_num_queries
):
    # given 1 organization for one connector and 80 (four batches) for the other
    map_organization(OrganizationFactory(), other_connector)
    OrganizationFactory.create_batch(80)
    # when both company files are brought up to date
    one = drive(qbwc, _quickbooks(), other_connector, django_assert_max_num_queries)
    many = drive(qbwc, _quickbooks(), default_connector, django_assert_max_num_queries)
    # then every call costs the same, however many organizations its batch or connector has
    assert one == [(SEND_FIRST_QUERIES, RECEIVE_QUERIES)]
    assert (
        many == [(SEND_FIRST_QUERIES, RECEIVE_QUERIES)] + [(SEND_SCAN_QUERIES, RECEIVE_QUERIES)] * 3
    )


def test_a_long_run_of_up_to_date_organizations_costs_each_call_a_bounded_number_of_queries(
    default_connector, qbwc, django_assert_max_num_queries, monkeypatch, settings
):
    # given 60 organizations in QuickBooks and 2 changed behind them, with scan chunks of 5
    settings.QBWC_BATCH_SIZE = 2
    monkeypatch.setattr(customers, "SCAN_CHUNK", 5)
    quickbooks = _quickbooks()
    organizations = OrganizationFactory.create_batch(62)
    drive(qbwc, quickbooks, default_connector, django_assert_max_num_queries)
    for org in organizations[-2:]:
        org.phone = "555-0144"
        org.save()
    # when a session skips the up-to-date ones, no call reading more than SCAN_CHUNKS_PER_CALL
    # chunks (asserted in drive)
    counts = drive(
        qbwc,
        quickbooks,
        default_connector,
        django_assert_max_num_queries,
        scan_reads=customers.SCAN_CHUNKS_PER_CALL,
    )
    # then the scan took several calls to get past them, and the changed ones reach QuickBooks
    assert len(counts) > 1
    phones = {c["Phone"] for c in quickbooks.customers.values() if "Phone" in c}
    assert "555-0144" in phones


def test_query_counts_updates_are_the_same_as_adds(
    default_connector, qbwc, django_assert_max_num_queries
):
    # given 30 organizations already in QuickBooks, 20 of them changed since
    quickbooks = _quickbooks()
    organizations = OrganizationFactory.create_batch(30)
    drive(qbwc, quickbooks, default_connector, django_assert_max_num_queries)
    for org in organizations[:20]:
        org.phone = "555-0142"
        org.save()
    # when the next session sends them as CustomerModRq, skipping the unchanged ones
    counts = drive(qbwc, quickbooks, default_connector, django_assert_max_num_queries)
    # then
    assert counts == [(SEND_FIRST_QUERIES, RECEIVE_QUERIES)]
    assert (
        CustomerTransfer.objects.filter(edit_sequence="", connector=default_connector).count() == 0
    )


@pytest.mark.parametrize("each", [1, 6])
def test_query_counts_stay_bounded_with_every_kind_of_answer(
    default_connector, qbwc, django_assert_max_num_queries, each
):
    # given batches mixing adds, names QuickBooks already has (3100 → query → link → mod),
    # names another list holds (3100 → query → 500 → add …), refusals (3250) and customers
    # edited in QuickBooks meanwhile (3200 → query by ListID → mod)
    quickbooks = _quickbooks()
    OrganizationFactory.create_batch(3 * each)
    for org in OrganizationFactory.create_batch(each):
        quickbooks.add_customer(org.name)
    for org in OrganizationFactory.create_batch(each):
        quickbooks.vendor_names.add(org.name)
    for org in OrganizationFactory.create_batch(each):
        quickbooks.fail_names[org.name] = ADD_3250
    stale = OrganizationFactory.create_batch(each)
    first = drive(qbwc, quickbooks, default_connector, django_assert_max_num_queries)
    for org in stale:
        quickbooks.touch(quickbooks.by_name(org.name)["ListID"])
        org.phone = "555-0143"
        org.save()
    # when sessions run with every call under its ceiling (asserted in drive)
    counts = drive(qbwc, quickbooks, default_connector, django_assert_max_num_queries)
    # then follow-up round trips cost at most the one extra query, and a round trip with
    # nothing left to send (a HostQuery) fewer
    assert len(first) > 1 and len(counts) > 1
    assert max(send for send, _ in first[1:] + counts[1:]) <= SEND_WITH_FOLLOWUPS_QUERIES
    assert max(first[0][0], counts[0][0]) <= SEND_WITH_FOLLOWUPS_QUERIES + FIRST_CALL_WRITE
    assert max(receive for _, receive in first + counts) == RECEIVE_QUERIES


def test_skipping_unchanged_organizations_costs_one_query_per_scan_chunk(
    default_connector, qbwc, django_assert_max_num_queries
):
    # given 60 organizations in QuickBooks, of which only the last 5 changed since
    quickbooks = _quickbooks()
    organizations = OrganizationFactory.create_batch(60)
    drive(qbwc, quickbooks, default_connector, django_assert_max_num_queries)
    for org in organizations[-5:]:
        org.phone = "555-0144"
        org.save()
    # when the next session has to read past 55 unchanged ones (more than two batches)
    counts = drive(qbwc, quickbooks, default_connector, django_assert_max_num_queries)
    # then the scan reads one more chunk (of up to 500 organizations), and nothing else grows
    assert counts == [(SEND_FIRST_QUERIES + 1, RECEIVE_QUERIES)]


def _quickbooks():
    from .simulator import QuickBooks

    return QuickBooks()
