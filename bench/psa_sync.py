"""Benchmark: sync 10,000 Autotask companies (20 pages of 500) from a loopback Autotask into the
database, then re-sync them unchanged; beside it, in the same run, the bare transfer the sync
cannot do without (20 POSTs + JSON decode) and the sync's whole fetch phase (zone, picklist,
pages, validation). Target: a sync takes at most twice the bare transfer. Prints a table; it is
not a test.

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
    """The bare transfer: the same POSTs with httpx on one connection, each body JSON-decoded."""
    import httpx

    with httpx.Client(trust_env=False) as http:
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    common.setup_database()
    pages = build_pages(args.companies)
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

    samples = {"transfer": [], "fetch": [], "first": [], "unchanged": []}
    with override_settings(AUTOTASK_REQUESTS_PER_HOUR=10_000):
        for _ in range(args.repeat):
            PsaSyncRun.objects.all().delete()  # the hourly budget counts the runs kept
            Organization.objects.all().delete()
            samples["transfer"].append(timed(lambda: transfer_only(base, pages)))
            samples["fetch"].append(timed(fetch_only))
            samples["first"].append(timed(sync))
            samples["unchanged"].append(timed(sync))
    server.shutdown()
    baseline = statistics.median(samples["transfer"])
    rows = []
    labels = {
        "transfer": f"POST + JSON decode of {len(pages)} pages (baseline)",
        "fetch": "fetch only (zone, picklist, pages, validation)",
        "first": f"first sync ({args.companies} created)",
        "unchanged": "re-sync, unchanged (no rows written)",
    }
    for key, label in labels.items():
        median = statistics.median(samples[key])
        rows.append([label, median, f"{median / baseline:.2f}×"])
    common.print_table(
        f"Autotask organization sync, {args.companies} companies, median of {args.repeat}",
        ["what", "ms", "× baseline"],
        rows,
    )


if __name__ == "__main__":
    main()
