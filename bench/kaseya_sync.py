"""Benchmark: sync 100,000 module organizations from a local Feed v1 server into PostgreSQL, then
re-sync them unchanged; compare with a plain PostgreSQL COPY of the same rows and with just
fetching the feed, all measured in the same run. Prints a table; it is not a test.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench DEBUG=true \
        .venv/bin/python manage.py migrate && \
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench DEBUG=true \
        .venv/bin/python bench/kaseya_sync.py [--organizations 100000] [--page-size 1000]
"""

import argparse
import io
import json
import os
import sys
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mapping_portal.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from kaseya_modules import services  # noqa: E402
from kaseya_modules.models import KaseyaModule, SourceKind, SyncTrigger  # noqa: E402
from kaseya_modules.sources import source_for  # noqa: E402

TOKEN = "bench-token"


def build_pages(count: int, page_size: int) -> list[bytes]:
    rows = []
    for i in range(count):
        root = i - i % 10
        rows.append(
            {
                "id": f"org-{i}",
                "name": f"Customer {i:06d}"
                if i == root
                else f"Customer {root:06d} - Site {i % 10}",
                "parent_id": None if i == root else f"org-{root}",
                "kind": "organization" if i == root else "site",
                "usage": {"users": i % 50},
            }
        )
    pages = []
    for start in range(0, count, page_size):
        more = start + page_size < count
        pages.append(
            json.dumps(
                {
                    "organizations": rows[start : start + page_size],
                    "next_cursor": str(start // page_size + 1) if more else None,
                }
            ).encode()
        )
    return pages


def serve(pages: list[bytes]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            cursor = parse_qs(urlsplit(self.path).query).get("cursor", ["0"])[0]
            body = pages[int(cursor)]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def peak_memory(fn) -> int:
    # tracemalloc slows Python down several times, so memory is measured in its own pass.
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def copy_rows(module_id: int, count: int) -> float:
    """The rows a first sync stores (organizations and their usage) through plain COPY into
    scratch copies of the tables, from ready-made text: the floor for inserting them."""
    now = timezone.now().isoformat()
    today = timezone.localdate().isoformat()
    organizations, usage = io.StringIO(), io.StringIO()
    for i in range(count):
        organizations.write(f"{module_id}\torg-{i}\tCustomer {i:06d}\tsite\tt\t{now}\t{now}\tf\n")
        usage.write(f"{i + 1}\tusers\t{today}\t{i % 50}\n")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_org (LIKE kaseya_modules_moduleorganization INCLUDING ALL)"
        )
        cursor.execute(
            "CREATE TEMP TABLE bench_usage (LIKE kaseya_modules_moduleusage INCLUDING ALL)"
        )
        started = time.perf_counter()
        columns = "module_id, external_id, name, kind, active, first_seen_at, last_seen_at, ignored"
        with cursor.cursor.copy(f"COPY bench_org ({columns}) FROM STDIN") as copy:
            copy.write(organizations.getvalue())
        columns = "module_organization_id, billing_type, day, quantity"
        with cursor.cursor.copy(f"COPY bench_usage ({columns}) FROM STDIN") as copy:
            copy.write(usage.getvalue())
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_org")
        cursor.execute("DROP TABLE bench_usage")
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--organizations", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Point DATABASE_URL at PostgreSQL.")

    pages = build_pages(args.organizations, args.page_size)
    server = serve(pages)
    module, _ = KaseyaModule.objects.update_or_create(
        code="bench_sync",
        defaults={
            "name": "Bench sync",
            "source_kind": SourceKind.FEED,
            "base_url": f"http://127.0.0.1:{server.server_port}",
            "credentials": TOKEN,
            "billing_types": [{"code": "users", "unit": "count"}],
        },
    )

    def reset():
        module.organizations.all().delete()
        module.sync_runs.all().delete()
        KaseyaModule.objects.filter(pk=module.pk).update(first_sync_completed_at=None)

    def first_sync():
        reset()
        return services.sync_now(module, SyncTrigger.MANUAL)

    memory = {}
    try:
        _, fetch_time = timed(lambda: source_for(module).fetch_all())
        first, first_time = timed(first_sync)
        second, second_time = timed(lambda: services.sync_now(module, SyncTrigger.MANUAL))
        copy_time = copy_rows(module.pk, args.organizations)
        assert first.new_count == args.organizations, first.error
        assert second.unchanged_count == args.organizations, second.error
        # Same rows in 4x as many pages: the peak should stay put.
        for page_size in (args.page_size, args.page_size // 4):
            server.shutdown()
            server = serve(build_pages(args.organizations, page_size))
            KaseyaModule.objects.filter(pk=module.pk).update(
                base_url=f"http://127.0.0.1:{server.server_port}"
            )
            module.refresh_from_db()
            memory[page_size] = peak_memory(first_sync)
    finally:
        reset()
        module.delete()
        server.shutdown()

    mib = 1024 * 1024
    print(f"{args.organizations:,} module organizations (+1 usage row each), PostgreSQL")
    print(f"{'step':<34}{'seconds':>9}")
    print(f"{'fetch only':<34}{fetch_time:>9.2f}")
    print(f"{'first sync (fetch + apply)':<34}{first_time:>9.2f}")
    print(f"{'unchanged re-sync':<34}{second_time:>9.2f}")
    print(f"{'plain COPY of the same rows':<34}{copy_time:>9.2f}")
    print(
        f"first sync / COPY = {first_time / copy_time:.1f}x (target <= 4x); "
        f"unchanged re-sync / fetch = {second_time / fetch_time:.1f}x (target <= 2x)"
    )
    for page_size, peak in memory.items():
        pages_count = -(-args.organizations // page_size)
        print(
            f"peak traced memory, first sync, {pages_count} pages of {page_size}: "
            f"{peak / mib:.1f} MiB"
        )


if __name__ == "__main__":
    main()
