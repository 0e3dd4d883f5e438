"""CSV import of a 25,000-row parent chain (each organization the parent of the next, about 1 MB:
under the 5 MB cap, and the worst case for the parent-loop check) next to the same rows with no
parents, measured in this run: parsing and checking alone, then the whole import.

Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m bench.organization_import
"""

import sys
import time

from bench import common

ROWS = 25_000
FIRST_ID = 90_000_000  # clear of the ids other benchmarks seed


def csv_bytes(rows: int, *, chain: bool) -> bytes:
    lines = ["autotask_id,name,type,parent_autotask_id,city"]
    for i in range(rows):
        parent = FIRST_ID + i - 1 if chain and i else ""
        lines.append(f"{FIRST_ID + i},Imported Organization {i:06d},Customer,{parent},Springfield")
    return ("\n".join(lines) + "\n").encode()


def timed(fn) -> tuple[object, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def main(rows: int) -> None:
    common.BENCH_DB = f"{common.BENCH_DB}_import"
    common.setup_database()
    from organizations.importing import import_organizations, parse
    from organizations.models import Organization

    def clear():
        Organization.objects.filter(autotask_id__gte=FIRST_ID).update(parent=None)
        Organization.objects.filter(autotask_id__gte=FIRST_ID).delete()

    table = []
    for label, chain in (("no parents (baseline)", False), ("parent chain", True)):
        data = csv_bytes(rows, chain=chain)
        clear()
        (_, result), parse_seconds = timed(lambda data=data: parse(data))
        assert result.ok, result.errors[:3]
        result, import_seconds = timed(lambda data=data: import_organizations(data))
        assert result.ok and result.created == rows, result.errors[:3]
        table.append([label, f"{len(data) / 1e6:.2f} MB", parse_seconds, import_seconds])
    clear()
    common.print_table(
        f"CSV import of {rows:,} organizations ({common.connection.vendor}), seconds",
        ["file", "size", "parse + checks", "whole import"],
        table,
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS)
