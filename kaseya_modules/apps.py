from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_catalog(sender, using="default", **kwargs):
    # After the data migration this normally finds nothing to do; it restores the catalog after a
    # `flush` (which transactional tests run) and adds modules a newer catalog.json brings.
    from .catalog import add_missing_modules
    from .models import KaseyaModule

    add_missing_modules(KaseyaModule, using)


class KaseyaModulesConfig(AppConfig):
    name = "kaseya_modules"
    verbose_name = "Kaseya modules"

    def ready(self):
        from mapping_portal.lib.navigation import Link, nav_links

        post_migrate.connect(ensure_catalog, sender=self, dispatch_uid="kaseya_modules_catalog")
        nav_links.add(
            Link(
                "Enable Integrated Customer Billing by Module",
                "kaseya_modules:modules",
                "kaseya_modules.manage_icb",
                ("Admin", "Admin Categories", "Extensions & Integrations", "Kaseya Modules"),
                10,
            )
        )
