from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import pluralize

from billing import services


class Command(BaseCommand):
    help = (
        "Create (or regenerate) the draft invoices of a month from module usage; --approve "
        "approves every draft of the month afterwards. Approved invoices never change: a month "
        "run again only adds what is new."
    )

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, metavar="YYYY-MM")
        parser.add_argument("--approve", action="store_true")

    def handle(self, *args, period, approve, **options):
        try:
            summary = services.create_invoices(services.parse_period(period), approve=approve)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(str(summary))
        for refused in summary.refused:
            self.stdout.write(f"Not approved: {refused}")
        if summary.refused:
            raise CommandError(
                f"{len(summary.refused)} draft{pluralize(len(summary.refused))} could not be "
                "approved (see above)."
            )
