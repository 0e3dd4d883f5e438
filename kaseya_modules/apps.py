from django.apps import AppConfig


class KaseyaModulesConfig(AppConfig):
    name = "kaseya_modules"
    verbose_name = "Kaseya modules"
