from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    name = "organizations"
    verbose_name = "Organizations"

    def ready(self):
        from mapping_portal.lib.navigation import Link, nav_links

        nav_links.add(
            Link("{term.plural}", "organizations:list", "organizations.view_organization", (), 10)
        )
        nav_links.add(
            Link(
                "Import from CSV",
                "organizations:import",
                "organizations.add_organization",
                ("Admin", "Admin Categories", "{term.plural}"),
                20,
            )
        )
        nav_links.add(
            Link(
                "Organizations from Autotask",
                "organizations:psa",
                "organizations.configure_psa",
                ("Admin", "Admin Categories", "Extensions & Integrations", "Autotask PSA"),
                10,
            )
        )
        nav_links.add(
            Link(
                "{term} term",
                "organizations:term",
                "organizations.change_organization_term",
                ("Admin", "Admin Categories", "{term.plural}"),
                10,
            )
        )
