"""Typeahead at 100,000 organizations: median server time per query, next to the same SQL with
the trigram index switched off (what a sequential scan costs) and the Django admin changelist
search over the same organizations, all measured in this run.

Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test python -m bench.typeahead
"""

import random

from bench.common import median_ms, print_table, setup_database

ORGANIZATIONS = 100_000
QUERIES = ["a", "ac", "acm", "acme", "dental", "müller", "law group", "corp", "zzqx", "1234"]


def seed(count: int) -> None:
    from organizations.models import Organization

    if Organization.objects.count() >= count:
        return
    from organizations.demo import INDUSTRIES, STEMS, SUFFIXES

    rng = random.Random(7)
    start = Organization.objects.count()
    types = (
        ["customer"] * 80
        + ["lead", "prospect", "vendor", "partner"] * 3
        + ["dead"] * 4
        + ["cancelation"] * 4
    )
    batch = []
    for i in range(start, count):
        name = f"{rng.choice(STEMS)} {rng.choice(INDUSTRIES)} {i} {rng.choice(SUFFIXES)}".strip()
        batch.append(
            Organization(autotask_id=10_000_000 + i, name=name, org_type=rng.choice(types))
        )
        if len(batch) == 5000:
            Organization.objects.bulk_create(batch)
            batch = []
    Organization.objects.bulk_create(batch)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE organizations_organization" if connection.vendor == "postgresql" else "ANALYZE"
        )


def main() -> None:
    setup_database()
    seed(ORGANIZATIONS)
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.test import Client

    from organizations.models import Organization

    admin, _ = User.objects.get_or_create(
        username="bench", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client()
    client.force_login(admin)

    def typeahead(q):
        response = client.get("/organizations/typeahead/", {"q": q})
        assert response.status_code == 200

    def admin_search(q):
        response = client.get("/django-admin/organizations/organization/", {"q": q})
        assert response.status_code == 200

    def sql_without_index(q):
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL enable_bitmapscan = off")
                cursor.execute("SET LOCAL enable_indexscan = off")
            Organization.objects.billable().only("pk", "name", "org_type", "autotask_id").typeahead(
                q, 15
            )

    rows = []
    for q in QUERIES:
        rows.append(
            [
                repr(q),
                median_ms(lambda q=q: typeahead(q)),
                median_ms(lambda q=q: sql_without_index(q), repeat=9),
                median_ms(lambda q=q: admin_search(q), repeat=9),
            ]
        )
    overall = sorted(r[1] for r in rows)[len(rows) // 2]
    print_table(
        f"Typeahead, {Organization.objects.count():,} organizations ({connection.vendor}), "
        "median ms per request",
        ["query", "typeahead (view)", "same SQL, no index", "admin changelist search"],
        rows,
    )
    print(f"\nTypeahead median over all queries: {overall:.2f} ms (target ≤ 30 ms)")


if __name__ == "__main__":
    main()
