"""Benchmark: sync 100,000 module organizations from a local Feed v1 server into PostgreSQL, then
re-sync them unchanged; compare with a plain PostgreSQL COPY of the same rows and with just
fetching the feed, all measured in the same run (median of --repeat runs). Prints a table; it is
not a test.

Baselines: "plain COPY" stores exactly the rows a first sync stores (same names, parents, kinds,
usage) into the real tables, committed, as the sync must; the COPY into temporary tables (no WAL,
no foreign-key checks) is shown for reference. "fetch only" is the sync's own fetch phase (HTTP,
JSON, validation); "GET + JSON decode" is the bare transfer under it.

It runs in a database of its own (bench/common.py: BENCH_DATABASE, default
mapping_portal_bench, created and migrated on first use), never in the one DATABASE_URL names:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres DEBUG=true \
        .venv/bin/python -m bench.kaseya_sync [--organizations N] [--page-size N] [--repeat N]
"""

import argparse
import io
import json
import statistics
import sys
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import common  # noqa: E402  (sets Django up)
from kaseya_modules import services  # noqa: E402
from kaseya_modules.models import (  # noqa: E402
    KaseyaModule,
    ModuleOrganization,
    ModuleUsage,
    SourceKind,
    SyncTrigger,
)
from kaseya_modules.sources import source_for  # noqa: E402
from kaseya_modules.sources.http import Client, get_json  # noqa: E402

TOKEN = "bench-token"
ORGANIZATIONS = connection.ops.quote_name(ModuleOrganization._meta.db_table)
USAGE = connection.ops.quote_name(ModuleUsage._meta.db_table)
USAGE_DAY_INDEX = "module_usage_day_idx"


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
        # HTTP/1.1 keeps the connection open between pages, as any production web server does.
        protocol_version = "HTTP/1.1"

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

    return common.serve_in_background(Handler)


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


def held_memory(fn) -> int:
    """Memory still held by what `fn` returns (the fetched rows themselves)."""
    tracemalloc.start()
    result = fn()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del result
    return held


def fetch_raw(base_url: str) -> int:
    """Just fetching the feed: GET every page (same client, same keep-alive connection as the
    sync) and decode its JSON to find the next cursor; no validation, nothing kept."""
    count, cursor = 0, None
    with Client() as client:
        while True:
            url = f"{base_url}/organizations" + (
                f"?{urlencode({'cursor': cursor})}" if cursor else ""
            )
            data = get_json(
                url, headers={"Authorization": f"Bearer {TOKEN}"}, where=url, client=client
            )
            count += len(data["organizations"])
            cursor = data["next_cursor"]
            if cursor is None:
                return count


def delete_rows(module_id: int) -> None:
    """Remove a module's organizations and usage in two statements (the ORM would load them)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {USAGE} WHERE module_organization_id IN "
            f"(SELECT id FROM {ORGANIZATIONS} WHERE module_id = %s)",
            [module_id],
        )
        cursor.execute(f"DELETE FROM {ORGANIZATIONS} WHERE module_id = %s", [module_id])


def add_history(module_id: int, days: int) -> None:
    """`days` earlier days of usage for every organization of the module, as that many nights of
    syncs leave behind (one statement, then what autovacuum would do)."""
    today = timezone.localdate()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {USAGE} (module_organization_id, billing_type, day, quantity) "
            f"SELECT o.id, 'users', %s::date - d, o.id %% 50 FROM {ORGANIZATIONS} o, "
            "generate_series(1, %s) d WHERE o.module_id = %s",
            [today, days, module_id],
        )
        cursor.execute(f"VACUUM ANALYZE {USAGE}")


def without_index(name: str, run):
    """`run()` with the index `name` dropped, then the index made again (untimed)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
        definition = cursor.fetchone()[0]
        cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    try:
        return run()
    finally:
        with connection.cursor() as cursor:
            cursor.execute(definition)
            cursor.execute(f"ANALYZE {USAGE}")


def copy_lines(module_id: int, count: int, first_id: int) -> tuple[str, str]:
    """The rows a first sync stores — the same names, parents, kinds and usage as the feed — as
    COPY text, with ids given (as the sync does) so children can name their parents."""
    now = timezone.now().isoformat()
    today = timezone.localdate().isoformat()
    organizations, usage = io.StringIO(), io.StringIO()
    for i in range(count):
        root = i - i % 10
        name = f"Customer {i:06d}" if i == root else f"Customer {root:06d} - Site {i % 10}"
        parent = "\\N" if i == root else str(first_id + root)
        kind = "organization" if i == root else "site"
        organizations.write(
            f"{first_id + i}\t{module_id}\torg-{i}\t{name}\t{parent}\t{kind}\tt\t{now}\t{now}\tf\n"
        )
        usage.write(f"{first_id + i}\tusers\t{today}\t{i % 50}\n")
    return organizations.getvalue(), usage.getvalue()


def copy_real(module_id: int, count: int) -> float:
    """A plain COPY of the same rows into the real tables (their indexes, constraints and WAL),
    committed like the sync's transaction; the rows are deleted again afterwards."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [ORGANIZATIONS.strip('"')])
        sequence = cursor.fetchone()[0]
        cursor.execute(
            "SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [sequence, count]
        )
        ids = [row[0] for row in cursor.fetchall()]
    assert ids == list(range(ids[0], ids[0] + count)), "the sequence was shared meanwhile"
    organizations, usage = copy_lines(module_id, count, ids[0])
    columns = (
        "id, module_id, external_id, name, parent_id, kind, active, first_seen_at, last_seen_at, "
        "ignored"
    )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {ORGANIZATIONS} ({columns}) FROM STDIN") as copy:
            copy.write(organizations)
        columns = "module_organization_id, billing_type, day, quantity"
        with cursor.cursor.copy(f"COPY {USAGE} ({columns}) FROM STDIN") as copy:
            copy.write(usage)
    elapsed = time.perf_counter() - started
    delete_rows(module_id)
    return elapsed


def copy_scratch(module_id: int, count: int) -> float:
    """The same COPY into temporary copies of the tables: no WAL and no foreign keys, so a lower
    floor than the sync can ever reach; shown for reference only."""
    organizations, usage = copy_lines(module_id, count, 1)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE bench_org (LIKE {ORGANIZATIONS} INCLUDING ALL)")
        cursor.execute(f"CREATE TEMP TABLE bench_usage (LIKE {USAGE} INCLUDING ALL)")
        started = time.perf_counter()
        columns = (
            "id, module_id, external_id, name, parent_id, kind, active, first_seen_at, "
            "last_seen_at, ignored"
        )
        with cursor.cursor.copy(f"COPY bench_org ({columns}) FROM STDIN") as copy:
            copy.write(organizations)
        columns = "module_organization_id, billing_type, day, quantity"
        with cursor.cursor.copy(f"COPY bench_usage ({columns}) FROM STDIN") as copy:
            copy.write(usage)
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_org")
        cursor.execute("DROP TABLE bench_usage")
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--organizations", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per step; medians are shown")
    parser.add_argument(
        "--history-days", type=int, default=30, help="usage days kept, for the re-sync with history"
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Point DATABASE_URL at PostgreSQL.")
    common.setup_database()

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
        delete_rows(module.pk)
        # As autovacuum would between nights: without it every run here leaves 100,000s of dead
        # rows that slow down the next one (untimed).
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {ORGANIZATIONS}, {USAGE}")
        module.sync_runs.all().delete()
        KaseyaModule.objects.filter(pk=module.pk).update(
            first_sync_completed_at=None, last_sync_succeeded_at=None
        )
        module.refresh_from_db()

    def sync():
        return services.sync_now(module, SyncTrigger.MANUAL)

    times: dict[str, list[float]] = {}
    memory = {}

    def record(step, seconds):
        times.setdefault(step, []).append(seconds)

    try:
        reset()
        for _ in range(args.repeat):
            record("raw", timed(lambda: fetch_raw(module.base_url))[1])
            record("fetch", timed(lambda: source_for(module).fetch_all())[1])
            record("copy", copy_real(module.pk, args.organizations))
            record("scratch", copy_scratch(module.pk, args.organizations))
            first, seconds = timed(sync)
            assert first.new_count == args.organizations, first.error
            record("first", seconds)
            second, seconds = timed(sync)
            assert second.unchanged_count == args.organizations, second.error
            record("second", seconds)
            reset()
        # The nightly re-sync once usage has accumulated: it reads only today's usage, so the
        # history should not slow it down (measured with and without the day index).
        if args.history_days:
            first = sync()
            assert first.new_count == args.organizations, first.error
            add_history(module.pk, args.history_days)
            for _ in range(args.repeat):
                record("history", timed(sync)[1])
                record("history_no_index", without_index(USAGE_DAY_INDEX, lambda: timed(sync)[1]))
            reset()
        # Same rows in 4x as many pages: the peak should stay put.
        for page_size in (args.page_size, args.page_size // 4):
            server.shutdown()
            server = serve(build_pages(args.organizations, page_size))
            KaseyaModule.objects.filter(pk=module.pk).update(
                base_url=f"http://127.0.0.1:{server.server_port}"
            )
            module.refresh_from_db()
            rows = held_memory(lambda: source_for(module).fetch_all())
            first_peak = peak_memory(sync)
            second_peak = peak_memory(sync)
            memory[page_size] = (rows, first_peak, second_peak)
            reset()
    finally:
        reset()
        module.delete()
        server.shutdown()

    median = {step: statistics.median(values) for step, values in times.items()}
    mib = 1024 * 1024
    print(
        f"{args.organizations:,} module organizations (+1 usage row each), PostgreSQL, "
        f"{args.organizations // args.page_size} pages; median of {args.repeat} runs"
    )
    rows = [
        ("just fetch: GET + JSON decode every page", "raw"),
        ("fetch only (the sync's fetch phase)", "fetch"),
        ("first sync (fetch + apply)", "first"),
        ("unchanged re-sync (fetch + compare)", "second"),
        *(
            [
                (f"  … with {args.history_days} days of usage kept", "history"),
                ("  … the same without the usage day index", "history_no_index"),
            ]
            if args.history_days
            else []
        ),
        ("plain COPY of the same rows", "copy"),
        ("  (same COPY into temp tables)", "scratch"),
    ]
    print(f"{'step':<44}{'seconds':>9}")
    for label, step in rows:
        print(f"{label:<44}{median[step]:>9.2f}")
    print(
        f"first sync / COPY = {median['first'] / median['copy']:.1f}x (target <= 4x); "
        f"unchanged re-sync / fetch = {median['second'] / median['fetch']:.2f}x (target <= 2x; "
        f"{median['second'] / median['raw']:.1f}x of GET + JSON decode alone)"
    )
    for page_size, (rows_held, first_peak, second_peak) in memory.items():
        pages_count = -(-args.organizations // page_size)
        print(
            f"{pages_count} pages of {page_size}: fetched rows hold {rows_held / mib:.1f} MiB; "
            f"peak traced memory, first sync {first_peak / mib:.1f} MiB, "
            f"unchanged re-sync {second_peak / mib:.1f} MiB"
        )


if __name__ == "__main__":
    main()
