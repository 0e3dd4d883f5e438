import csv
import json

from django.core.management.base import BaseCommand, CommandError

from kaseya_modules.models import KaseyaModule, MappingSuggestion, ModuleOrganization
from kaseya_modules.suggestion_store import ensure_computed
from mapping_portal.lib.csv_io import spreadsheet_safe

FORMATS = ("json", "csv", "table")
CSV_HEADER = [
    "module", "external_id", "name", "rank", "autotask_id", "organization", "score",
    "confidence", "reasons",
]  # fmt: skip


class Command(BaseCommand):
    help = (
        "Print the stored mapping suggestions of every active, unmapped, not-ignored module "
        "organization (of one module, or of every module with Integrated Customer Billing "
        "enabled); computes them first for a module that has none stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("--module", dest="code", help="Module code, e.g. graphus")
        parser.add_argument("--format", dest="output", choices=FORMATS, default="table")

    def handle(self, *args, code=None, output="table", **options):
        if code:
            modules = list(KaseyaModule.objects.filter(code=code))
            if not modules:
                raise CommandError(f"No module {code!r}.")
        else:
            modules = list(KaseyaModule.objects.icb_enabled().order_by("code"))
        for module in modules:
            ensure_computed(module)
        items = list(collect(modules))
        if output == "json":
            self.stdout.write(json.dumps(items, ensure_ascii=False, indent=2))
        elif output == "csv":
            writer = csv.writer(self.stdout, lineterminator="\n")
            writer.writerow(CSV_HEADER)
            for item in items:
                for rank, s in enumerate(item["suggestions"], start=1):
                    writer.writerow(
                        spreadsheet_safe(value)
                        for value in (
                            item["module"], item["external_id"], item["name"], rank,
                            s["autotask_id"], s["organization"], s["score"], s["confidence"],
                            "; ".join(s["reasons"]),
                        )
                    )  # fmt: skip
        else:
            self.write_table(items)

    def write_table(self, items):
        rows = [("MODULE", "MODULE ORGANIZATION", "#", "ORGANIZATION", "SCORE", "CONFIDENCE",
                 "REASONS")]  # fmt: skip
        for item in items:
            label = f"{item['name']} [{item['external_id']}]"
            if not item["suggestions"]:
                rows.append((item["module"], label, "", "(no suggestion)", "", "", ""))
            for rank, s in enumerate(item["suggestions"], start=1):
                rows.append(
                    (
                        item["module"] if rank == 1 else "",
                        label if rank == 1 else "",
                        str(rank),
                        f"{s['organization']} ({s['autotask_id']})",
                        str(s["score"]),
                        s["confidence"],
                        "; ".join(s["reasons"]),
                    )
                )
        widths = [min(max(len(row[i]) for row in rows), 60) for i in range(6)]
        for row in rows:
            cells = [row[i][:60].ljust(widths[i]) for i in range(6)]
            self.stdout.write("  ".join([*cells, row[6]]).rstrip())


def collect(modules):
    """One dict per active, unmapped, not-ignored module organization of `modules`, in the shape
    other tooling relies on: {"module", "external_id", "name", "suggestions": [{"autotask_id",
    "organization", "score", "confidence", "reasons"}]}, best first."""
    for module in modules:
        stored: dict[int, list] = {}
        for s in (
            MappingSuggestion.objects.filter(module=module)
            .select_related("organization")
            .order_by("module_organization", "rank")
            .iterator(chunk_size=2000)
        ):
            stored.setdefault(s.module_organization_id, []).append(
                {
                    "autotask_id": s.organization.autotask_id,
                    "organization": s.organization.name,
                    "score": s.score,
                    "confidence": s.confidence,
                    "reasons": list(s.reasons),
                }
            )
        for pk, external_id, name in (
            ModuleOrganization.objects.filter(
                module=module, active=True, organization__isnull=True, ignored=False
            )
            .order_by("name", "pk")
            .values_list("pk", "external_id", "name")
            .iterator(chunk_size=2000)
        ):
            yield {
                "module": module.code,
                "external_id": external_id,
                "name": name,
                "suggestions": stored.get(pk, []),
            }
