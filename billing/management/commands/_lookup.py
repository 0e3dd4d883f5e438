"""Finding what the billing commands name, with a CommandError that lists what exists."""

from django.core.management.base import CommandError

from connectors.models import WebConnector
from kaseya_modules.models import KaseyaModule
from organizations.models import Organization


def module(code: str) -> KaseyaModule:
    found = KaseyaModule.objects.filter(code=code).first()
    if found is None:
        codes = ", ".join(KaseyaModule.objects.values_list("code", flat=True))
        raise CommandError(f"No module {code!r}. Known modules: {codes}")
    return found


def connector(name: str) -> WebConnector:
    found = WebConnector.objects.filter(name=name).first()
    if found is None:
        names = ", ".join(WebConnector.objects.values_list("name", flat=True)) or "none"
        raise CommandError(f"No web connector named {name!r}. Web connectors: {names}")
    return found


def organization(autotask_id: int) -> Organization:
    found = Organization.objects.filter(autotask_id=autotask_id).first()
    if found is None:
        raise CommandError(f"No organization with Autotask ID {autotask_id}.")
    return found
