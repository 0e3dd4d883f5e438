"""Builders and fixtures shared by the mapping tests (test_mapping_*.py)."""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from kaseya_modules.models import ModuleOrganization, ModuleUsage
from tests.conftest import make_user

from .factories import KaseyaModuleFactory

PERM = "kaseya_modules.manage_icb"
ICB_GROUP = "Integrated Customer Billing administrators"
_external = itertools.count(1)


def synced_module(**kwargs):
    """An ICB-enabled module whose first sync has completed."""
    now = timezone.now()
    kwargs.setdefault("icb_enabled", True)
    kwargs.setdefault("first_sync_completed_at", now - timedelta(hours=1))
    kwargs.setdefault("last_sync_succeeded_at", now - timedelta(hours=1))
    return KaseyaModuleFactory(**kwargs)


def waiting_module(**kwargs):
    """ICB-enabled, first sync not yet done."""
    return KaseyaModuleFactory(icb_enabled=True, **kwargs)


def module_org(module, name, **kwargs):
    now = timezone.now()
    return ModuleOrganization.objects.create(
        module=module,
        external_id=kwargs.pop("external_id", f"ext-{next(_external)}"),
        name=name,
        first_seen_at=now,
        last_seen_at=now,
        **kwargs,
    )


def usage(module_org, billing_type, quantity, day=None):
    module = module_org.module
    if day is None:
        day = timezone.localdate(module.last_sync_succeeded_at or timezone.now())
    return ModuleUsage.objects.create(
        module_organization=module_org, billing_type=billing_type, day=day, quantity=quantity
    )


@pytest.fixture
def icb_user(db):
    return make_user("icbmapper", groups=[ICB_GROUP])


@pytest.fixture
def icb_client(client, icb_user):
    client.force_login(icb_user)
    return client
