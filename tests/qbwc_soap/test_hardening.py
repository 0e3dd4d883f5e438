import logging

import pytest
from django.test import Client

from .soap import envelope, fault_string, post

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<authenticate xmlns="http://developer.intuit.com/"><strUserName>&lol4;</strUserName>
<strPassword>x</strPassword></authenticate></soap:Body></soap:Envelope>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<clientVersion xmlns="http://developer.intuit.com/"><strVersion>&xxe;</strVersion></clientVersion>
</soap:Body></soap:Envelope>"""


def test_billion_laughs_is_a_soap_fault(db):
    response = post(Client(), BILLION_LAUGHS, "authenticate")
    assert response.status_code == 500
    assert "DOCTYPE" in fault_string(response)
    assert b"lollol" not in response.content


def test_external_entity_is_a_soap_fault(db):
    response = post(Client(), EXTERNAL_ENTITY, "clientVersion")
    assert "DOCTYPE" in fault_string(response)
    assert b"root:" not in response.content


def test_doctype_in_utf16_is_still_refused(db):
    body = EXTERNAL_ENTITY.decode().replace('<?xml version="1.0"?>', "").strip()
    response = Client().post("/qbwc/", data=body.encode("utf-16"), content_type="text/xml")
    assert response.status_code == 500
    assert "DOCTYPE" in fault_string(response)
    assert b"root:" not in response.content


def test_body_over_10_mb_is_413(db, settings):
    response = post(Client(), b"<a>" + b"x" * (settings.QBWC_MAX_BODY_BYTES + 1) + b"</a>")
    assert response.status_code == 413


def test_body_over_a_smaller_limit_is_413(db, settings):
    settings.QBWC_MAX_BODY_BYTES = 1000
    response = post(Client(), envelope("clientVersion", strVersion="x" * 2000))
    assert response.status_code == 413


def test_malformed_xml_is_a_soap_fault(db):
    response = post(Client(), b"<soap:Envelope><not closed")
    assert response.status_code == 500
    assert fault_string(response)


def test_xml_that_is_not_soap_is_a_soap_fault(db):
    response = post(Client(), b'<?xml version="1.0"?><hello/>')
    assert fault_string(response)


def test_unknown_operation_is_a_soap_fault(db):
    response = post(Client(), envelope("getServerVersion"))
    assert fault_string(response)


def test_wrong_type_is_a_soap_fault(db):
    body = envelope("sendRequestXML", ticket="t", qbXMLMajorVers="thirteen", qbXMLMinorVers="0")
    assert fault_string(post(Client(), body))


def test_server_version_with_the_str_version_some_clients_send(db):
    response = post(Client(), envelope("serverVersion", strVersion="2.3.0.215"))
    assert response.status_code == 200
    assert b"serverVersionResult" in response.content


def test_wsdl_is_served(db):
    response = Client().get("/qbwc/?wsdl")
    assert response.status_code == 200
    assert b'targetNamespace="http://developer.intuit.com/"' in response.content


def test_wsdl_address_follows_the_host_asked_for(db):
    Client(HTTP_HOST="localhost").get("/qbwc/?wsdl")
    response = Client(HTTP_HOST="127.0.0.1").get("/qbwc/?wsdl")
    assert b'location="http://127.0.0.1/qbwc/' in response.content


SECRET = "s3cret-Password-that-must-not-be-logged"
LOG_LINE_LIMIT = 2000


def _formatted_records(caplog):
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    return [formatter.format(record) for record in caplog.records]


@pytest.fixture
def logs(caplog):
    # Everything, spyne's DEBUG output too, as with LOG_LEVEL=DEBUG.
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="spyne")
    return caplog


def test_truncated_authenticate_puts_no_password_in_the_log(db, logs):
    body = envelope("authenticate", strUserName="main", strPassword=SECRET)
    truncated = body[: body.index(SECRET.encode()) + len(SECRET)]
    response = post(Client(), truncated, "authenticate")
    assert fault_string(response)
    lines = _formatted_records(logs)
    assert lines  # the refusal itself is logged
    assert not [line for line in lines if SECRET in line]


def test_large_malformed_body_makes_no_long_log_line(db, logs):
    body = b"<soap:Envelope><strPassword>" + SECRET.encode() + b"x" * 2_000_000 + b"<unclosed"
    response = post(Client(), body, "authenticate")
    assert fault_string(response)
    lines = _formatted_records(logs)
    assert not [line for line in lines if SECRET in line]
    assert max(map(len, lines), default=0) <= LOG_LINE_LIMIT


def test_schema_invalid_value_makes_no_long_log_line(db, logs):
    body = envelope("sendRequestXML", ticket=SECRET, qbXMLMajorVers="9" * 100_000)
    assert fault_string(post(Client(), body))
    assert max(map(len, _formatted_records(logs)), default=0) <= LOG_LINE_LIMIT


def test_failed_login_logs_a_bounded_user_name_and_no_password(db, logs):
    post(Client(), envelope("authenticate", strUserName="u" * 150, strPassword=SECRET))
    lines = _formatted_records(logs)
    assert [line for line in lines if "login failed" in line]
    assert not [line for line in lines if "u" * 65 in line or SECRET in line]


REFERENCE_CYCLE = b"""<?xml version="1.0"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<authenticate xmlns="http://developer.intuit.com/"><strUserName href="#a"/>
<strPassword>x</strPassword></authenticate>
<x id="a"><y href="#a"/></x></soap:Body></soap:Envelope>"""


def test_href_reference_cycle_is_a_soap_fault(db):
    response = post(Client(), REFERENCE_CYCLE, "authenticate")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/xml")
    assert "multi-reference" in fault_string(response)


def test_any_href_reference_is_refused(db):
    body = envelope("clientVersion", strVersion="x").replace(
        b"<strVersion>", b'<strVersion href="#v">'
    )
    assert "multi-reference" in fault_string(post(Client(), body, "clientVersion"))
