"""Benchmark: one whole QBWC conversation for N organizations against the QuickBooks simulator.

Prints server time per organization and per round trip (sendRequestXML + receiveResponseXML),
next to two floors measured in the same run, right after each round trip, with that round trip's
own qbXML request and response:

- echo: a bare spyne echo service (plain Soap11, lxml validation, one Unicode in, the same out)
  is sent the qbXML request and then the qbXML response, so each payload is parsed from SOAP and
  serialized back to SOAP once — the issue's floor.
- same messages: a bare spyne service with sendRequestXML/receiveResponseXML's signatures that
  does no work: it receives exactly the SOAP requests our endpoint receives and returns exactly
  the SOAP responses it returns (the qbXML request; an int). Stricter, since an echo also
  serializes the response and parses the request it never would.

All three go through the same Django view path: RequestFactory, the endpoint's body-size check,
spyne's DjangoView; no network, no middleware. Server time is the wall time of those calls.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_qbwc DEBUG=false SECRET_KEY=x \
        .venv/bin/python bench/qbwc_conversation.py [N]

It creates and drops its own database (test_<name>); it never touches the configured one.
"""

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mapping_portal.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from lxml import etree  # noqa: E402
from spyne import Application, Integer32, ServiceBase, Unicode, rpc  # noqa: E402
from spyne.protocol.soap import Soap11  # noqa: E402
from spyne.server.django import DjangoView  # noqa: E402

TNS = "http://developer.intuit.com/"


class Echo(ServiceBase):
    @rpc(Unicode, _returns=Unicode)
    def echo(ctx, text):  # noqa: N805
        return text


# What the same-messages service answers sendRequestXML with: the qbXML request our endpoint
# produced in this round trip (set by the driver before the call).
_canned = {"request": ""}
String = Unicode(min_occurs=0, nillable=False)
Int = Integer32(min_occurs=1, nillable=False)


class SameMessages(ServiceBase):
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
        return _canned["request"]

    @rpc(String, String, String, String, _returns=Int)
    def receiveResponseXML(ctx, ticket, response, hresult, message):  # noqa: N802, N805
        return 100 if response else -1


def _bare_view(service):
    spyne_view = DjangoView.as_view(
        application=Application(
            [service], tns=TNS, in_protocol=Soap11(validator="lxml"), out_protocol=Soap11()
        )
    )
    limit = getattr(settings, "QBWC_MAX_BODY_BYTES", 10 * 1024 * 1024)

    def view(request):
        # The endpoint's own checks before spyne (qbwc_soap.views.soap), so the path is the same.
        if int(request.META.get("CONTENT_LENGTH") or 0) > limit or len(request.body) > limit:
            raise AssertionError("too large")
        return spyne_view(request)

    return view


echo_view = _bare_view(Echo)
same_view = _bare_view(SameMessages)


def main(n: int) -> None:
    from connectors.models import WebConnector
    from organizations.models import Organization
    from qbwc_soap import transfers
    from qbwc_soap.views import soap
    from tests.qbwc_soap.simulator import QuickBooks
    from tests.qbwc_soap.soap import envelope

    factory = RequestFactory()

    def call(view, method, **params):
        body = envelope(method, **params)
        request = factory.post("/qbwc/", data=body, content_type="text/xml; charset=utf-8")
        started = time.perf_counter()
        response = view(request)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.content[:500]
        result = etree.fromstring(response.content).find(f".//{{{TNS}}}{method}Result")
        return result, elapsed

    connector = WebConnector(name="Bench", username="bench", company_file=r"C:\Bench.QBW")
    connector.set_password("bench-password")
    connector.save()
    Organization.objects.bulk_create(
        Organization(
            autotask_id=1_000_000 + i,
            name=f"Bench Organization {i:06d}",
            address1=f"{i} Main Street",
            city="Springfield",
            state="IL",
            postal_code="62701",
            country="USA",
            phone="555-0100",
        )
        for i in range(n)
    )

    if connection.vendor == "postgresql":
        # What autovacuum does shortly after a bulk load; without statistics the planner would
        # treat the freshly loaded tables as nearly empty.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    quickbooks = QuickBooks("Bench")
    server = 0.0
    auth_result, elapsed = call(
        soap, "authenticate", strUserName="bench", strPassword="bench-password"
    )
    server += elapsed
    ticket = auth_result[0].text
    round_trips, echo_trips, same_trips, hcp = [], [], [], quickbooks.hcp_response()
    sizes = []
    while True:
        send = dict(
            ticket=ticket,
            strHCPResponse=hcp,
            strCompanyFileName=r"C:\Bench.QBW",
            qbXMLCountry="US",
            qbXMLMajorVers=13,
            qbXMLMinorVers=0,
        )
        result, t_send = call(soap, "sendRequestXML", **send)
        request = result.text
        answer = quickbooks.answer(request)
        receive = dict(ticket=ticket, response=answer, hresult="", message="")
        result, t_receive = call(soap, "receiveResponseXML", **receive)
        round_trips.append(t_send + t_receive)
        sizes.append((len(request), len(answer)))
        # The floors, with this round trip's own payloads.
        _, e1 = call(echo_view, "echo", text=request)
        _, e2 = call(echo_view, "echo", text=answer)
        echo_trips.append(e1 + e2)
        _canned["request"] = request
        same_send, s1 = call(same_view, "sendRequestXML", **send)
        _, s2 = call(same_view, "receiveResponseXML", **receive)
        assert same_send.text == request
        same_trips.append(s1 + s2)
        hcp = ""
        if int(result.text) == 100:
            break
    summary, elapsed = call(soap, "closeConnection", ticket=ticket)
    server += sum(round_trips) + elapsed

    rt = statistics.median(round_trips)
    echo, same = statistics.median(echo_trips), statistics.median(same_trips)
    request_size = statistics.median(size[0] for size in sizes)
    answer_size = statistics.median(size[1] for size in sizes)
    batch = transfers.batch_size()
    rows = [
        ["organizations", f"{n}", ""],
        ["batch size", f"{batch}", "default 25"],
        ["round trips", f"{len(round_trips)}", ""],
        ["qbXML request / response", f"{request_size:.0f} / {answer_size:.0f}", "chars, median"],
        ["server time, total", f"{server:.3f} s", "authenticate … closeConnection"],
        ["server time per org", f"{server / n * 1000:.3f} ms", "target <= 1 ms"],
        ["round trip, median", f"{rt * 1000:.2f} ms", "sendRequestXML + receiveResponseXML"],
        ["round trip, p90", f"{_p90(round_trips) * 1000:.2f} ms", ""],
        ["floor: echo, median", f"{echo * 1000:.2f} ms", "the issue's floor"],
        ["floor: same messages, median", f"{same * 1000:.2f} ms", "stricter floor"],
        ["round trip / echo floor", f"{rt / echo:.2f} x", "target <= 2x"],
        ["round trip / same-messages floor", f"{rt / same:.2f} x", ""],
    ]
    print(f"summary: {summary.text}  ({connection.vendor})")
    width = max(len(row[0]) for row in rows)
    for label, value, note in rows:
        print(f"{label:<{width}}  {value:>14}  {note}")
    assert len(quickbooks.customers) == n


def _p90(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    setup_test_environment()
    settings.DATABASES["default"].setdefault("TEST", {})
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        main(count)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
