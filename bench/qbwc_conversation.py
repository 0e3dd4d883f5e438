"""Benchmark: one whole QBWC conversation for N organizations against the QuickBooks simulator.

Prints server time per organization and per round trip (sendRequestXML + receiveResponseXML),
next to a bare spyne echo service's round trip with the same payloads, measured in the same run
as the floor. Both are called through the same Django view path (RequestFactory, no network).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_qbwc DEBUG=true \
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
from spyne import Application, ServiceBase, Unicode, rpc  # noqa: E402
from spyne.protocol.soap import Soap11  # noqa: E402
from spyne.server.django import DjangoView  # noqa: E402

TNS = "http://developer.intuit.com/"


class Echo(ServiceBase):
    @rpc(Unicode, _returns=Unicode)
    def echo(ctx, text):  # noqa: N805
        return text


echo_view = DjangoView.as_view(
    application=Application(
        [Echo], tns=TNS, in_protocol=Soap11(validator="lxml"), out_protocol=Soap11()
    )
)


def main(n: int) -> None:
    from connectors.models import WebConnector
    from organizations.models import Organization
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

    quickbooks = QuickBooks("Bench")
    server = 0.0
    auth_result, elapsed = call(
        soap, "authenticate", strUserName="bench", strPassword="bench-password"
    )
    server += elapsed
    ticket = auth_result[0].text
    round_trips, echo_trips, hcp = [], [], quickbooks.hcp_response()
    while True:
        result, t_send = call(
            soap,
            "sendRequestXML",
            ticket=ticket,
            strHCPResponse=hcp,
            strCompanyFileName=r"C:\Bench.QBW",
            qbXMLCountry="US",
            qbXMLMajorVers=13,
            qbXMLMinorVers=0,
        )
        hcp = ""
        request = result.text
        answer = quickbooks.answer(request)
        result, t_receive = call(
            soap, "receiveResponseXML", ticket=ticket, response=answer, hresult="", message=""
        )
        round_trips.append(t_send + t_receive)
        _, e1 = call(echo_view, "echo", text=request)
        _, e2 = call(echo_view, "echo", text=answer)
        echo_trips.append(e1 + e2)
        if int(result.text) == 100:
            break
    summary, elapsed = call(soap, "closeConnection", ticket=ticket)
    server += sum(round_trips) + elapsed

    rt, floor = statistics.median(round_trips), statistics.median(echo_trips)
    print(f"organizations            {n:>10}")
    print(f"round trips              {len(round_trips):>10}")
    print(f"summary                  {summary.text}")
    print(f"server time, total       {server:>10.3f} s")
    print(f"server time per org      {server / n * 1000:>10.3f} ms   (target <= 1 ms)")
    print(f"round trip, median       {rt * 1000:>10.2f} ms")
    print(f"echo round trip, median  {floor * 1000:>10.2f} ms   (floor)")
    print(f"round trip / floor       {rt / floor:>10.2f} x    (target <= 2x)")
    assert len(quickbooks.customers) == n


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    setup_test_environment()
    settings.DATABASES["default"].setdefault("TEST", {})
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        main(count)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
