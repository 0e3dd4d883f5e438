"""Review suggestions at 5,000 waiting suggestions (over bench/kaseya_mapping.py's 10,000
organizations × 10 modules × 50,000 module organizations): median server time of its first page
(100 rows) next to the Map by Module Organization page on the same data, measured in this run.
Target: Review ≤ 1.5 × Map by Module Organization.

Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> BENCH_DATABASE=bench_review DEBUG=true \
        .venv/bin/python -m bench.review
A scratch database of its own (kept between runs, so seeding happens once).
"""

import random

from bench import common
from bench.common import connection, print_table, use_database
from bench.kaseya_mapping import client_for_admin, interleaved_medians, page_fetch, seed_mapping

SUGGESTIONS = 5000


def seed_suggestions() -> None:
    """One best suggestion for each of SUGGESTIONS module organizations still to map."""
    from django.utils import timezone

    from kaseya_modules.models import MappingSuggestion, ModuleOrganization
    from organizations.models import Organization

    if MappingSuggestion.objects.review().count() == SUGGESTIONS:
        return
    MappingSuggestion.objects.all().delete()
    rng = random.Random(7)
    billable = list(Organization.objects.billable().values_list("pk", flat=True))
    waiting = (
        ModuleOrganization.objects.mappable()
        .filter(organization__isnull=True, ignored=False)
        .order_by("pk")
        .values_list("pk", "module_id")[:SUGGESTIONS]
    )
    now = timezone.now()
    rows = []
    for pk, module_id in waiting:
        roll = rng.random()
        confidence = "high" if roll < 0.4 else "medium" if roll < 0.75 else "low"
        score = {"high": 95, "medium": 78, "low": 55}[confidence] - rng.randint(0, 10)
        rows.append(
            MappingSuggestion(
                module_organization_id=pk,
                module_id=module_id,
                rank=1,
                organization_id=rng.choice(billable),
                score=score,
                confidence=confidence,
                reasons=[f"Names {score}% alike; next best {score - 20}%"],
                computed_at=now,
            )
        )
    MappingSuggestion.objects.bulk_create(rows, batch_size=1000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if connection.vendor != "postgresql" else "VACUUM ANALYZE")


def main() -> None:
    use_database(f"{common.BENCH_DB}_icb_mapping")
    seed_mapping()
    seed_suggestions()
    from kaseya_modules import mapping_views, review_views
    from kaseya_modules.models import KaseyaModule, MappingSuggestion

    client = client_for_admin()

    def get(url, params=None):
        return page_fetch(client, url, params)

    code = KaseyaModule.objects.icb_enabled().order_by("code").first().code
    pages = [
        (f"Map by Module Organization (baseline, {mapping_views.PAGE_SIZE} rows)",
         get("/kaseya/mapping/module-organizations/")),
        (f"Review suggestions, all ({review_views.REVIEW_PAGE_SIZE} rows)",
         get("/kaseya/mapping/review/")),
        ("Review suggestions, one module", get("/kaseya/mapping/review/", {"module": code})),
        ("Review suggestions, medium only", get("/kaseya/mapping/review/",
                                                {"confidence": "medium"})),
        ("Review suggestions, page 20", get("/kaseya/mapping/review/", {"page": 20})),
    ]  # fmt: skip
    medians = interleaved_medians([fetch for _, fetch in pages])
    baseline = medians[0]
    print_table(
        f"Review suggestions, {MappingSuggestion.objects.review().count():,} waiting "
        f"({connection.vendor}); median ms per page",
        ["page", "median ms", "× baseline"],
        [[name, ms, f"{ms / baseline:.2f}"] for (name, _), ms in zip(pages, medians, strict=True)],
    )


if __name__ == "__main__":
    main()
