"""Raw SOAP calls to /qbwc/ through Django's test client, and a QBWC conversation driver that
works with either this client or zeep (tests/conformance)."""

from xml.sax.saxutils import escape

from lxml import etree

TNS = "http://developer.intuit.com/"
# The company file open in QuickBooks when authenticate names none.
OPEN_FILE = r"C:\QuickBooks\Company.QBW"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def envelope(method: str, **params) -> bytes:
    body = "".join(
        f"<{name}>{escape(str(value))}</{name}>" if value is not None else f"<{name} />"
        for name, value in params.items()
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>'
        f'<{method} xmlns="{TNS}">{body}</{method}></soap:Body></soap:Envelope>'
    ).encode()


def post(client, body: bytes, method="x"):
    return client.post(
        "/qbwc/",
        data=body,
        content_type="text/xml; charset=utf-8",
        HTTP_SOAPACTION=f'"{TNS}{method}"',
    )


def fault_string(response) -> str | None:
    root = etree.fromstring(response.content)
    fault = root.find(f".//{{{SOAP_ENV}}}Fault")
    return None if fault is None else (fault.findtext("faultstring") or "")


class RawQbwc:
    """QBWC's calls as raw SOAP posts through Django's test client."""

    def __init__(self, client):
        self.client = client

    def call(self, method, **params):
        response = post(self.client, envelope(method, **params), method)
        assert response.status_code == 200, response.content
        root = etree.fromstring(response.content)
        result = root.find(f".//{{{TNS}}}{method}Result")
        return result

    def text(self, method, **params):
        result = self.call(method, **params)
        return None if result is None else (result.text or "")

    def serverVersion(self):  # noqa: N802
        return self.text("serverVersion")

    def clientVersion(self, version):  # noqa: N802
        return self.text("clientVersion", strVersion=version)

    def authenticate(self, username, password):
        result = self.call("authenticate", strUserName=username, strPassword=password)
        return [el.text or "" for el in result.findall(f"{{{TNS}}}string")]

    def sendRequestXML(self, ticket, hcp, company_file, country, major, minor):  # noqa: N802
        return self.text(
            "sendRequestXML",
            ticket=ticket,
            strHCPResponse=hcp,
            strCompanyFileName=company_file,
            qbXMLCountry=country,
            qbXMLMajorVers=major,
            qbXMLMinorVers=minor,
        )

    def receiveResponseXML(self, ticket, response, hresult, message):  # noqa: N802
        return int(
            self.text(
                "receiveResponseXML",
                ticket=ticket,
                response=response,
                hresult=hresult,
                message=message,
            )
        )

    def getLastError(self, ticket):  # noqa: N802
        return self.text("getLastError", ticket=ticket)

    def connectionError(self, ticket, hresult, message):  # noqa: N802
        return self.text("connectionError", ticket=ticket, hresult=hresult, message=message)

    def closeConnection(self, ticket):  # noqa: N802
        return self.text("closeConnection", ticket=ticket)


class Conversation:
    """One QBWC update session against a QuickBooks simulator, as QBWC runs it."""

    def __init__(
        self, qbwc, quickbooks, username, password, version=(13, 0), company_file=OPEN_FILE
    ):
        self.qbwc = qbwc
        self.company_file = company_file
        self.qb = quickbooks
        self.username = username
        self.password = password
        self.version = version
        self.ticket = None
        self.status = None
        self.progress = []
        self.messages = []
        self.first = True

    def start(self):
        self.qbwc.serverVersion()
        assert self.qbwc.clientVersion("2.3.0.215") in ("", None)
        result = self.qbwc.authenticate(self.username, self.password)
        assert len(result) >= 2
        self.ticket, self.status = result[0], result[1]
        return self.status

    def step(self) -> int:
        """One sendRequestXML / receiveResponseXML round trip; returns the progress."""
        hcp = self.qb.hcp_response() if self.first else ""
        self.first = False
        # QBWC opens the file authenticate named, else reports the one open in QuickBooks.
        opened = self.status or self.company_file
        request = self.qbwc.sendRequestXML(self.ticket, hcp, opened, "US", *self.version)
        assert request, self.qbwc.getLastError(self.ticket)
        self.messages.append(request)
        progress = self.qbwc.receiveResponseXML(self.ticket, self.qb.answer(request), "", "")
        self.progress.append(progress)
        return progress

    def run(self, max_steps=1000) -> str:
        """The whole session; returns closeConnection's summary ("" when not authenticated)."""
        if self.start() in ("none", "nvu"):
            return ""
        for _ in range(max_steps):
            progress = self.step()
            assert progress >= 0, self.qbwc.getLastError(self.ticket)
            if progress == 100:
                break
        else:
            raise AssertionError("session never reached 100")
        return self.qbwc.closeConnection(self.ticket)
