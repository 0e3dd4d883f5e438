from django.apps import AppConfig
from django.db.models.signals import post_migrate

SECTION = ("Billing",)
BILLING_GROUP = "Billing administrators"
BILLING_GROUP_PERMISSIONS = [
    ("billing", "manage_billing"),
    ("organizations", "view_organization"),
]


def ensure_billing_group(sender, using="default", **kwargs):
    """The "Billing administrators" group carries the billing permission (and read access to
    organizations, which the price filter's picker needs). Runs after every migrate."""
    from mapping_portal.lib.groups import ensure_group

    ensure_group(BILLING_GROUP, BILLING_GROUP_PERMISSIONS, using)


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self):
        from mapping_portal.lib.navigation import (
            Link,
            Panel,
            add_organization_mapping_panel,
            add_organization_panel,
            connector_links,
            nav_links,
            organization_tools,
        )

        from .views import mapping_panel_context, organization_panel_context

        post_migrate.connect(ensure_billing_group, sender=self, dispatch_uid="billing_group")
        perm = "billing.manage_billing"
        nav_links.add(Link("Prices", "billing:prices", perm, SECTION, 10))
        nav_links.add(Link("Billing Item Mapping", "billing:item_mapping_home", perm, SECTION, 20))
        nav_links.add(Link("Invoices", "billing:invoices", perm, SECTION, 30))
        connector_links.add(Link("Billing Item Mapping", "billing:item_mapping", perm))
        # Dead and Cancelation organizations are never billed: no prices of their own.
        organization_tools.add(
            Link("Prices", "billing:organization_prices", perm, only_if="is_billable")
        )
        add_organization_panel(
            Panel("billing/_organization_panel.html", organization_panel_context, perm, 30)
        )
        # Quantities only: whoever may open the Mappings page sees what it bills.
        add_organization_mapping_panel(
            Panel("billing/_preview_panel.html", mapping_panel_context, None, 10)
        )
