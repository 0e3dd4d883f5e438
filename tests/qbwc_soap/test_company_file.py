"""The company file QuickBooks reports on a session's first sendRequestXML: the connector's own
is the only one that gets anything."""

from django.urls import reverse

from connectors.models import WebConnector
from qbwc_soap.models import CustomerTransfer, QbwcSession
from qbwc_soap.sessions import WRONG_COMPANY_FILE_SUMMARY
from tests.connectors.factories import CONNECTOR_PASSWORD
from tests.organizations.factories import OrganizationFactory

WRONG_FILE = r"C:\Users\Public\Documents\Intuit\QuickBooks\Other Books.QBW"


def _first_send(qbwc, quickbooks, connector, company_file):
    ticket, status = qbwc.authenticate(connector.username, CONNECTOR_PASSWORD)
    assert status not in ("none", "nvu")
    return ticket, qbwc.sendRequestXML(ticket, quickbooks.hcp_response(), company_file, "US", 13, 0)


def test_wrong_company_file_gets_nothing_and_qbwc_is_told_both_paths(
    default_connector, qbwc, quickbooks
):
    # given 25 organizations for the main connector
    OrganizationFactory.create_batch(25)
    # when QBWC reports another company file on the main connector's ticket
    ticket, request = _first_send(qbwc, quickbooks, default_connector, WRONG_FILE)
    # then nothing is sent, and getLastError says which file is open and which one is expected
    assert request == ""
    message = qbwc.getLastError(ticket)
    assert WRONG_FILE in message and default_connector.company_file in message
    assert not CustomerTransfer.objects.exists()
    session = QbwcSession.objects.get(ticket=ticket)
    assert session.status == QbwcSession.Status.ERROR and session.last_error == message
    assert qbwc.sendRequestXML(ticket, "", default_connector.company_file, "US", 13, 0) == ""
    assert qbwc.closeConnection(ticket) == WRONG_COMPANY_FILE_SUMMARY


def test_wrong_company_file_is_kept_for_an_admin_to_accept(default_connector, qbwc, quickbooks):
    OrganizationFactory()
    _first_send(qbwc, quickbooks, default_connector, WRONG_FILE)
    default_connector.refresh_from_db()
    assert default_connector.pending_company_file == WRONG_FILE
    assert default_connector.company_file != WRONG_FILE


def test_company_file_is_compared_without_case(default_connector, qbwc, quickbooks):
    OrganizationFactory()
    _, request = _first_send(
        qbwc, quickbooks, default_connector, default_connector.company_file.upper()
    )
    assert "CustomerAdd" in request


def test_blank_company_file_is_recorded_at_first_contact(default_connector, qbwc, quickbooks):
    WebConnector.objects.filter(pk=default_connector.pk).update(company_file="")
    OrganizationFactory()
    _, request = _first_send(qbwc, quickbooks, default_connector, WRONG_FILE)
    assert "CustomerAdd" in request
    default_connector.refresh_from_db()
    assert default_connector.company_file == WRONG_FILE


def test_blank_connector_may_not_record_a_file_another_connector_uses(
    default_connector, other_connector, qbwc, quickbooks
):
    # given a connector left blank, to which one organization is mapped
    from connectors.services import map_organization

    WebConnector.objects.filter(pk=other_connector.pk).update(company_file="")
    map_organization(OrganizationFactory(), other_connector)
    # when QBWC reports the main connector's company file for it
    ticket, request = _first_send(qbwc, quickbooks, other_connector, default_connector.company_file)
    # then it is refused, naming the connector that uses the file, and nothing is recorded
    assert request == ""
    message = qbwc.getLastError(ticket)
    assert default_connector.name in message and "different QuickBooks company file" in message
    other_connector.refresh_from_db()
    assert other_connector.company_file == ""


def test_transfer_log_shows_the_wrong_company_file(default_connector, qbwc, quickbooks, qb_client):
    OrganizationFactory()
    _first_send(qbwc, quickbooks, default_connector, WRONG_FILE)
    response = qb_client.get(reverse("qbwc_soap:transfer_log", args=[default_connector.pk]))
    assert WRONG_FILE in response.content.decode()


def test_after_the_moved_file_is_accepted_the_next_session_sends(
    default_connector, qbwc, quickbooks, qb_client
):
    # given a session refused because the company file was moved
    OrganizationFactory()
    _first_send(qbwc, quickbooks, default_connector, WRONG_FILE)
    # when an admin accepts the new path on the connector's page
    qb_client.post(reverse("connectors:accept_company_file", args=[default_connector.pk]))
    # then the next session sends to it
    ticket, status = qbwc.authenticate(default_connector.username, CONNECTOR_PASSWORD)
    assert status == WRONG_FILE
    request = qbwc.sendRequestXML(ticket, quickbooks.hcp_response(), WRONG_FILE, "US", 13, 0)
    assert "CustomerAdd" in request
