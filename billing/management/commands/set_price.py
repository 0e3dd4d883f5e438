from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from billing import services

from . import _lookup


class Command(BaseCommand):
    help = (
        "Set the unit price of a module billing type: the default, or one organization's own "
        "(--organization). AMOUNT 'none' removes an organization's own price."
    )

    def add_arguments(self, parser):
        parser.add_argument("module", help="Module code, e.g. graphus")
        parser.add_argument("billing_type", help="Billing type code, e.g. mailboxes")
        parser.add_argument("amount", help="Unit price, e.g. 3.50 (up to four decimals)")
        parser.add_argument("--organization", type=int, metavar="AUTOTASK_ID")

    def handle(self, *args, module, billing_type, amount, organization, **options):
        found = _lookup.module(module)
        org = _lookup.organization(organization) if organization is not None else None
        value = None if amount.strip().lower() == "none" else amount
        try:
            price = services.set_price(found, billing_type, value, organization=org)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        whose = f"{org.name}'s own price" if org else "default price"
        if price is None:
            self.stdout.write(
                f"{found.name} {billing_type}: {whose} removed (the default applies)."
            )
        else:
            self.stdout.write(
                f"{found.name} {billing_type}: {whose} is {price.amount.normalize():f}."
            )
