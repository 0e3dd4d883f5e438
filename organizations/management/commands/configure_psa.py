from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from organizations.psa_sync import configure_psa


class Command(BaseCommand):
    help = "Set how to reach Autotask PSA, which organizations are synced from."

    def add_arguments(self, parser):
        parser.add_argument(
            "--base-url", required=True, help="e.g. https://webservices.autotask.net/ATServicesRest"
        )
        parser.add_argument("--username", required=True, help="The API user's username")
        parser.add_argument("--secret", default="", help="The API user's secret (blank keeps)")
        parser.add_argument(
            "--integration-code",
            default="",
            help="The API tracking identifier (blank keeps the stored one)",
        )

    def handle(self, *args, base_url, username, secret, integration_code, **options):
        try:
            psa = configure_psa(
                base_url=base_url,
                username=username,
                secret=secret,
                integration_code=integration_code,
            )
        except ValidationError as exc:
            problems = [
                f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items()
            ]
            raise CommandError("; ".join(problems)) from None
        self.stdout.write(
            f"Autotask PSA: {psa.base_url} as {psa.username} (secret {psa.masked_secret}, "
            f"integration code {psa.masked_integration_code})"
        )
