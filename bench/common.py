"""Shared set-up for benchmarks: a scratch database of its own (kept between runs so seeding
happens once), timing helpers and a table printer. Benchmarks print; they assert nothing."""

import os
import statistics
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mapping_portal.settings")
os.environ.setdefault("DEBUG", "true")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

# The bench database: a PostgreSQL database name, or for SQLite a file (var/<name>.sqlite3, or the
# path given). BENCH_DATABASE overrides it so two people can bench on one server at once.
BENCH_DB = os.environ.get("BENCH_DATABASE", "").strip() or "mapping_portal_bench"


def sqlite_path(name: str) -> str:
    return name if "/" in name or name.endswith(".sqlite3") else f"var/{name}.sqlite3"


def setup_database():
    """Create (or reuse) the bench database and point the default connection at it: a benchmark
    never reads or writes the database DATABASE_URL names."""
    from django.conf import settings
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client's host, in-memory mail
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    connection.settings_dict.setdefault("TEST", {})["NAME"] = (
        BENCH_DB if connection.vendor == "postgresql" else sqlite_path(BENCH_DB)
    )
    connection.creation.create_test_db(verbosity=0, keepdb=True, serialize=False)
    if connection.vendor != "postgresql":
        print("NOTE: DATABASE_URL is not PostgreSQL; figures are for SQLite and not the target.")


def use_database(name: str) -> None:
    """Point the default connection at the bench database `name` (made if missing): for a
    benchmark that keeps several seeded databases."""
    global BENCH_DB
    from django.test.utils import teardown_test_environment

    connection.close()
    try:
        teardown_test_environment()  # setup_database() sets it up again
    except AttributeError:
        pass  # not set up yet
    BENCH_DB = name
    setup_database()


def median_ms(fn, repeat: int = 25, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def print_table(title: str, header: list[str], rows: list[list]) -> None:
    cells = [header] + [[f"{c:.2f}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("-" * len(line))
    for row in cells[1:]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def serve_in_background(handler):
    """A loopback HTTP server for `handler` (a BaseHTTPRequestHandler class), serving from a
    daemon thread; call .shutdown() when done."""
    import threading
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def lines_for(invoices, modules) -> list:
    """Unsaved invoice lines, one per module for each invoice: the invoice benches' lines."""
    from decimal import Decimal

    from billing.models import InvoiceLine

    return [
        InvoiceLine(
            invoice=invoice,
            position=position,
            module=module,
            billing_type="users",
            billing_type_name="Users",
            quantity=Decimal(12),
            rate=Decimal("3.5"),
            amount=Decimal("42.00"),
            description=f"{module.name} Users: {invoice.organization_id}",
        )
        for invoice in invoices
        for position, module in enumerate(modules)
    ]
