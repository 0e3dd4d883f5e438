from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from organizations.importing import MAX_IMPORT_BYTES, import_organizations


class Command(BaseCommand):
    help = (
        "Import organizations from a CSV file (columns: autotask_id, name, type, "
        "parent_autotask_id, active, address1, address2, city, state, postal_code, country, "
        "phone, email). All or nothing: any bad row means nothing is imported."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options):
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_IMPORT_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from None
        result = import_organizations(data)
        if not result.ok:
            for error in result.errors:
                self.stderr.write(str(error) if error.line else error.message)
            raise CommandError(
                f"Nothing was imported: {len(result.errors)} problem(s) in {path.name}."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {path.name}: {result.created} created, {result.updated} updated, "
                f"{result.unchanged} unchanged."
            )
        )
