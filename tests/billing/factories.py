"""Builders for the billing tests: a synced module, module organizations with a month of usage,
QuickBooks items as a connector's ItemQuery would have stored them."""

import itertools
from datetime import date, timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from billing.models import ItemCatalog, QuickBooksItem
from kaseya_modules.models import ModuleOrganization, ModuleUsage
from tests.kaseya_modules.factories import KaseyaModuleFactory

PERIOD = date(2026, 10, 1)
_external = itertools.count(1)


def synced_module(**kwargs):
    now = timezone.now()
    kwargs.setdefault("icb_enabled", True)
    kwargs.setdefault("first_sync_completed_at", now - timedelta(days=40))
    kwargs.setdefault("last_sync_succeeded_at", now - timedelta(hours=1))
    return KaseyaModuleFactory(**kwargs)


def module_org(module, name, **kwargs):
    now = timezone.now()
    return ModuleOrganization.objects.create(
        module=module,
        external_id=kwargs.pop("external_id", f"bill-{next(_external)}"),
        name=name,
        first_seen_at=now,
        last_seen_at=now,
        **kwargs,
    )


def usage(module_org, billing_type, quantity, day=None):
    return ModuleUsage.objects.create(
        module_organization=module_org,
        billing_type=billing_type,
        day=day or PERIOD + timedelta(days=14),
        quantity=Decimal(str(quantity)),
    )


class QuickBooksItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QuickBooksItem

    list_id = factory.Sequence(lambda n: f"80000{n:03d}-1234567890")
    full_name = factory.Sequence(lambda n: f"Services:Item {n}")
    kind = QuickBooksItem.Kind.SERVICE


def items_read(connector, *names):
    """The connector's item list as an ItemQuery stored it: one active service item per name."""
    ItemCatalog.objects.update_or_create(
        connector=connector, defaults={"refreshed_at": timezone.now()}
    )
    return [QuickBooksItemFactory(connector=connector, full_name=name) for name in names]
