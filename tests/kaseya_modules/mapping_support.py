"""Builders and fixtures shared by the mapping tests (test_mapping_*.py)."""

import itertools
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from kaseya_modules.models import ModuleOrganization, ModuleUsage
from organizations.models import OrganizationType
from tests.conftest import make_user
from tests.organizations.factories import OrganizationFactory

from .factories import KaseyaModuleFactory

PERM = "kaseya_modules.manage_icb"
ICB_GROUP = "Integrated Customer Billing administrators"
HTMX = {"HX-Request": "true"}
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


@pytest.fixture
def world(db):
    graphus = synced_module(name="Graphus", code="graphus_m")
    passly = synced_module(name="Passly", code="passly_m")
    acme = OrganizationFactory(name="Acme Corporation")
    globex = OrganizationFactory(name="Globex")
    dead = OrganizationFactory(name="Defunct Ltd", org_type=OrganizationType.DEAD)
    mo = module_org(graphus, "ACME Corp")
    return {"graphus": graphus, "passly": passly, "acme": acme, "globex": globex, "dead": dead,
            "mo": mo}  # fmt: skip


def row_post(client, mo, **data):
    data.setdefault("expected_organization", mo.organization_id or "")
    data.setdefault("expected_ignored", "true" if mo.ignored else "false")
    url = reverse("kaseya_modules:module_org_row", args=[mo.pk])
    return client.post(url, data, headers=HTMX).content.decode()
