from django.apps import AppConfig


class QbwcSoapConfig(AppConfig):
    name = "qbwc_soap"
    verbose_name = "QuickBooks Web Connector service"
