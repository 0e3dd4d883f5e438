"""Benchmark: one whole QBWC conversation sending N approved invoices (default 5,000) over real
HTTP, against the QuickBooks simulator (which validates every message against the qbXML 13.0
schema).

The customers are already in QuickBooks and up to date, the connector's item list was read
recently, every billing type has its item: the conversation is a HostQuery (the customers' scan
finds nothing to send) and then InvoiceAdd messages of the batch size, 10 lines an invoice. The
server is gunicorn serving bench/qbwc_http_app.py (the real /qbwc/ endpoint with the project's
middleware; see bench/qbwc_conversation.py), on one keep-alive connection, as QBWC keeps one.

Printed: server time per invoice (target <= 2 ms per request item, issue 12; the server's own
Server-Timing), statements per sendRequestXML / receiveResponseXML (BEGIN and COMMIT not
counted), and two baselines measured in the same run: the echo floor (a bare spyne echo of both
of each round trip's payloads, on the same server) and a plain read of each batch's invoices and
lines by primary key (two queries from the driver, the least any sender must read).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres DEBUG=false SECRET_KEY=x \\
        .venv/bin/python -m bench.qbwc_invoices [N [BATCH_SIZE]]

It creates and drops its own database (test_<name>, or BENCH_DATABASE); it never touches the
configured one.
"""

import os
import statistics
import sys
import time
from datetime import date
from decimal import Decimal

from django.conf import settings  # noqa: E402  (bench.qbwc_conversation set Django up)
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.common import lines_for  # noqa: E402
from bench.qbwc_conversation import Http, _items, _result, _start_server
from qbwc_soap.kinds.customers import SCAN_CHUNK, SCAN_CHUNKS_PER_CALL  # noqa: E402

PERIOD = date(2026, 10, 1)
MODULES = 10


def seed(n, quickbooks):
    """N organizations with their customer in QuickBooks (up to date), items mapped, and an
    approved invoice of MODULES lines each."""
    from billing.models import (
        Invoice,
        InvoiceLine,
        InvoiceStatus,
        ItemCatalog,
        ItemMapping,
        QuickBooksItem,
    )
    from connectors.models import WebConnector
    from kaseya_modules.models import KaseyaModule
    from organizations.models import Organization
    from qbwc_soap import qbxml
    from qbwc_soap.models import CustomerTransfer

    connector = WebConnector(name="Bench", username="bench", company_file=r"C:\Bench.QBW")
    connector.set_password("bench-password")
    connector.save()
    ItemCatalog.objects.create(connector=connector, refreshed_at=timezone.now())
    modules = KaseyaModule.objects.bulk_create(
        [KaseyaModule(code=f"bench_{m}", name=f"Bench Module {m}") for m in range(MODULES)]
    )
    for module in modules:
        qb_item = quickbooks.add_item(module.name, "service")
        item = QuickBooksItem.objects.create(
            connector=connector, list_id=qb_item["ListID"], full_name=module.name, kind="service"
        )
        ItemMapping.objects.create(
            connector=connector, module=module, billing_type="users", item=item
        )
    orgs = Organization.objects.bulk_create(
        Organization(
            autotask_id=1_000_000 + i,
            name=f"Bench Organization {i:06d}",
            address1=f"{i} Main Street",
            city="Springfield",
            state="IL",
            postal_code="62701",
            country="USA",
        )
        for i in range(n)
    )
    transfers = []
    for org in orgs:
        customer = qbxml.customer_from(org)
        list_id = quickbooks.add_customer(customer.name)["ListID"]
        transfers.append(
            CustomerTransfer(
                organization=org,
                connector=connector,
                list_id=list_id,
                qb_name=customer.name,
                fingerprint=customer.fingerprint(),
            )
        )
    CustomerTransfer.objects.bulk_create(transfers, batch_size=2000)
    made = Invoice.objects.bulk_create(
        [
            Invoice(
                organization=org,
                period=PERIOD,
                status=InvoiceStatus.APPROVED,
                ref_number=f"B{i:07d}",
                total=Decimal("420.00"),
            )
            for i, org in enumerate(orgs)
        ],
        batch_size=2000,
    )
    InvoiceLine.objects.bulk_create(lines_for(made, modules), batch_size=5000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def plain_read(request: str) -> float:
    """The baseline: read the batch's invoices and lines by primary key (seconds)."""
    from lxml import etree

    from billing.models import Invoice, InvoiceLine

    refs = [
        rq.findtext("InvoiceAdd/RefNumber")
        for rq in etree.fromstring(request.encode()).find("QBXMLMsgsRq")
        if rq.tag == "InvoiceAddRq"
    ]
    if not refs:
        return 0.0
    pks = list(Invoice.objects.filter(ref_number__in=refs).values_list("pk", flat=True))
    started = time.perf_counter()
    list(Invoice.objects.filter(pk__in=pks))
    list(InvoiceLine.objects.filter(invoice_id__in=pks))
    return time.perf_counter() - started


def conversation(client, quickbooks):
    from tests.qbwc_soap.soap import envelope

    def call(method, **params):
        content, _, server, database = client.post("/qbwc/", envelope(method, **params), method)
        return _result(content, method), server, database

    auth, auth_server, _ = call("authenticate", strUserName="bench", strPassword="bench-password")
    ticket = auth[0].text
    out = {"send": [], "receive": [], "server": [], "items": [], "echo": [], "read": []}
    hcp = quickbooks.hcp_response()
    while True:
        result, s1, d1 = call(
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
        quickbooks.requests.clear()
        result, s2, d2 = call("receiveResponseXML", ticket=ticket, response=answer, hresult="")
        out["server"].append(s1 + s2)
        out["send"].append(d1[1])
        out["receive"].append(d2[1])
        out["items"].append(_items(request))
        _, _, e1, _ = client.post("/echo/", envelope("echo", text=request), "echo")
        _, _, e2, _ = client.post("/echo/", envelope("echo", text=answer), "echo")
        out["echo"].append(e1 + e2)
        out["read"].append(plain_read(request))
        if int(result.text) == 100:
            break
    summary, close_server, _ = call("closeConnection", ticket=ticket)
    out["summary"] = summary.text
    out["auth_close"] = auth_server + close_server
    return out


def main(n: int, batch: int | None) -> None:
    from billing.models import Invoice, InvoiceStatus
    from qbwc_soap.pipeline import batch_size
    from tests.qbwc_soap.simulator import QuickBooks

    quickbooks = QuickBooks("Bench")
    seed(n, quickbooks)
    if batch:
        settings.QBWC_BATCH_SIZE = batch
    process, port = _start_server(batch)
    try:
        run = conversation(Http(port), quickbooks)
    finally:
        process.terminate()
        process.wait(timeout=30)
    sent = Invoice.objects.filter(status=InvoiceStatus.IN_QUICKBOOKS).count()
    assert sent == n == quickbooks.invoice_count, (sent, n, quickbooks.invoice_count)

    # Round trips carrying invoices (the first is the customers' HostQuery).
    trips = [i for i, items in enumerate(run["items"]) if items]
    invoices = sum(run["items"])
    server = sum(run["server"][i] for i in trips)
    echo = sum(run["echo"][i] for i in trips)
    read = sum(run["read"][i] for i in trips)

    def spread(values):
        return f"{min(values)}–{max(values)}" if min(values) != max(values) else f"{values[0]}"

    ms = "{:.3f} ms".format
    rows = [
        ["invoices sent", f"{invoices}", f"{MODULES} lines each"],
        ["batch size", f"{batch_size()}", "default 25"],
        ["round trips", f"{len(run['items'])}", "first and last: HostQuery (nothing to send)"],
        ["server time, invoice round trips", f"{server:.3f} s", "server-measured"],
        ["server time per invoice", ms(server * 1000 / invoices), "target <= 2 ms per item"],
        ["  authenticate + closeConnection", f"{run['auth_close']:.3f} s", ""],
        [
            "server time per invoice, whole conversation",
            ms((sum(run["server"]) + run["auth_close"]) * 1000 / invoices),
            "authenticate … closeConnection",
        ],
        ["baseline: echo floor per invoice", ms(echo * 1000 / invoices), "bare spyne echo"],
        ["baseline: plain read per invoice", ms(read * 1000 / invoices), "2 queries by pk"],
        [
            "statements: 1st sendRequestXML",
            f"{run['send'][0]}",
            "the customers' scan past up-to-date organizations: at most "
            f"{SCAN_CHUNKS_PER_CALL} reads of {SCAN_CHUNK} per call",
        ],
        ["statements: sendRequestXML", spread([run["send"][i] for i in trips]), "min–max"],
        ["statements: 1st receiveResponseXML", f"{run['receive'][0]}", ""],
        ["statements: receiveResponseXML", spread([run["receive"][i] for i in trips]), ""],
        [
            "round trip server time, median",
            ms(statistics.median(run["server"][i] for i in trips) * 1000),
            "",
        ],
    ]
    print(f"\nQBWC conversation sending {n} invoices on {connection.vendor}")
    print(f"summary: {run['summary']}")
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    for label, value, note in rows:
        print(f"{label:<{widths[0]}}  {value:>{widths[1]}}  {note}")


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    size = int(sys.argv[2]) if len(sys.argv) > 2 else None
    setup_test_environment()
    test_settings = settings.DATABASES["default"].setdefault("TEST", {})
    if os.environ.get("BENCH_DATABASE"):
        # A name of the caller's choosing (tests/test_bench.py), never the test run's own.
        test_settings["NAME"] = connection.settings_dict["TEST"]["NAME"] = os.environ[
            "BENCH_DATABASE"
        ]
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        main(count, size)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
