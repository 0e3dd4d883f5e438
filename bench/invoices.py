"""Invoice creation for a month at 5,000 organizations × 10 modules (daily usage for the whole
month, sites rolling up, some usage billing to nobody): `create_invoices` (first run, and a run
again that regenerates every draft) and `bills_for` alone, beside a plain ORM aggregate of the
same usage — the latest day per module organization and billing type, summed per organization,
module and billing type — all measured in this run.

Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test DEBUG=true \
        .venv/bin/python -m bench.invoices
A scratch database of its own (kept between runs, so seeding happens once).
"""

import random
import statistics
import time
from datetime import date, timedelta
from decimal import Decimal

from bench import common
from bench.common import connection, print_table, use_database

DB = f"{common.BENCH_DB}_invoices"
ORGANIZATIONS = 5_000
MODULES = 10
PERIOD = date(2026, 10, 1)
DAYS = 31
BILLING_TYPES = ("users", "devices")
UNMAPPED_PER_MODULE = 300  # usage that bills to nobody
ROUNDS = 3


def _copy_usage(rows) -> None:
    """Write usage rows (module organization pk, billing type, day, quantity): COPY on
    PostgreSQL, bulk_create elsewhere. Set-up only."""
    from kaseya_modules.models import ModuleUsage

    if connection.vendor != "postgresql":
        batch = []
        for pk, billing_type, day, quantity in rows:
            batch.append(ModuleUsage(module_organization_id=pk, billing_type=billing_type,
                                     day=day, quantity=quantity))  # fmt: skip
            if len(batch) >= 10_000:
                ModuleUsage.objects.bulk_create(batch)
                batch = []
        ModuleUsage.objects.bulk_create(batch)
        return
    table = ModuleUsage._meta.db_table
    with connection.cursor() as cursor:
        sql = f"COPY {table} (module_organization_id, billing_type, day, quantity) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)


def seed() -> None:
    from django.db import transaction
    from django.utils import timezone

    from billing import services
    from kaseya_modules.models import KaseyaModule, ModuleOrganization, ModuleUsage
    from organizations.models import Organization

    if ModuleUsage.objects.exists():
        return
    rng = random.Random(12)
    now = timezone.now() - timedelta(days=60)
    with transaction.atomic():
        Organization.objects.bulk_create(
            [
                Organization(autotask_id=20_000_000 + i, name=f"Bench Customer {i:05d}",
                             org_type="customer")
                for i in range(ORGANIZATIONS)
            ],
            batch_size=5000,
        )  # fmt: skip
        organizations = list(Organization.objects.values_list("pk", flat=True))
        KaseyaModule.objects.update(icb_enabled=False)
        modules = []
        for m in range(MODULES):
            module, _ = KaseyaModule.objects.update_or_create(
                code=f"bench_inv_{m}",
                defaults={
                    "name": f"Bench Module {m:02d}",
                    "icb_enabled": True,
                    "first_sync_completed_at": now,
                    "last_sync_succeeded_at": now,
                    "billing_types": [
                        {"code": code, "name": code.title(), "unit": "count"}
                        for code in BILLING_TYPES
                    ],
                },
            )
            modules.append(module)
        rows = []
        for module in modules:
            for i, org in enumerate(organizations):
                rows.append(ModuleOrganization(module=module, external_id=f"o-{i}", name=f"Org {i}",
                                               organization_id=org, first_seen_at=now,
                                               last_seen_at=now))  # fmt: skip
            for j in range(UNMAPPED_PER_MODULE):
                rows.append(ModuleOrganization(module=module, external_id=f"u-{j}",
                                               name=f"Stray {j}", ignored=j % 3 == 0,
                                               first_seen_at=now, last_seen_at=now))  # fmt: skip
        ModuleOrganization.objects.bulk_create(rows, batch_size=5000)
        # A site below every fourth organization's module organization, unmapped: it rolls up.
        parents = ModuleOrganization.objects.filter(external_id__startswith="o-").values_list(
            "pk", "module_id", "external_id"
        )
        sites = [
            ModuleOrganization(
                module_id=module_id,
                external_id=f"s-{external_id}",
                parent_id=pk,
                name=f"Site of {external_id}",
                kind="site",
                first_seen_at=now,
                last_seen_at=now,
            )  # fmt: skip
            for pk, module_id, external_id in parents
            if int(external_id[2:]) % 4 == 0
        ]
        ModuleOrganization.objects.bulk_create(sites, batch_size=5000)

        pks = list(ModuleOrganization.objects.values_list("pk", flat=True))

        def usage_rows():
            for pk in pks:
                base = {bt: rng.randint(1, 60) for bt in BILLING_TYPES}
                for day in range(DAYS):
                    for billing_type in BILLING_TYPES:
                        grown = base[billing_type] + (day >= 20 and pk % 5 == 0)
                        yield pk, billing_type, PERIOD + timedelta(days=day), grown

        _copy_usage(usage_rows())
        for module in modules:
            for billing_type in BILLING_TYPES:
                services.set_price(module, billing_type, Decimal(rng.randint(100, 900)) / 100)
        for org in organizations[:500]:
            services.set_price(modules[0], "users", "1.99", organization=Organization(pk=org,
                               org_type="customer"))  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def plain_aggregate() -> list:
    """The baseline: the same usage as one grouped ORM query — the latest day within the month
    per module organization and billing type (a window), summed per organization, module and
    billing type; only module organizations mapped straight to an organization (no roll-up, no
    prices, no writing)."""
    from django.db.models import F, Sum, Window
    from django.db.models.functions import RowNumber

    from kaseya_modules.models import ModuleUsage

    latest = Window(
        RowNumber(),
        partition_by=[F("module_organization_id"), F("billing_type")],
        order_by=F("day").desc(),
    )
    return list(
        ModuleUsage.objects.filter(
            day__gte=PERIOD,
            day__lt=PERIOD + timedelta(days=DAYS),
            module_organization__organization__isnull=False,
        )
        .annotate(latest=latest)
        .filter(latest=1)
        .values(
            "module_organization__organization_id", "module_organization__module_id", "billing_type"
        )  # fmt: skip
        .annotate(quantity=Sum("quantity"))
        .order_by()
    )


def timed(fn, before=None) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(ROUNDS):
        if before:
            before()
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), result


def main() -> None:
    use_database(DB)
    started = time.perf_counter()
    seed()
    seeded = time.perf_counter() - started
    from billing import services
    from billing.models import Invoice, InvoiceLine
    from kaseya_modules.models import ModuleUsage

    def clear():
        Invoice.objects.filter(period=PERIOD).delete()

    plain_ms, groups = timed(plain_aggregate)
    bills_ms, bills = timed(lambda: services.bills_for(PERIOD))
    create_ms, summary = timed(lambda: services.create_invoices(PERIOD), before=clear)
    rerun_ms, resummary = timed(lambda: services.create_invoices(PERIOD))
    lines = InvoiceLine.objects.filter(invoice__period=PERIOD).count()
    print(
        f"\n{ModuleUsage.objects.count():,} usage rows ({DAYS} days), {ORGANIZATIONS:,} "
        f"organizations × {MODULES} modules; seeding took {seeded:.0f} s (kept for next runs). "
        f"{summary.created:,} invoices, {lines:,} lines; the aggregate gave {len(groups):,} "
        f"groups. Median of {ROUNDS} runs, {connection.vendor}."
    )
    rows = [
        ["plain ORM aggregate of the month's usage (baseline)", plain_ms, 1.0],
        ["bills_for (roll-up of sites, prices, descriptions)", bills_ms, bills_ms / plain_ms],
        [f"create_invoices, first run ({summary.created:,} drafts)", create_ms,
         create_ms / plain_ms],
        [f"create_invoices, run again ({resummary.regenerated:,} regenerated)", rerun_ms,
         rerun_ms / plain_ms],
    ]  # fmt: skip
    print_table(
        "Invoices for one month (ms)",
        ["what", "ms", "× baseline"],
        [[label, ms, f"{ratio:.1f}"] for label, ms, ratio in rows],
    )
    print(f"{len(bills):,} organizations billed.")


if __name__ == "__main__":
    main()
