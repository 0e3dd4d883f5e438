"""The WSDL served at /qbwc/?wsdl, laid out as Intuit's own (QBWebConnectorSvc.wsdl).

spyne generates the types (element-for-element Intuit's), but names its messages, portType,
binding and service after the application and gives each operation a bare-name soapAction; a
client generated from that (Mono's `wsdl`, .NET's) expects other SOAPAction headers and unwraps
differently than QBWC. So the types are kept and the rest is written the way Intuit's file has
it: `<op>SoapIn`/`<op>SoapOut` messages with one `parameters` part, the
TroubleshootWebServiceFSSoap portType and binding, `http://developer.intuit.com/<op>` actions,
and the TroubleshootWebServiceFS service. Only the SOAP 1.1 binding is described: the endpoint
speaks SOAP 1.1 (as QBWC does), not the SOAP 1.2 that Intuit's file also lists.
"""

from lxml import etree

TNS = "http://developer.intuit.com/"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
SOAP_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
HTTP_TRANSPORT = "http://schemas.xmlsoap.org/soap/http"
PORT_TYPE = BINDING = PORT = "TroubleshootWebServiceFSSoap"
SERVICE = "TroubleshootWebServiceFS"


def _w(tag):
    return f"{{{WSDL_NS}}}{tag}"


def _s(tag):
    return f"{{{SOAP_NS}}}{tag}"


def intuit_layout(generated: bytes, address: str) -> bytes:
    """Intuit's WSDL layout around the types of spyne's `generated` WSDL, served at `address`."""
    source = etree.fromstring(generated)
    operations = [op.get("name") for op in source.find(_w("portType")).iter(_w("operation"))]
    # The types name their XML Schema types by the prefix spyne declared (type="xs:string").
    nsmap = {"wsdl": WSDL_NS, "soap": SOAP_NS, "tns": TNS, "xs": source.nsmap["xs"]}
    root = etree.Element(_w("definitions"), nsmap=nsmap, targetNamespace=TNS)
    root.append(source.find(_w("types")))
    for name in operations:
        for suffix, element in (("SoapIn", name), ("SoapOut", f"{name}Response")):
            message = etree.SubElement(root, _w("message"), name=name + suffix)
            etree.SubElement(message, _w("part"), name="parameters", element=f"tns:{element}")
    port_type = etree.SubElement(root, _w("portType"), name=PORT_TYPE)
    for name in operations:
        operation = etree.SubElement(port_type, _w("operation"), name=name)
        etree.SubElement(operation, _w("input"), message=f"tns:{name}SoapIn")
        etree.SubElement(operation, _w("output"), message=f"tns:{name}SoapOut")
    binding = etree.SubElement(root, _w("binding"), name=BINDING, type=f"tns:{PORT_TYPE}")
    etree.SubElement(binding, _s("binding"), transport=HTTP_TRANSPORT)
    for name in operations:
        operation = etree.SubElement(binding, _w("operation"), name=name)
        etree.SubElement(operation, _s("operation"), soapAction=TNS + name, style="document")
        for direction in ("input", "output"):
            etree.SubElement(etree.SubElement(operation, _w(direction)), _s("body"), use="literal")
    service = etree.SubElement(root, _w("service"), name=SERVICE)
    port = etree.SubElement(service, _w("port"), name=PORT, binding=f"tns:{BINDING}")
    etree.SubElement(port, _s("address"), location=address)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")
