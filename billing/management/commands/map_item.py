from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from billing import services

from . import _lookup


class Command(BaseCommand):
    help = (
        "Invoice a module billing type as a QuickBooks item of one web connector's company "
        "file (the item must have been read from QuickBooks and be active)."
    )

    def add_arguments(self, parser):
        parser.add_argument("connector", help="Web connector name")
        parser.add_argument("module", help="Module code, e.g. graphus")
        parser.add_argument("billing_type", help="Billing type code, e.g. mailboxes")
        parser.add_argument("item", help='QuickBooks item full name, e.g. "Services:Mailboxes"')

    def handle(self, *args, connector, module, billing_type, item, **options):
        found_connector = _lookup.connector(connector)
        found_module = _lookup.module(module)
        try:
            services.validate_billing_type(found_module, billing_type)
            found_item = services.find_item(found_connector, item)
            services.map_item(found_connector, found_module, billing_type, found_item)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(
            f"{found_connector.name}: {found_module.name} {billing_type} → {found_item.full_name}"
        )
