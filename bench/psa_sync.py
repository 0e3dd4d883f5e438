"""Benchmark: sync 10,000 Autotask companies (20 pages of 500) from a loopback Autotask into the
database, then re-sync them unchanged; beside it, in the same run, the bare transfer the sync
cannot do without (20 POSTs + JSON decode) and the sync's whole fetch phase (zone, picklist,
pages, validation). Target: a sync takes at most twice the bare transfer. Prints a table; it is
not a test.

Below the line, what a first sync cannot do without besides the transfer, each measured on its
own into an emptied organizations table (as every first sync here starts from): the sync's apply
alone (the fetched companies stored through the ORM, committed), the ORM's bulk_create of the
same 10,000 organizations alone, and PostgreSQL alone inserting the same rows made in the server
(no client, no parameters) with the table's five indexes (primary key, Autotask id, name, the
trigram search index, parent) and its deferred parent foreign key checked at COMMIT.

The loopback server sends each answer in one write (TCP_NODELAY): with Nagle's algorithm a body
written after its headers waits for the client's delayed ACK (40 ms), a stall of the test server
that no real Autotask adds.

It runs in a database of its own (bench/common.py: BENCH_DATABASE), never the one DATABASE_URL
names:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres DEBUG=true \\
        .venv/bin/python -m bench.psa_sync [--companies N] [--repeat N]
"""

import argparse
import json
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402  (sets Django up)
from organizations.models import Organization, PsaSettings, PsaSyncRun  # noqa: E402

PAGE = 500
ZONE = "/zone/ATServicesRest/"
HEADERS = {"ApiIntegrationCode": "BENCH", "UserName": "bench@msp.example", "Secret": "bench"}


def build_pages(count: int) -> dict[int, bytes]:
    """The answer to `id gt CURSOR`, keyed by cursor."""
    companies = [
        {
            "id": n,
            "companyName": f"Customer {n:06d} Ltd",
            "companyType": 1 if n % 10 else 4,
            "isActive": True,
            "parentCompanyID": n - n % 10 if n % 10 else None,
            "address1": f"{n} Main Street",
            "address2": None,
            "city": "Springfield",
            "state": "IL",
            "postalCode": "62701",
            "phone": "555-0100",
            "taxID": None,
            "isTaxExempt": False,
            "isSample": False,
            "userDefinedFields": [],
        }
        for n in range(10, count + 10)
    ]
    pages = {}
    for start in range(0, len(companies) + 1, PAGE):
        items = companies[start : start + PAGE]
        cursor = companies[start - 1]["id"] if start else 0
        more = start + PAGE < len(companies)
        details = {
            "count": len(items),
            "requestCount": PAGE,
            "prevPageUrl": None,
            "nextPageUrl": "http://x/next" if more else None,
        }
        pages[cursor] = json.dumps({"items": items, "pageDetails": details}).encode()
    return pages


def serve(pages: dict[int, bytes]) -> ThreadingHTTPServer:
    fields = json.dumps(
        {
            "fields": [
                {
                    "name": "companyType",
                    "isPickList": True,
                    "picklistValues": [
                        {"value": str(v), "label": label}
                        for v, label in [
                            (1, "Customer"),
                            (2, "Lead"),
                            (3, "Prospect"),
                            (4, "Dead"),
                            (6, "Cancelation"),
                            (7, "Vendor"),
                            (8, "Partner"),
                        ]
                    ],
                }
            ]
        }
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def answer(self, body: bytes):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802 - http.server's name
            if "zoneInformation" in self.path:
                url = f"http://127.0.0.1:{self.server.server_port}{ZONE}"
                self.answer(json.dumps({"zoneName": "Bench", "url": url}).encode())
            else:
                self.answer(fields)

        def do_POST(self):  # noqa: N802
            query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self.answer(pages.get(query["Filter"][0]["value"], b'{"items": []}'))

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def transfer_only(base: str, pages: dict[int, bytes]) -> None:
    """The bare transfer: the same POSTs with httpx on one connection, each body JSON-decoded.
    The client takes the process's TLS context, as the sync's does, rather than loading the CA
    bundle again (longer than all 21 requests on a busy machine): that is no part of a transfer."""
    import httpx

    from mapping_portal.lib.http import tls_context

    with httpx.Client(trust_env=False, verify=tls_context()) as http:
        for cursor in pages:
            body = {"MaxRecords": PAGE, "Filter": [{"op": "gt", "field": "id", "value": cursor}]}
            json.loads(
                http.post(f"{base}{ZONE}V1.0/Companies/query", json=body, headers=HEADERS).content
            )


def fetch_only() -> None:
    from organizations.psa_sync import RequestBudget, fetch

    # A finished run to record progress on: a queued one would stand for a sync in progress.
    run = PsaSyncRun.objects.create(trigger="manual", status="succeeded")
    fetch(PsaSettings.load(), run, RequestBudget(run))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def sync() -> None:
    from organizations.psa_sync import sync_now

    run = sync_now()
    assert run.status == "succeeded", run.error


def empty_organizations() -> None:
    """Every organization deleted, and the table vacuumed as autovacuum would: a first sync meets
    an organizations table that never held these rows, not one full of dead ones."""
    from django.db import connection

    PsaSyncRun.objects.all().delete()  # the hourly budget counts the runs kept
    Organization.objects.all().delete()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {Organization._meta.db_table}")


def decoded_companies(pages: dict[int, bytes]) -> list:
    from organizations.autotask import companies_from

    types = {1: ("Customer", "customer"), 4: ("Dead", "dead")}
    return [
        company
        for body in pages.values()
        for company in companies_from(json.loads(body)["items"], types, "page")
    ]


def apply_only(companies: list) -> None:
    """The first sync's apply on its own: read what is stored, build, bulk_create, commit."""
    from django.utils import timezone

    from organizations.psa_sync import apply_companies

    counts = apply_companies(companies, now=timezone.now())
    assert counts.created == len(companies), counts


def bulk_create_only(companies: list) -> float:
    """The ORM alone: bulk_create of the same organizations (roots, then their children, as the
    sync does), built before the clock starts, in one transaction, committed."""
    from django.db import transaction

    from mapping_portal.lib.bulk import paused_gc

    roots = {c.autotask_id: Organization(**fields(c)) for c in companies if c.parent_id is None}
    children = [
        Organization(**fields(c), parent=roots[c.parent_id])
        for c in companies
        if c.parent_id is not None
    ]
    start = time.perf_counter()
    with paused_gc(), transaction.atomic():
        Organization.objects.bulk_create(list(roots.values()), batch_size=10_000)
        Organization.objects.bulk_create(children, batch_size=10_000)
    return (time.perf_counter() - start) * 1000


def fields(company) -> dict:
    values = company._asdict()
    del values["parent_id"]  # an Autotask id
    return values


def postgresql_only(count: int) -> float:
    """PostgreSQL alone: the same rows (ids, names, types, parents, addresses) made by
    generate_series in one INSERT, committed (the parent foreign key is checked at COMMIT)."""
    from django.db import connection, transaction

    table = connection.ops.quote_name(Organization._meta.db_table)
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, autotask_id, name, org_type, parent_id, active, address1, "
            "address2, city, state, postal_code, country, phone, email, tax_id, tax_exempt, "
            "created_at, updated_at) "
            "SELECT n, n, 'Customer ' || lpad(n::text, 6, '0') || ' Ltd', "
            "CASE WHEN n %% 10 = 0 THEN 'dead' ELSE 'customer' END, "
            "CASE WHEN n %% 10 <> 0 THEN n - n %% 10 END, true, n || ' Main Street', '', "
            "'Springfield', 'IL', '62701', '', '555-0100', '', '', false, now(), now() "
            "FROM generate_series(10, %s) AS n",
            [count + 9],
        )
    return (time.perf_counter() - start) * 1000


def main():
    from django.db import connection

    parser = argparse.ArgumentParser()
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    common.setup_database()
    pages = build_pages(args.companies)
    companies = decoded_companies(pages)
    server = serve(pages)
    base = f"http://127.0.0.1:{server.server_port}"
    PsaSettings.objects.update_or_create(
        pk=1,
        defaults={
            "base_url": f"{base}/ATServicesRest",
            "username": HEADERS["UserName"],
            "secret": HEADERS["Secret"],
            "integration_code": HEADERS["ApiIntegrationCode"],
        },
    )
    from django.test import override_settings

    samples = {
        key: [] for key in ("transfer", "fetch", "first", "unchanged", "apply", "orm", "postgresql")
    }
    with override_settings(AUTOTASK_REQUESTS_PER_HOUR=10_000):
        for _ in range(args.repeat):
            empty_organizations()
            samples["transfer"].append(timed(lambda: transfer_only(base, pages)))
            samples["fetch"].append(timed(fetch_only))
            samples["first"].append(timed(sync))
            samples["unchanged"].append(timed(sync))
            empty_organizations()
            samples["apply"].append(timed(lambda: apply_only(companies)))
            empty_organizations()
            samples["orm"].append(bulk_create_only(companies))
            if connection.vendor == "postgresql":
                empty_organizations()
                samples["postgresql"].append(postgresql_only(args.companies))
    server.shutdown()
    empty_organizations()
    baseline = statistics.median(samples["transfer"])
    n = args.companies
    labels = {
        "transfer": f"POST + JSON decode of {len(pages)} pages (baseline)",
        "fetch": "fetch only (zone, picklist, pages, validation)",
        "first": f"first sync ({n} created)",
        "unchanged": "re-sync, unchanged (no rows written)",
        "apply": f"  of it: the first sync's apply alone ({n} stored, committed)",
        "orm": f"  ORM alone: bulk_create of {n} organizations + COMMIT",
        "postgresql": f"  PostgreSQL alone: INSERT … SELECT of {n} rows + COMMIT",
    }
    rows = []
    for key, label in labels.items():
        if samples[key]:
            median = statistics.median(samples[key])
            rows.append([label, median, f"{median / baseline:.2f}×"])
    common.print_table(
        f"Autotask organization sync, {n} companies, median of {args.repeat}",
        ["what", "ms", "× baseline"],
        rows,
    )


if __name__ == "__main__":
    main()
