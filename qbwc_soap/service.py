"""The QuickBooks Web Connector SOAP service (spyne), element-for-element Intuit's WSDL.

Each operation only translates SOAP to `sessions`; the protocol and its return values are in
PROTOCOL.md §2–3.
"""

import logging

import spyne.const
from lxml import etree
from lxml.etree import XMLParser
from spyne import Application, Array, Integer32, ServiceBase, Unicode, rpc
from spyne.const.http import HTTP_405
from spyne.error import Fault, RequestNotAllowed
from spyne.protocol.soap import Soap11
from spyne.server.http import HttpTransportContext

from mapping_portal.lib.client_address import client_address

from . import sessions
from .logs import bounded

TNS = "http://developer.intuit.com/"
logger = logging.getLogger(__name__)

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
    """SOAP 1.1 as QBWC speaks it, and nothing more an attacker could use:

    - no DOCTYPE (QBWC never sends one; a DTD is how entity-expansion and external-entity
      attacks arrive);
    - no multi-reference encoding (`href`/`id`): QBWC never sends it, and spyne resolves it
      recursively, so a reference cycle would exhaust the stack;
    - a malformed document is a clean Fault, parsed here rather than by spyne, which logs the
      whole body (a password in a truncated `authenticate`) on a syntax error.
    """

    def create_in_document(self, ctx, charset=None):
        if isinstance(ctx.transport, HttpTransportContext):
            # SOAP over HTTP is a POST with a content type (as spyne's own check).
            content_type = ctx.transport.get_request_content_type()
            if content_type is None or ctx.transport.get_request_method() != "POST":
                ctx.transport.resp_code = HTTP_405
                raise RequestNotAllowed(
                    "You must issue a POST request with the Content-Type header properly set."
                )
        raw = b"".join(
            chunk if isinstance(chunk, bytes) else chunk.encode() for chunk in ctx.in_string
        )
        # Checked on the raw bytes too, so a DTD is refused before any parser reads it.
        if b"<!DOCTYPE" in raw.upper():
            raise Fault("Client.DTDForbidden", "DOCTYPE declarations are not allowed.")
        ctx.in_string = [raw]
        root, xmlids = _parse(raw, XMLParser(**self.parser_kwargs), charset)
        docinfo = root.getroottree().docinfo
        if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
            raise Fault("Client.DTDForbidden", "DOCTYPE declarations are not allowed.")
        if _has_references(root):
            raise Fault(
                "Client.MultiRefForbidden",
                "SOAP multi-reference encoding (href or id attributes) is not accepted.",
            )
        # Intuit's WSDL gives serverVersion no parameters, but some QBWC builds send strVersion;
        # it carries nothing we use, so drop it rather than fail schema validation.
        for call in root.iter(f"{{{TNS}}}serverVersion"):
            for child in list(call):
                call.remove(child)
        ctx.in_document = (root, xmlids)


_has_references = etree.XPath("boolean(//*[@href or @id])")


def _parse(raw: bytes, parser, charset):
    """(root, ids) as spyne's parser gives them; a syntax error is a Fault that quotes only
    lxml's bounded description (line and column), never the document."""
    try:
        text = raw.decode(charset) if charset else raw
    except (LookupError, UnicodeDecodeError):
        raise Fault("Client.XMLSyntaxError", f"The body is not valid {charset[:40]}.") from None
    try:
        try:
            return etree.XMLID(text, parser)
        except ValueError:  # a str with an encoding declaration: lxml wants the bytes
            return etree.XMLID(raw, parser)
    except etree.XMLSyntaxError as exc:
        logger.warning("QBWC request is not well-formed XML: %s", bounded(str(exc), 200))
        raise Fault("Client.XMLSyntaxError", bounded(str(exc), 200)) from None


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
