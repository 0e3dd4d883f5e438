from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from organizations.models import PsaSyncStatus, PsaSyncTrigger
from organizations.psa_sync import sync_now


class Command(BaseCommand):
    help = "Sync organizations from Autotask PSA now, in this process, and print what changed."

    def handle(self, *args, **options):
        try:
            run = sync_now(PsaSyncTrigger.MANUAL)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if run.status != PsaSyncStatus.SUCCEEDED:
            state = run.get_status_display()
            if run.in_progress:
                raise CommandError(f"Sync #{run.pk} is already {state.lower()} elsewhere.")
            raise CommandError(f"Sync #{run.pk} {state.lower()}: {run.error}")
        self.stdout.write(
            f"Organizations synced from Autotask: {run.created_count} created, "
            f"{run.updated_count} updated, {run.deactivated_count} deactivated, "
            f"{run.unchanged_count} unchanged ({run.companies_fetched} companies, "
            f"{run.pages_fetched} pages, {run.requests_made} requests)."
        )
