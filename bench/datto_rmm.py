"""Benchmark: a Datto RMM account of 2,000 sites and 50,000 devices served from loopback in the
shapes of API v2 (token, sites and devices paged by nextPageUrl, 250 a page). Measures, in the
same run: the adapter's fetch alone (token, every page, classification, per-site counts) and a
full sync through services.sync_now (the fetch plus the apply), first and unchanged; each with
its peak memory (tracemalloc, in one more run: tracing slows the timed ones). Target: sync ≤ 2×
fetch. Prints a table; it is not a test.

Runs in a database of its own (bench/common.py: BENCH_DATABASE, default mapping_portal_bench):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres DEBUG=true \
        .venv/bin/python -m bench.datto_rmm [--sites N] [--devices N] [--repeat N]
"""

import argparse
import json
import statistics
import sys
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402  (sets Django up)
from kaseya_modules import services  # noqa: E402
from kaseya_modules.catalog import catalog_entries  # noqa: E402
from kaseya_modules.models import KaseyaModule, SourceKind, SyncStatus, SyncTrigger  # noqa: E402
from kaseya_modules.sources import source_for  # noqa: E402

PAGE = 250
KINDS = [
    ("Desktop", "device", ""),
    ("Desktop", "device", ""),
    ("Laptop", "device", ""),
    ("Laptop", "device", ""),
    ("Server", "device", ""),
    ("Printer", "printer", ""),
    ("Network Device", "rmmnetworkdevice", "Switch"),
    ("ESXi Host", "esxihost", ""),
    ("Tablet", "device", ""),
    ("Network Device", "rmmnetworkdevice", "Firewall"),
]


def build(sites: int, devices: int, base: str) -> dict[str, bytes]:
    """Every response body by path and query, made once."""
    bodies = {"/auth/oauth/token": json.dumps({"access_token": "bench", "expires_in": 1}).encode()}

    def pages(path, key, items):
        for number, start in enumerate(range(0, max(len(items), 1), PAGE)):
            more = start + PAGE < len(items)
            next_url = f"{base}{path}?max={PAGE}&page={number + 1}" if more else None
            bodies[f"{path}?max={PAGE}&page={number}"] = json.dumps(
                {
                    "pageDetails": {
                        "count": PAGE,
                        "totalCount": len(items),
                        "nextPageUrl": next_url,
                    },
                    key: items[start : start + PAGE],
                }
            ).encode()

    site_rows = [
        {
            "id": i,
            "uid": f"site-{i:05d}",
            "accountUid": "acc",
            "name": f"Customer {i:05d}",
            "onDemand": False,
            "autotaskCompanyId": str(29_000_000 + i),
            "autotaskCompanyName": f"Customer {i:05d}",
            "devicesStatus": {"numberOfDevices": devices // sites},
        }
        for i in range(sites)
    ]
    pages("/api/v2/account/sites", "sites", site_rows)
    device_rows = []
    for i in range(devices):
        category, device_class, type_name = KINDS[i % len(KINDS)]
        device_rows.append(
            {
                "id": i,
                "uid": f"dev-{i:06d}",
                "siteUid": f"site-{i % sites:05d}",
                "siteName": f"Customer {i % sites:05d}",
                "hostname": f"HOST-{i:06d}",
                "deviceType": {"category": category, "type": type_name},
                "deviceClass": device_class,
                "operatingSystem": "Microsoft Windows 11 Pro",
                "online": i % 3 != 0,
                "suspended": i % 97 == 0,
                "deleted": False,
                "lastSeen": "2026-05-01T10:00:00Z",
                "udf": {"udf1": "", "udf2": None},
            }
        )
    pages("/api/v2/account/devices", "devices", device_rows)
    return bodies


def serve(bodies: dict[str, bytes]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self):
            parts = urlsplit(self.path)
            body = bodies[parts.path + (f"?{parts.query}" if parts.query else "")]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802 - http.server's name
            self.reply()

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.reply()

        def log_message(self, *args):
            pass

    return common.serve_in_background(Handler)


def measured(fn, trace: bool):
    """(result, seconds, peak bytes) of one call; the peak only when traced (tracemalloc slows
    every allocation, so timed runs are not traced)."""
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    if trace:
        tracemalloc.stop()
    return result, seconds, peak


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", type=int, default=2_000)
    parser.add_argument("--devices", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per step; medians are shown")
    args = parser.parse_args()
    common.setup_database()

    bodies: dict[str, bytes] = {}
    server = serve(bodies)
    base = f"http://127.0.0.1:{server.server_port}"
    bodies.update(build(args.sites, args.devices, base))  # nextPageUrl names the live port

    entry = next(e for e in catalog_entries() if e["code"] == "datto_rmm")
    module, _ = KaseyaModule.objects.update_or_create(
        code="bench_datto_rmm",
        defaults={
            "name": "Bench Datto RMM",
            "source_kind": SourceKind.DATTO_RMM,
            "base_url": base,
            "credentials": "BENCHKEY:BENCHSECRET",
            "billing_types": entry["billing_types"],
        },
    )

    def reset():
        module.organizations.all().delete()
        module.sync_runs.all().delete()
        KaseyaModule.objects.filter(pk=module.pk).update(
            first_sync_completed_at=None, last_sync_succeeded_at=None
        )
        module.refresh_from_db()

    steps: dict[str, list[tuple[float, int]]] = {}
    try:
        source_for(module).fetch_all()  # warm-up: imports, first connection
        for index in range(args.repeat + 1):
            trace = index == args.repeat  # a last, traced run for the memory peaks
            reset()
            fetched, seconds, peak = measured(lambda: source_for(module).fetch_all(), trace)
            assert len(fetched) == args.sites
            steps.setdefault("fetch alone", []).append((seconds, peak))
            for step in ("first sync", "unchanged re-sync"):
                run, seconds, peak = measured(
                    lambda: services.sync_now(module, SyncTrigger.MANUAL), trace
                )
                assert run.status == SyncStatus.SUCCEEDED, run.error
                steps.setdefault(step, []).append((seconds, peak))
    finally:
        reset()
        server.shutdown()

    fetch = statistics.median(s for s, _ in steps["fetch alone"][:-1])
    rows = []
    for step, samples in steps.items():
        seconds = statistics.median(s for s, _ in samples[:-1])
        peak = max(p for _, p in samples)
        rows.append([step, seconds * 1000, f"{seconds / fetch:.2f}×", f"{peak / 2**20:.1f}"])
    common.print_table(
        f"Datto RMM: {args.sites:,} sites, {args.devices:,} devices, {len(bodies) - 1} pages "
        f"(median of {args.repeat}; target: sync ≤ 2× fetch)",
        ["step", "ms", "× fetch", "peak MiB (tracemalloc)"],
        rows,
    )


if __name__ == "__main__":
    main()
