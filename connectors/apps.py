from django.apps import AppConfig

QB_SECTION = ("Admin", "Admin Categories", "Extensions & Integrations", "QuickBooks Extension")


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "QuickBooks web connectors"

    def ready(self):
        from django.db.models.signals import post_migrate

        post_migrate.connect(ensure_quickbooks_group, sender=self)
        from mapping_portal.lib.navigation import (
            Link,
            Panel,
            add_home_panel,
            add_organization_panel,
            nav_links,
            organization_tools,
        )

        perm = "connectors.configure_quickbooks"
        nav_links.add(Link("Web Connectors", "connectors:list", perm, QB_SECTION, 10))
        nav_links.add(
            Link(
                "{term} / Web Connector Mapping",
                "connectors:mapping_list",
                perm,
                QB_SECTION,
                20,
            )
        )
        organization_tools.add(
            Link("QuickBooks Web Connector", "connectors:organization_mapping", perm)
        )
        from .views import home_panel_context, organization_panel_context

        add_organization_panel(
            Panel("connectors/_organization_panel.html", organization_panel_context, perm, 10)
        )
        add_home_panel(Panel("connectors/_home_panel.html", home_panel_context, perm, 20))


QB_GROUP = "QuickBooks administrators"
QB_GROUP_PERMISSIONS = [
    ("connectors", "configure_quickbooks"),
    ("organizations", "view_organization"),
]


def ensure_quickbooks_group(sender, using="default", **kwargs):
    """The "QuickBooks administrators" group carries the QuickBooks Extension permission (and
    read access to organizations, which its pickers need). Runs after every migrate; idempotent."""
    from mapping_portal.lib.groups import ensure_group

    ensure_group(QB_GROUP, QB_GROUP_PERMISSIONS, using)
