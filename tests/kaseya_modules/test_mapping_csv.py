"""Module organization mappings as CSV: export, a previewed import applied all-or-nothing through
the mapping services, refusals that change nothing, spreadsheet safety."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from kaseya_modules import mapping_csv
from kaseya_modules.models import ModuleMappingChange, ModuleOrganization
from mapping_portal.lib import csv_io
from organizations.models import OrganizationType
from tests.conftest import make_user
from tests.organizations.factories import OrganizationFactory
from tests.permission_matrix import check

from .mapping_support import icb_client, icb_user, module_org, synced_module

__all__ = ["icb_client", "icb_user"]

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    graphus = synced_module(name="Graphus", code="gcsv")
    acme = OrganizationFactory(name="Acme Corporation", autotask_id=101)
    globex = OrganizationFactory(name="Globex", autotask_id=102)
    dead = OrganizationFactory(name="Defunct Ltd", autotask_id=103, org_type=OrganizationType.DEAD)
    mapped = module_org(graphus, "ACME Corp", external_id="g-1", organization=acme)
    loose = module_org(graphus, '=HYPERLINK("http://evil")', external_id="g-2")
    return {"graphus": graphus, "acme": acme, "globex": globex, "dead": dead,
            "mapped": mapped, "loose": loose}  # fmt: skip


def _export(client) -> str:
    response = client.get(reverse("kaseya_modules:mapping_export"))
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode("utf-8-sig")


def _rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def _upload(client, text, name="mappings.csv"):
    return client.post(
        reverse("kaseya_modules:mapping_import"),
        {"file": SimpleUploadedFile(name, text.encode(), content_type="text/csv")},
    )


def _apply(client, response):
    plan = response.context["plan"]
    return client.post(
        reverse("kaseya_modules:mapping_import"),
        {"apply": "1", "token": response.context["token"], "fingerprint": plan.fingerprint},
    )


def test_export_lists_every_module_organization_with_what_it_bills_to(icb_client, world):
    rows = _rows(_export(icb_client))
    assert [row["external_id"] for row in rows] == ["g-2", "g-1"]
    acme_row = rows[1]
    assert (acme_row["module"], acme_row["autotask_id"], acme_row["organization"]) == (
        "gcsv",
        "101",
        "Acme Corporation",
    )
    assert (acme_row["status"], acme_row["ignored"]) == ("active", "no")


def test_export_neutralizes_cells_a_spreadsheet_would_run_as_formulas(icb_client, world):
    text = _export(icb_client)
    assert "'=HYPERLINK" in text
    assert not any(row["module_organization"].startswith("=") for row in _rows(text))


def test_round_trip_of_an_unchanged_export_changes_nothing(icb_client, world):
    response = _upload(icb_client, _export(icb_client))
    plan = response.context["plan"]
    assert plan.ok and plan.changes == [] and plan.unchanged == 2


def test_import_previews_then_applies_every_change_with_history(icb_client, world, icb_user):
    # given an export edited in a spreadsheet: g-2 now bills to Globex, g-1 is ignored
    rows = _rows(_export(icb_client))
    rows[0]["autotask_id"] = "102"
    rows[1]["autotask_id"], rows[1]["ignored"] = "", "yes"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=mapping_csv.HEADER)
    writer.writeheader()
    writer.writerows(rows)
    # when it is previewed
    preview = _upload(icb_client, out.getvalue())
    # then nothing has moved yet, and the preview names both changes
    plan = preview.context["plan"]
    assert [(c.line, c.after) for c in plan.changes] == [(2, "mapped to Globex"), (3, "ignored")]
    assert ModuleOrganization.objects.get(external_id="g-2").organization is None
    # when it is applied
    response = _apply(icb_client, preview)
    assert response.status_code == 302
    loose = ModuleOrganization.objects.get(external_id="g-2")
    mapped = ModuleOrganization.objects.get(external_id="g-1")
    assert loose.organization == world["globex"] and loose.name.startswith("=HYPERLINK")
    assert mapped.organization is None and mapped.ignored
    actions = set(ModuleMappingChange.objects.values_list("action", "changed_by"))
    assert actions == {("map", icb_user.pk), ("unmap", icb_user.pk), ("ignore", icb_user.pk)}


def test_a_file_with_a_refused_row_lists_every_refusal_and_offers_nothing_to_apply(
    icb_client, world
):
    text = (
        "module,external_id,autotask_id,ignored\n"
        "gcsv,g-2,102,no\n"
        "gcsv,g-1,103,no\n"  # Dead: refused by the services' own rule
        "gcsv,g-404,101,no\n"
        "nosuch,g-1,101,no\n"
        "gcsv,g-2,101,no\n"  # listed twice
        "gcsv,g-1,101,maybe\n"
    )
    response = _upload(icb_client, text)
    plan = response.context["plan"]
    messages = [str(error) for error in plan.refusals]
    assert [error.line for error in plan.refusals] == [3, 4, 5, 6, 7]
    assert "cannot receive bills" in messages[0]
    assert "g-404" in messages[1] and "nosuch" in messages[2] and "line 2" in messages[3]
    assert "token" not in response.context
    assert ModuleOrganization.objects.get(external_id="g-2").organization is None


def test_apply_refuses_when_the_mappings_changed_since_the_preview(icb_client, world):
    # given a preview that maps g-2 to Globex
    preview = _upload(icb_client, "module,external_id,autotask_id\ngcsv,g-2,102\ngcsv,g-1,\n")
    assert len(preview.context["plan"].changes) == 2
    # and someone else maps g-2 to Acme meanwhile
    ModuleOrganization.objects.filter(external_id="g-2").update(organization=world["acme"])
    # when the preview is applied
    response = _apply(icb_client, preview)
    # then nothing is applied (not even g-1's unmap) and the page says why
    assert response.status_code == 200
    assert "Nothing was applied" in response.content.decode()
    assert ModuleOrganization.objects.get(external_id="g-1").organization == world["acme"]
    assert ModuleOrganization.objects.get(external_id="g-2").organization == world["acme"]


def test_a_file_with_a_nul_byte_is_refused_with_its_line(icb_client, world):
    response = _upload(icb_client, "module,external_id,autotask_id\ngcsv,g-2\x00,102\n")
    assert [error.line for error in response.context["plan"].refusals] == [2]


def test_a_file_without_the_required_columns_is_refused(icb_client, world):
    response = _upload(icb_client, "module,name\ngraphus,x\n")
    assert "external_id" in str(response.context["plan"].refusals[0])


def test_an_expired_preview_asks_for_the_file_again(icb_client, world):
    response = icb_client.post(
        reverse("kaseya_modules:mapping_import"),
        {"apply": "1", "token": "gone", "fingerprint": "x"},
        follow=True,
    )
    assert "Upload the file again" in response.content.decode()


def test_mapping_csv_pages_need_the_icb_permission(client, world):
    urls = [reverse("kaseya_modules:mapping_export"), reverse("kaseya_modules:mapping_import")]
    for url in urls:
        check(client, "get", url, "login")
    client.force_login(make_user("nobody"))
    for url in urls:
        check(client, "get", url, 403)
        check(client, "post", url, 403)


def test_spreadsheet_safe_round_trips_through_read_rows():
    value = "-5 + 3"
    text = f"a\n{csv_io.spreadsheet_safe(value)}\n"
    assert csv_io.read_rows(text.encode(), ("a",)) == [(2, {"a": value})]


def test_a_file_over_the_default_body_limit_but_under_the_csv_cap_is_read(icb_client, world):
    # 2 MB: more than a form may post, less than the documented CSV cap
    padding = ",,\n" * (2 * 1024 * 1024 // 3)
    response = _upload(icb_client, "module,external_id,autotask_id\n" + padding)
    assert response.status_code == 200
    assert response.context["plan"].ok
