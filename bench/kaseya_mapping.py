"""Kaseya Module Organization Mapping at 10,000 organizations × 10 ICB-enabled modules × 50,000
module organizations: median server time per page of each tab (and of an organization's Mappings
page) next to the Django admin changelist of ModuleOrganization (list_select_related, the same
page size), all measured in this run; then the organization typeahead at 100,000 organizations.

Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test DEBUG=true \
        .venv/bin/python -m bench.kaseya_mapping
Two scratch databases of its own (kept between runs, so seeding happens once).
"""

import random
import statistics
import time
from datetime import timedelta

from bench import common
from bench.common import connection, print_table, use_database

TAB_DB = f"{common.BENCH_DB}_icb_mapping"
TYPEAHEAD_DB = f"{common.BENCH_DB}_icb_typeahead"
ORGANIZATIONS = 10_000
MODULES = 10
MODULE_ORGANIZATIONS = 50_000
TYPEAHEAD_ORGANIZATIONS = 100_000
BATCH = 5000


def seed_mapping() -> None:
    from django.utils import timezone

    from bench.typeahead import seed as seed_organizations
    from kaseya_modules.models import (
        KaseyaModule,
        ModuleOrganization,
        ModuleUsage,
        OrganizationModuleIgnore,
    )
    from organizations.models import Organization

    seed_organizations(ORGANIZATIONS)
    if ModuleOrganization.objects.count() >= MODULE_ORGANIZATIONS:
        return
    rng = random.Random(11)
    now = timezone.now() - timedelta(hours=1)
    KaseyaModule.objects.update(icb_enabled=False)
    modules = []
    for i in range(MODULES):
        module, _ = KaseyaModule.objects.update_or_create(
            code=f"bench_{i}",
            defaults={
                "name": f"Bench Module {i:02d}",
                "icb_enabled": True,
                "first_sync_completed_at": now,
                "last_sync_succeeded_at": now,
                "billing_types": [
                    {"code": "users", "name": "Users", "unit": "count"},
                    {"code": "devices", "name": "Devices", "unit": "count"},
                ],
            },
        )
        modules.append(module)
    billable = list(Organization.objects.billable().values_list("pk", "name"))
    per_module = MODULE_ORGANIZATIONS // MODULES
    for module in modules:
        rows = []
        for j in range(per_module):
            org_pk, name = rng.choice(billable)
            roll = rng.random()
            rows.append(
                ModuleOrganization(
                    module=module,
                    external_id=f"{module.code}-{j}",
                    name=f"{name.upper()} site {j % 7}" if j % 5 else name,
                    kind="site" if j % 5 else "organization",
                    active=rng.random() > 0.03,
                    organization_id=org_pk if roll < 0.6 else None,
                    ignored=0.6 <= roll < 0.65,
                    first_seen_at=now,
                    last_seen_at=now,
                )
            )
        ModuleOrganization.objects.bulk_create(rows, batch_size=BATCH)
    # Sites under their organization (every fifth row is an organization).
    roots = {}
    for pk, module_id, external_id in ModuleOrganization.objects.values_list(
        "pk", "module_id", "external_id"
    ):
        j = int(external_id.rsplit("-", 1)[1])
        roots[module_id, j] = pk
    updates = []
    for (module_id, j), pk in roots.items():
        if j % 5:
            updates.append(ModuleOrganization(pk=pk, parent_id=roots[module_id, j - j % 5]))
    ModuleOrganization.objects.bulk_update(updates, ["parent"], batch_size=BATCH)
    day = timezone.localdate(now)
    usage = []
    for pk in ModuleOrganization.objects.values_list("pk", flat=True).iterator():
        usage.append(ModuleUsage(module_organization_id=pk, billing_type="users", day=day,
                                 quantity=rng.randint(1, 80)))  # fmt: skip
        usage.append(ModuleUsage(module_organization_id=pk, billing_type="devices", day=day,
                                 quantity=rng.randint(1, 200)))  # fmt: skip
        if len(usage) >= BATCH:
            ModuleUsage.objects.bulk_create(usage)
            usage = []
    ModuleUsage.objects.bulk_create(usage)
    ignores = {(rng.choice(billable)[0], rng.choice(modules).pk) for _ in range(2000)}
    OrganizationModuleIgnore.objects.bulk_create(
        [OrganizationModuleIgnore(organization_id=o, module_id=m) for o, m in ignores],
        ignore_conflicts=True,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if connection.vendor != "postgresql" else "VACUUM ANALYZE")


def interleaved_medians(fetches, rounds: int = 15, warmup: int = 2) -> list[float]:
    """Median ms of each fetch, measured round-robin so that a burst of load on the machine
    lands on every page alike rather than on whichever was being measured."""
    for _ in range(warmup):
        for fetch in fetches:
            fetch()
    samples = [[] for _ in fetches]
    for _ in range(rounds):
        for index, fetch in enumerate(fetches):
            start = time.perf_counter()
            fetch()
            samples[index].append((time.perf_counter() - start) * 1000)
    return [statistics.median(values) for values in samples]


def client_for_admin():
    from django.contrib.auth.models import User
    from django.test import Client

    admin, _ = User.objects.get_or_create(
        username="bench", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client()
    client.force_login(admin)
    return client


def page_fetch(client, url, params=None):
    """A callable that fetches one page with the test client and checks it answered 200."""

    def fetch():
        response = client.get(url, params or {})
        assert response.status_code == 200, (url, response.status_code)

    return fetch


def main() -> None:
    use_database(TAB_DB)
    seed_mapping()
    from django.contrib import admin

    from kaseya_modules import mapping_views
    from kaseya_modules.models import KaseyaModule, ModuleOrganization
    from organizations.models import Organization

    # The same page size as the tabs, so both render as many rows.
    admin.site._registry[ModuleOrganization].list_per_page = mapping_views.PAGE_SIZE
    client = client_for_admin()

    def get(url, params=None):
        return page_fetch(client, url, params)

    middle = Organization.objects.billable().count() // mapping_views.PAGE_SIZE // 2
    busiest = (
        ModuleOrganization.objects.filter(organization__isnull=False)
        .values("organization_id")
        .order_by("-organization_id")
        .first()["organization_id"]
    )
    code = KaseyaModule.objects.icb_enabled().order_by("code").first().code
    admin_url = "/django-admin/kaseya_modules/moduleorganization/"
    pages = [
        ("Django admin changelist of ModuleOrganization", get(admin_url)),
        ("Django admin changelist, page 100", get(admin_url, {"p": 100})),
        ("Map by Organization", get("/kaseya/mapping/organizations/")),
        (f"Map by Organization, page {middle}", get("/kaseya/mapping/organizations/",
                                                     {"page": middle})),
        ("Map by Organization, has unmapped modules",
         get("/kaseya/mapping/organizations/", {"status": "unmapped"})),
        ("Map by Module Organization", get("/kaseya/mapping/module-organizations/")),
        ("Map by Module Organization, page 100",
         get("/kaseya/mapping/module-organizations/", {"page": 100})),
        ("Map by Module Organization, unmapped",
         get("/kaseya/mapping/module-organizations/", {"status": "unmapped"})),
        ("Mappings - [Organization Name]", get(f"/kaseya/organizations/{busiest}/mappings/")),
        ("Module organization typeahead 'site'",
         get(f"/kaseya/modules/{code}/organizations/typeahead/", {"q": "site"})),
    ]  # fmt: skip
    medians = interleaved_medians([fetch for _, fetch in pages])
    results = list(zip([label for label, _ in pages], medians, strict=True))
    baseline = results[0][1]
    rows = []
    for label, ms in results:
        ratio = ms / baseline
        target = ""
        if label.startswith("Map by"):
            target = "met" if ratio <= 1.5 else "NOT met"
        rows.append([label, ms, f"{ratio:.2f}×", target])
    print_table(
        f"Kaseya Module Organization Mapping ({connection.vendor}): "
        f"{Organization.objects.count():,} organizations, "
        f"{KaseyaModule.objects.icb_enabled().count()} ICB-enabled modules, "
        f"{ModuleOrganization.objects.count():,} module organizations; "
        f"{mapping_views.PAGE_SIZE} rows per page; median ms per request",
        ["page", "median ms", "vs admin changelist", "target ≤ 1.5×"],
        rows,
    )

    use_database(TYPEAHEAD_DB)
    from bench.typeahead import QUERIES, seed

    seed(TYPEAHEAD_ORGANIZATIONS)
    client = client_for_admin()
    medians = interleaved_medians([get("/organizations/typeahead/", {"q": q}) for q in QUERIES])
    overall = sorted(medians)[len(medians) // 2]
    print_table(
        f"Organization typeahead, {Organization.objects.count():,} organizations "
        f"({connection.vendor}), median ms per request",
        ["query", "median ms"],
        [[repr(q), ms] for q, ms in zip(QUERIES, medians, strict=True)],
    )
    print(
        f"\nTypeahead median over all queries: {overall:.2f} ms (target ≤ 30 ms: "
        f"{'met' if overall <= 30 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
