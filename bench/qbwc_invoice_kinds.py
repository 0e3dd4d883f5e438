"""Benchmark: the invoice request kind's server work for a month of invoices, without SOAP.

N organizations (default 5,000) on the default connector, each with a customer in QuickBooks, an
approved invoice of 10 lines (one per module) and six earlier months of invoices already in
QuickBooks (history the queries must not read). The invoices are sent in batches of 50 as the
QBWC pipeline would: to_send → mark_sent (committed) → build → [QuickBooks simulator] → parse →
apply_add. Beside each step's time per invoice, the baseline: reading the same batch's invoices
and lines with two plain queries by primary key, the least any sender must do.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m bench.qbwc_invoice_kinds [N]

It seeds its own database (mapping_portal_bench_invoice_kinds, kept between runs) once, and
before each run puts the current month back to approved.
"""

import gc
import statistics
import sys
import time
from datetime import date

from bench.common import lines_for, print_table, use_database

use_database("mapping_portal_bench_invoice_kinds")

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from billing.models import Invoice, InvoiceLine, ItemMapping, QuickBooksItem  # noqa: E402
from connectors.models import WebConnector  # noqa: E402
from kaseya_modules.models import KaseyaModule  # noqa: E402
from organizations.models import Organization  # noqa: E402
from qbwc_soap import invoices, qbxml  # noqa: E402
from qbwc_soap.models import CustomerTransfer  # noqa: E402
from tests.qbwc_soap.simulator import QuickBooks  # noqa: E402

PERIOD = date(2026, 10, 1)
HISTORY = [date(2026, month, 1) for month in range(4, 10)]
MODULES = 10
BATCH = 50


def seed(n: int, quickbooks: QuickBooks):
    """The rows (made once per N), and the simulator's customers and items for them."""
    connector = WebConnector.objects.filter(name="Bench").first()
    if connector is None or Organization.objects.count() != n:
        with transaction.atomic():
            for model in (InvoiceLine, Invoice, ItemMapping, QuickBooksItem, CustomerTransfer):
                model.objects.all().delete()
            Organization.objects.all().delete()
            WebConnector.objects.all().delete()
            KaseyaModule.objects.all().delete()
            connector = WebConnector.objects.create(
                name="Bench", username="bench", company_file=r"C:\Bench.QBW"
            )
            modules = KaseyaModule.objects.bulk_create(
                [KaseyaModule(code=f"bench_{m}", name=f"Bench Module {m}") for m in range(MODULES)]
            )
            orgs = Organization.objects.bulk_create(
                [
                    Organization(
                        autotask_id=700000 + i, name=f"Bench Org {i:05d}", org_type="customer"
                    )
                    for i in range(n)
                ]
            )
            CustomerTransfer.objects.bulk_create(
                [
                    CustomerTransfer(organization=org, connector=connector, list_id=f"C{org.pk}")
                    for org in orgs
                ]
            )
            for module in modules:
                item = QuickBooksItem.objects.create(
                    connector=connector,
                    list_id=f"I{module.pk}",
                    full_name=module.name,
                    kind="service",
                )
                ItemMapping.objects.create(
                    connector=connector, module=module, billing_type="users", item=item
                )
            for period in [*HISTORY, PERIOD]:
                done = period != PERIOD
                made = Invoice.objects.bulk_create(
                    [
                        Invoice(
                            organization=org,
                            period=period,
                            status="in_quickbooks" if done else "approved",
                            connector=connector if done else None,
                            ref_number=f"{period:%m}{i:07d}",
                        )
                        for i, org in enumerate(orgs)
                    ]
                )
                InvoiceLine.objects.bulk_create(lines_for(made, modules), batch_size=5000)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    Invoice.objects.filter(period=PERIOD).update(
        status="approved", connector=None, sent_at=None, txn_id="", held="", send_attempts=0
    )
    for transfer in CustomerTransfer.objects.filter(connector=connector):
        customer = quickbooks.add_customer(f"Customer {transfer.organization_id}")
        quickbooks.customers[transfer.list_id] = customer  # the ListIDs the rows carry
    for item in QuickBooksItem.objects.filter(connector=connector):
        quickbooks.items[item.list_id] = {
            **quickbooks.add_item(item.full_name),
            "ListID": item.list_id,
        }
    return connector


def run(n: int):
    quickbooks = QuickBooks("Bench")
    connector = seed(n, quickbooks)
    gc.collect()
    gc.freeze()  # the seeded objects are not the server's garbage
    steps = {k: [] for k in ("to_send", "mark_sent", "build", "parse", "apply_add", "baseline")}
    sent = 0
    invoices.recheck_held(connector)
    while True:
        now = timezone.now()
        start = time.perf_counter()
        outgoing = invoices.to_send(connector, BATCH)
        t1 = time.perf_counter()
        if not outgoing:
            break
        outgoing = invoices.mark_sent(outgoing, connector, now)
        t2 = time.perf_counter()
        builder = qbxml.RequestBuilder()
        for out in outgoing:
            invoices.build(
                builder, f"a{out.invoice.pk}", out.invoice, out.customer_list_id, out.items
            )
        text = builder.tostring()
        t3 = time.perf_counter()
        answer = quickbooks.answer(text)
        quickbooks.requests.clear()
        t4 = time.perf_counter()
        answers = [(int(rs.request_id[1:]), rs) for rs in qbxml.parse_response(answer)]
        t5 = time.perf_counter()
        invoices.apply_add(connector, answers, now)
        t6 = time.perf_counter()
        pks = [out.invoice.pk for out in outgoing]
        list(Invoice.objects.filter(pk__in=pks))
        list(InvoiceLine.objects.filter(invoice_id__in=pks))
        t7 = time.perf_counter()
        count = len(outgoing)
        for name, seconds in (
            ("to_send", t1 - start),
            ("mark_sent", t2 - t1),
            ("build", t3 - t2),
            ("parse", t5 - t4),
            ("apply_add", t6 - t5),
            ("baseline", t7 - t6),
        ):
            steps[name].append(seconds * 1000 / count)
        sent += count
    server = sum(statistics.mean(steps[k]) for k in steps if k != "baseline")
    rows = [[k, statistics.median(v), max(v)] for k, v in steps.items()]
    rows.append(["server total (all but baseline)", server, ""])
    print_table(
        f"Invoice kind on {connection.vendor}: {sent} invoices of {MODULES} lines, batches of "
        f"{BATCH}, {len(HISTORY)} months of history (ms per invoice)",
        ["step", "median", "worst batch"],
        rows,
    )


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
