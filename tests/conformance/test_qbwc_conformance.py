"""QBWC conversations over real HTTP, with zeep speaking Intuit's WSDL to the live server."""

import pytest
import requests
from lxml import etree

from connectors.services import map_organization
from qbwc_soap.models import QbwcSession
from tests.connectors.factories import CONNECTOR_PASSWORD, MappingFactory
from tests.organizations.factories import OrganizationFactory
from tests.qbwc_soap.simulator import WSDL, QuickBooks
from tests.qbwc_soap.soap import Conversation, envelope

# Item queries have their own tests (test_invoice_conversation.py); these start with items read.
pytestmark = pytest.mark.usefixtures("items_already_read")

XS = "http://www.w3.org/2001/XMLSchema"


class ZeepQbwc:
    """QBWC's calls through zeep; authenticate's ArrayOfString unwrapped to a list."""

    def __init__(self, service):
        self.service = service

    def __getattr__(self, name):
        return getattr(self.service, name)

    def authenticate(self, username, password):
        return list(self.service.authenticate(username, password))


def test_every_intuit_operation(intuit, default_connector):
    OrganizationFactory()
    assert intuit.serverVersion()
    assert intuit.clientVersion("2.3.0.215") in ("", None)
    ticket, status, *_ = intuit.authenticate(default_connector.username, CONNECTOR_PASSWORD)
    assert status == default_connector.company_file
    request = intuit.sendRequestXML(ticket, "", default_connector.company_file, "US", 13, 0)
    assert "<CustomerAddRq" in request
    assert intuit.receiveResponseXML(ticket, None, "0x80040400", "parse error") < 0
    assert "0x80040400" in intuit.getLastError(ticket)
    assert intuit.connectionError(ticket, "0x80040408", "Could not start QuickBooks") == "done"
    assert intuit.closeConnection(ticket)


def test_interactive_operations(ours, db):
    assert ours.getInteractiveURL("ticket", "session") in ("", None)
    assert ours.interactiveDone("ticket")
    assert ours.interactiveRejected("ticket", "user declined")


def test_bad_login_over_http(intuit, default_connector):
    result = intuit.authenticate(default_connector.username, "wrong")
    assert len(result) >= 2 and result[1] == "nvu"


def test_full_session_over_http(intuit, default_connector, other_connector):
    # given
    orgs = OrganizationFactory.create_batch(30)
    MappingFactory(connector=other_connector)
    quickbooks = QuickBooks()
    conversation = Conversation(ZeepQbwc(intuit), quickbooks, "main", CONNECTOR_PASSWORD)
    # when
    summary = conversation.run()
    # then
    assert summary == "30 customers added, 0 updated, 0 errors"
    assert conversation.progress == [83, 100]
    assert sorted(c["Name"] for c in quickbooks.customers.values()) == sorted(o.name for o in orgs)
    assert QbwcSession.objects.get(ticket=conversation.ticket).status == "done"
    # and an unchanged second run has nothing to do
    assert Conversation(ZeepQbwc(intuit), quickbooks, "main", CONNECTOR_PASSWORD).start() == "none"


def test_remapped_organization_over_http(intuit, default_connector, other_connector):
    org = OrganizationFactory()
    main_file, second_file = QuickBooks("Main"), QuickBooks("Second")
    Conversation(ZeepQbwc(intuit), main_file, "main", CONNECTOR_PASSWORD).run()
    map_organization(org, other_connector)
    assert Conversation(ZeepQbwc(intuit), second_file, "second", CONNECTOR_PASSWORD).run()
    assert [c["Name"] for c in second_file.customers.values()] == [org.name]


def test_interleaved_sessions_over_http(intuit, default_connector, other_connector, settings):
    settings.QBWC_BATCH_SIZE = 3
    main_orgs = OrganizationFactory.create_batch(7)
    second_orgs = [MappingFactory(connector=other_connector).organization for _ in range(7)]
    main_file, second_file = QuickBooks("Main"), QuickBooks("Second")
    a = Conversation(ZeepQbwc(intuit), main_file, "main", CONNECTOR_PASSWORD)
    b = Conversation(ZeepQbwc(intuit), second_file, "second", CONNECTOR_PASSWORD)
    a.start()
    b.start()
    done = set()
    while len(done) < 2:
        for conversation in (a, b):
            if conversation not in done and conversation.step() == 100:
                done.add(conversation)
    assert sorted(c["Name"] for c in main_file.customers.values()) == sorted(
        o.name for o in main_orgs
    )
    assert sorted(c["Name"] for c in second_file.customers.values()) == sorted(
        o.name for o in second_orgs
    )


def post_as_qbwc(live_server, body: bytes, method: str):
    """A SOAP call over HTTP with the headers QBWC sends (its SOAPAction quoted)."""
    return requests.post(
        live_server.url + "/qbwc/",
        data=body,
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f'"http://developer.intuit.com/{method}"',
        },
        timeout=30,
    )


def test_real_captured_receive_response_envelope_is_accepted(live_server, default_connector):
    # QBWC's own bytes: entity-escaped qbXML, <hresult /> and <message /> empty.
    body = (WSDL.parent / "samples" / "invoice_add_rs_in_receiveResponseXML_soap.xml").read_bytes()
    response = post_as_qbwc(live_server, body, "receiveResponseXML")
    assert response.status_code == 200
    # an unknown ticket ends politely with a negative number, never a fault
    result = etree.fromstring(response.content).find(
        ".//{http://developer.intuit.com/}receiveResponseXMLResult"
    )
    assert int(result.text) < 0


def _elements(root):
    """Each top-level element of the WSDL's schema → its children (name, type, min, max, nil)."""
    out = {}
    for schema in root.iter(f"{{{XS}}}schema"):
        types = {ct.get("name"): ct for ct in schema.findall(f"{{{XS}}}complexType")}
        for element in schema.findall(f"{{{XS}}}element"):
            source = types[element.get("type").split(":")[-1]] if element.get("type") else element
            out[element.get("name")] = [
                (
                    child.get("name"),
                    child.get("type", "").split(":")[-1],
                    child.get("minOccurs", "1"),
                    child.get("maxOccurs", "1"),
                    child.get("nillable", "false"),
                )
                for child in source.iter(f"{{{XS}}}element")
                if child is not element
            ]
    return out


def test_served_wsdl_matches_intuits_element_for_element(live_server, db):
    served = etree.fromstring(requests.get(live_server.url + "/qbwc/?wsdl", timeout=30).content)
    intuit = _elements(etree.parse(str(WSDL)).getroot())
    ours = _elements(served)
    for name, children in intuit.items():
        assert ours.get(name) == children, name
    assert served.get("targetNamespace") == "http://developer.intuit.com/"


def test_demo_connectors_credentials_work_over_http(intuit, db):
    import io

    from connectors import demo as connectors_demo
    from organizations import demo as organizations_demo

    organizations_demo.seed(io.StringIO())
    connectors_demo.seed(io.StringIO())
    for _name, username, password, _file in connectors_demo.CONNECTORS:
        quickbooks = QuickBooks()
        summary = Conversation(ZeepQbwc(intuit), quickbooks, username, password).run()
        assert summary.endswith("0 errors"), (username, summary)
        assert quickbooks.customers, username


WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
SOAP_BINDING_NS = "http://schemas.xmlsoap.org/wsdl/soap/"


def _soap11_layout(root):
    """The SOAP 1.1 binding's name, type, and each operation's soapAction; the service and
    port naming that binding; each message's (part name, element)."""
    binding = next(
        b
        for b in root.iter(f"{{{WSDL_NS}}}binding")
        if b.find(f"{{{SOAP_BINDING_NS}}}binding") is not None
    )
    actions = {
        op.get("name"): op.find(f"{{{SOAP_BINDING_NS}}}operation").get("soapAction")
        for op in binding.findall(f"{{{WSDL_NS}}}operation")
    }
    service = root.find(f"{{{WSDL_NS}}}service")
    port = next(
        p
        for p in service.findall(f"{{{WSDL_NS}}}port")
        if p.get("binding").split(":")[-1] == binding.get("name")
    )
    messages = {
        m.get("name"): [(p.get("name"), p.get("element")) for p in m]
        for m in root.findall(f"{{{WSDL_NS}}}message")
    }
    names = {
        "binding": binding.get("name"),
        "portType": binding.get("type").split(":")[-1],
        "service": service.get("name"),
        "port": port.get("name"),
    }
    return names, actions, messages


def test_served_wsdl_has_intuits_soap_actions_and_names(live_server, db):
    served = etree.fromstring(requests.get(live_server.url + "/qbwc/?wsdl", timeout=30).content)
    names, actions, messages = _soap11_layout(served)
    intuit_names, intuit_actions, intuit_messages = _soap11_layout(etree.parse(str(WSDL)).getroot())
    assert names == intuit_names
    for operation, action in intuit_actions.items():
        assert actions[operation] == action
    for operation, action in actions.items():
        assert action == "http://developer.intuit.com/" + operation
    for name, parts in intuit_messages.items():
        assert messages[name] == parts, name


def test_zeep_built_from_the_served_wsdl_authenticates(ours, default_connector, organization):
    ticket, status = ours.authenticate(default_connector.username, CONNECTOR_PASSWORD)
    assert ticket and status not in ("nvu", "none")


def test_the_soap_action_header_qbwc_sends_is_accepted(live_server, db):
    body = envelope("sendRequestXML", ticket="unknown", qbXMLMajorVers=13, qbXMLMinorVers=0)
    response = post_as_qbwc(live_server, body, "sendRequestXML")
    assert response.status_code == 200
    assert b"sendRequestXMLResult" in response.content


def test_wrong_company_file_over_http(intuit, default_connector):
    OrganizationFactory.create_batch(25)
    ticket, status = intuit.authenticate(default_connector.username, CONNECTOR_PASSWORD)
    wrong = r"C:\QuickBooks\Somebody else.QBW"
    assert intuit.sendRequestXML(ticket, "", wrong, "US", 13, 0) in ("", None)
    message = intuit.getLastError(ticket)
    assert wrong in message and default_connector.company_file in message
    assert intuit.closeConnection(ticket)
    assert not QbwcSession.objects.get(ticket=ticket).added
