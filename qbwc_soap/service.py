"""The QuickBooks Web Connector SOAP service (spyne), element-for-element Intuit's WSDL.

Each operation only translates SOAP to `sessions`; the protocol and its return values are in
PROTOCOL.md §2–3.
"""

import spyne.const
from spyne import Application, Array, Integer32, ServiceBase, Unicode, rpc
from spyne.error import Fault
from spyne.protocol.soap import Soap11

from mapping_portal.lib.client_address import client_address

from . import sessions

TNS = "http://developer.intuit.com/"

# spyne forces a full gc.collect() after a request at most once a second, to release MTOM file
# handles we never use; in a large Django process each one costs ~100 ms of a QBWC round trip.
spyne.const.MIN_GC_INTERVAL = float("inf")
SERVER_VERSION = "Mapping Portal QBWC service 1.0"

# Intuit's WSDL: every string minOccurs=0, never nil; the ints minOccurs=1.
String = Unicode(min_occurs=0, nillable=False)
Int = Integer32(min_occurs=1, nillable=False)
ArrayOfString = Array(Unicode(nillable=True), type_name="ArrayOfString").customize(
    min_occurs=0, nillable=False
)


class HardenedSoap11(Soap11):
    """SOAP 1.1 that refuses any document carrying a DOCTYPE: QBWC never sends one, and a DTD is
    how entity-expansion and external-entity attacks arrive."""

    def create_in_document(self, ctx, charset=None):
        raw = b"".join(
            chunk if isinstance(chunk, bytes) else chunk.encode() for chunk in ctx.in_string
        )
        # Checked on the raw bytes too, so a DTD is refused before any parser reads it.
        if b"<!DOCTYPE" in raw.upper():
            raise Fault("Client.DTDForbidden", "DOCTYPE declarations are not allowed.")
        ctx.in_string = [raw]
        super().create_in_document(ctx, charset)
        root = ctx.in_document[0]
        docinfo = root.getroottree().docinfo
        if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
            raise Fault("Client.DTDForbidden", "DOCTYPE declarations are not allowed.")
        # Intuit's WSDL gives serverVersion no parameters, but some QBWC builds send strVersion;
        # it carries nothing we use, so drop it rather than fail schema validation.
        for call in root.iter(f"{{{TNS}}}serverVersion"):
            for child in list(call):
                call.remove(child)


class QBWebConnectorService(ServiceBase):
    @rpc(_returns=String)
    def serverVersion(ctx):  # noqa: N802, N805 — names are the protocol's
        return SERVER_VERSION

    @rpc(String, _returns=String)
    def clientVersion(ctx, strVersion):  # noqa: N802, N803, N805
        # Every QBWC 2.x release speaks this protocol; nothing to warn about.
        return ""

    @rpc(String, String, _returns=ArrayOfString)
    def authenticate(ctx, strUserName, strPassword):  # noqa: N803, N805
        address = client_address(ctx.transport.req)
        return sessions.authenticate(strUserName, strPassword, address)

    @rpc(String, String, String, String, Int, Int, _returns=String)
    def sendRequestXML(  # noqa: N802, N805
        ctx,
        ticket,
        strHCPResponse,  # noqa: N803
        strCompanyFileName,  # noqa: N803
        qbXMLCountry,  # noqa: N803
        qbXMLMajorVers,  # noqa: N803
        qbXMLMinorVers,  # noqa: N803
    ):
        return sessions.send_request(
            ticket, strHCPResponse, strCompanyFileName, qbXMLCountry, qbXMLMajorVers, qbXMLMinorVers
        )

    @rpc(String, String, String, String, _returns=Int)
    def receiveResponseXML(ctx, ticket, response, hresult, message):  # noqa: N802, N805
        return sessions.receive_response(ticket, response, hresult, message)

    @rpc(String, _returns=String)
    def getLastError(ctx, ticket):  # noqa: N802, N805
        return sessions.last_error(ticket)

    @rpc(String, String, String, _returns=String)
    def connectionError(ctx, ticket, hresult, message):  # noqa: N802, N805
        return sessions.connection_error(ticket, hresult, message)

    @rpc(String, _returns=String)
    def closeConnection(ctx, ticket):  # noqa: N802, N805
        return sessions.close_connection(ticket)

    # Interactive mode is never requested by this service (getLastError never answers
    # "Interactive mode"); these exist so a QBWC that calls them gets a well-formed answer.
    @rpc(String, String, _returns=String)
    def getInteractiveURL(ctx, wcTicket, sessionID):  # noqa: N802, N803, N805
        return ""

    @rpc(String, _returns=String)
    def interactiveDone(ctx, wcTicket):  # noqa: N802, N803, N805
        return "Done"

    @rpc(String, String, _returns=String)
    def interactiveRejected(ctx, wcTicket, reason):  # noqa: N802, N803, N805
        return "Interactive mode is not used by this service."


application = Application(
    [QBWebConnectorService],
    tns=TNS,
    name="QBWebConnectorSvc",
    in_protocol=HardenedSoap11(validator="lxml"),
    out_protocol=Soap11(),
)
