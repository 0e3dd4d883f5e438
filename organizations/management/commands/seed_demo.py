from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction

from mapping_portal.lib.demo import seed_all

DEMO_ADMIN = ("admin", "admin-demo-password")


class Command(BaseCommand):
    help = (
        "Create demo data (organizations, web connectors, mappings, Kaseya modules) and a demo "
        "admin. Idempotent: running it twice duplicates nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-admin", action="store_true", help="Do not create the demo admin user."
        )

    def handle(self, *args, **options):
        with transaction.atomic():
            seed_all(self.stdout)
            if not options["no_admin"]:
                username, password = DEMO_ADMIN
                if not User.objects.filter(username=username).exists():
                    User.objects.create_superuser(username, "admin@example.com", password)
                self.stdout.write(self.style.SUCCESS(f"Demo admin login: {username} / {password}"))
