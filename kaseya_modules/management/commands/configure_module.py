from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from kaseya_modules import services
from kaseya_modules.models import KaseyaModule, SourceKind


class Command(BaseCommand):
    help = "Set a Kaseya module's source (and optionally enable Integrated Customer Billing)."

    def add_arguments(self, parser):
        parser.add_argument("code", help="Module code, e.g. graphus")
        parser.add_argument("--source", required=True, choices=SourceKind.values)
        parser.add_argument("--base-url", required=True)
        parser.add_argument("--token", default="", help="API token (blank keeps the stored one)")
        parser.add_argument(
            "--enable", action="store_true", help="Enable ICB (queues the first sync)"
        )

    def handle(self, *args, code, source, base_url, token, enable, **options):
        try:
            module = KaseyaModule.objects.get(code=code)
        except KaseyaModule.DoesNotExist:
            codes = ", ".join(KaseyaModule.objects.values_list("code", flat=True))
            raise CommandError(f"No module {code!r}. Known modules: {codes}") from None
        try:
            services.configure_source(
                module, source_kind=source, base_url=base_url, credentials=token
            )
            self.stdout.write(f"{module.name}: source {source} at {module.base_url}")
            if enable:
                run = services.enable_icb(module)
                if run is None:
                    self.stdout.write("Integrated Customer Billing was already enabled.")
                else:
                    self.stdout.write(
                        f"Integrated Customer Billing enabled; sync #{run.pk} queued."
                    )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
