"""The Kaseya side of the home dashboard: per ICB-enabled module, how far mapping has come."""

from django.db.models import Count, OuterRef, Q, Subquery

from . import mapping_reads
from .models import (
    Confidence,
    KaseyaModule,
    MappingSuggestion,
    ModuleOrganization,
    SyncRun,
    SyncStatus,
)


def module_progress() -> list[dict]:
    """One row per ICB-enabled module: active module organizations mapped, ignored and yet to
    be mapped, how many the latest successful sync found new, and the suggestions waiting for
    review (high confidence and other; four queries in all)."""
    last_new = SyncRun.objects.filter(module=OuterRef("pk"), status=SyncStatus.SUCCEEDED).order_by(
        "-finished_at", "-pk"
    )
    modules = list(
        KaseyaModule.objects.icb_enabled()
        .annotate(new_in_last_sync=Subquery(last_new.values("new_count")[:1]))
        .order_by("name", "pk")
    )
    counts = {
        row["module_id"]: row
        for row in ModuleOrganization.objects.filter(module__in=modules, active=True)
        .values("module_id")
        .annotate(
            total=Count("pk"),
            mapped=Count("pk", filter=Q(organization__isnull=False)),
            ignored=Count("pk", filter=Q(ignored=True)),
        )
        .order_by()
    }
    waiting = {
        row["module_id"]: row
        for row in MappingSuggestion.objects.review()
        .filter(module__in=modules)
        .values("module_id")
        .annotate(total=Count("pk"), high=Count("pk", filter=Q(confidence=Confidence.HIGH)))
        .order_by()
    }
    rows = []
    for module in modules:
        row = counts.get(module.pk, {"total": 0, "mapped": 0, "ignored": 0})
        suggestions = waiting.get(module.pk, {"total": 0, "high": 0})
        rows.append(
            {
                "module": module,
                "waiting": module.waiting_for_first_sync,
                "total": row["total"],
                "mapped": row["mapped"],
                "ignored": row["ignored"],
                "unmapped": row["total"] - row["mapped"] - row["ignored"],
                "new_in_last_sync": module.new_in_last_sync or 0,
                "suggestions_high": suggestions["high"],
                "suggestions_other": suggestions["total"] - suggestions["high"],
            }
        )
    return rows


def home_panel_context(request):
    modules = list(KaseyaModule.objects.icb_enabled())
    return {
        "modules": module_progress(),
        "organizations_unmapped": mapping_reads.organizations_with_unmapped_modules(
            modules
        ).count(),
    }
