from django.core.management.base import BaseCommand
from django.db import transaction

from mapping_portal.lib.demo import seed_all


class Command(BaseCommand):
    help = "Create demo data (organizations, web connectors, mappings, Kaseya modules). Idempotent."

    def handle(self, *args, **options):
        with transaction.atomic():
            seed_all(self.stdout)
