from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from kaseya_modules import services
from kaseya_modules.models import KaseyaModule, SyncStatus, SyncTrigger


class Command(BaseCommand):
    help = (
        "Sync Kaseya modules now, in this process: every module with Integrated Customer Billing "
        "enabled, or the one named with --module."
    )

    def add_arguments(self, parser):
        parser.add_argument("--module", dest="code", help="Module code, e.g. graphus")

    def handle(self, *args, code=None, **options):
        if code:
            modules = list(KaseyaModule.objects.filter(code=code))
            if not modules:
                raise CommandError(f"No module {code!r}.")
        else:
            modules = list(KaseyaModule.objects.icb_enabled().exclude(source_kind=""))
            if not modules:
                self.stdout.write("No module has Integrated Customer Billing enabled.")
                return
        failed = 0
        for module in modules:
            try:
                run = services.sync_now(module, SyncTrigger.MANUAL)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
            if run.status == SyncStatus.SUCCEEDED:
                self.stdout.write(
                    f"{module.name}: {run.new_count} new, {run.updated_count} updated, "
                    f"{run.deactivated_count} deactivated, {run.unchanged_count} unchanged"
                )
            else:
                failed += 1
                self.stderr.write(f"{module.name}: {run.get_status_display()} {run.error}".strip())
        if failed:
            raise CommandError(f"{failed} module sync(s) did not succeed.")
