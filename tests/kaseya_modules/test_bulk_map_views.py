"""Map by Module Organization's bulk form: map or ignore a selection, all or nothing, with a
confirmation listing rows that already bill elsewhere before anything moves."""

import pytest
from django.urls import reverse

from kaseya_modules.models import ModuleMappingChange, ModuleOrganization

from .mapping_support import HTMX, icb_client, icb_user, module_org, row_post, world

__all__ = ["icb_client", "icb_user", "world"]  # fixtures used below

pytestmark = pytest.mark.django_db


def test_bulk_map_maps_the_selected_rows(icb_client, world):
    second = module_org(world["graphus"], "ACME Branch")
    data = {
        "ids": [world["mo"].pk, second.pk],
        "organization": world["acme"].pk,
        f"expected_organization-{second.pk}": "",
        f"expected_ignored-{second.pk}": "false",
    }
    html = icb_client.post(
        reverse("kaseya_modules:module_org_bulk"), data, headers=HTMX
    ).content.decode()
    assert "2 module organizations now bill to Acme Corporation" in html
    assert ModuleOrganization.objects.filter(organization=world["acme"]).count() == 2


def test_bulk_map_refuses_a_dead_organization(icb_client, world):
    data = {"ids": [world["mo"].pk], "organization": world["dead"].pk}
    html = icb_client.post(
        reverse("kaseya_modules:module_org_bulk"), data, headers=HTMX
    ).content.decode()
    assert "cannot receive bills" in html
    assert not ModuleOrganization.objects.filter(organization__isnull=False).exists()


def test_bulk_map_with_a_stale_row_reports_the_conflict(icb_client, world):
    mo = world["mo"]
    ModuleOrganization.objects.filter(pk=mo.pk).update(organization=world["globex"])
    data = {"ids": [mo.pk], "organization": world["acme"].pk,
            f"expected_organization-{mo.pk}": "", f"expected_ignored-{mo.pk}": "false"}  # fmt: skip
    html = icb_client.post(
        reverse("kaseya_modules:module_org_bulk"), data, headers=HTMX
    ).content.decode()
    assert "changed by someone else" in html
    assert ModuleOrganization.objects.get(pk=mo.pk).organization == world["globex"]


def _bulk(client, rows, **data):
    for mo in rows:
        data.setdefault("ids", []).append(mo.pk)
        data[f"expected_organization-{mo.pk}"] = mo.organization_id or ""
        data[f"expected_ignored-{mo.pk}"] = "true" if mo.ignored else "false"
    url = reverse("kaseya_modules:module_org_bulk")
    return client.post(url, data, headers=HTMX).content.decode()


def test_bulk_map_lists_rows_billing_elsewhere_before_anything_moves(icb_client, world):
    # given one row already billing to Globex and one unmapped
    elsewhere = module_org(world["graphus"], "Globex Site", organization=world["globex"])
    loose = world["mo"]
    # when both are bulk-mapped to Acme
    html = _bulk(icb_client, [elsewhere, loose], organization=world["acme"].pk)
    # then the confirmation names the row that would move, and nothing has changed
    assert 'id="bulk-confirm"' in html
    assert "Globex Site" in html and "bills to Globex" in html
    assert "it would bill to Acme Corporation instead" in html
    assert ModuleOrganization.objects.filter(organization=world["acme"]).count() == 0
    # when confirmed
    html = _bulk(icb_client, [elsewhere, loose], organization=world["acme"].pk, confirm="on")
    # then both move
    assert "2 module organizations now bill to Acme Corporation" in html
    assert ModuleOrganization.objects.filter(organization=world["acme"]).count() == 2


def test_bulk_map_of_unmapped_rows_needs_no_confirmation(icb_client, world):
    html = _bulk(icb_client, [world["mo"]], organization=world["acme"].pk)
    assert 'id="bulk-confirm"' not in html
    assert "1 module organization now bills to Acme Corporation" in html


def test_bulk_ignore_ignores_the_selection_and_history_undoes_it(icb_client, world, icb_user):
    second = module_org(world["graphus"], "Test tenant")
    html = _bulk(icb_client, [world["mo"], second], op="ignore")
    assert "2 module organizations are now ignored" in html
    assert ModuleOrganization.objects.filter(ignored=True).count() == 2
    assert ModuleMappingChange.objects.filter(action="ignore", changed_by=icb_user).count() == 2
    # un-ignoring a row brings it back to the yet-to-be-mapped list
    row_post(icb_client, ModuleOrganization.objects.get(pk=second.pk), op="unignore")
    assert not ModuleOrganization.objects.get(pk=second.pk).ignored


def test_map_by_module_organization_offers_select_all(icb_client, world):
    html = icb_client.get(reverse("kaseya_modules:map_by_module_organization")).content.decode()
    assert 'data-select-all="bulk-form"' in html
