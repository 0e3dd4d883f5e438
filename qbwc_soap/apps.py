from django.apps import AppConfig


class QbwcSoapConfig(AppConfig):
    name = "qbwc_soap"
    verbose_name = "QuickBooks Web Connector service"

    def ready(self):
        from . import logs, service  # noqa: F401 — service imports the spyne modules that log

        logs.install()
        from mapping_portal.lib.navigation import Link, connector_links

        connector_links.add(
            Link("Transfer log", "qbwc_soap:transfer_log", "connectors.configure_quickbooks")
        )
