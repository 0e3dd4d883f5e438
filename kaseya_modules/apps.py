from django.apps import AppConfig
from django.db.models.signals import post_migrate

SECTION = ("Admin", "Admin Categories", "Extensions & Integrations", "Kaseya Modules")
ICB_GROUP = "Integrated Customer Billing administrators"
ICB_GROUP_PERMISSIONS = [
    ("kaseya_modules", "manage_icb"),
    ("organizations", "view_organization"),
]


def ensure_catalog(sender, using="default", **kwargs):
    # After the data migration this normally finds nothing to do; it restores the catalog after a
    # `flush` (which transactional tests run) and adds modules a newer catalog.json brings, and
    # the billing types it brings for modules still holding a list it replaced.
    from .catalog import add_missing_modules, update_replaced_billing_types
    from .models import KaseyaModule

    add_missing_modules(KaseyaModule, using)
    update_replaced_billing_types(KaseyaModule, using)


def ensure_icb_group(sender, using="default", **kwargs):
    """The "Integrated Customer Billing administrators" group carries the ICB permission and read
    access to organizations, which the organization pickers need. Runs after every migrate;
    idempotent."""
    from mapping_portal.lib.groups import ensure_group

    ensure_group(ICB_GROUP, ICB_GROUP_PERMISSIONS, using)


def queue_suggestion_refresh(sender, **kwargs):
    """Organizations changed (sent once per import or admin save, after commit): recompute the
    mapping suggestions in the background."""
    from .tasks import refresh_suggestions_task

    refresh_suggestions_task.delay()


class KaseyaModulesConfig(AppConfig):
    name = "kaseya_modules"
    verbose_name = "Kaseya modules"

    def ready(self):
        from mapping_portal.lib.navigation import (
            Link,
            Panel,
            add_home_panel,
            nav_links,
            organization_tools,
        )
        from organizations.signals import organizations_changed

        from .dashboard import home_panel_context

        organizations_changed.connect(
            queue_suggestion_refresh, dispatch_uid="kaseya_modules_suggestions"
        )
        post_migrate.connect(ensure_catalog, sender=self, dispatch_uid="kaseya_modules_catalog")
        post_migrate.connect(ensure_icb_group, sender=self, dispatch_uid="kaseya_modules_group")
        perm = "kaseya_modules.manage_icb"
        nav_links.add(
            Link("Enable Integrated Customer Billing by Module", "kaseya_modules:modules", perm,
                 SECTION, 10)
        )  # fmt: skip
        nav_links.add(
            Link("Kaseya Module Organization Mapping", "kaseya_modules:mapping", perm, SECTION, 20)
        )
        add_home_panel(Panel("kaseya_modules/_home_panel.html", home_panel_context, perm, 10))
        # Dead and Cancelation organizations cannot receive bills: nothing to manage there.
        organization_tools.add(
            Link("Manage Integrated Customer Billing", "kaseya_modules:organization_mappings", perm,
                 only_if="is_billable")
        )  # fmt: skip
