"""Organization / Web Connector mappings as CSV: an export of where every billable organization
is sent, and a previewed import applied all-or-nothing through map/unmap_organization."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from connectors.models import MappingChange, OrganizationConnectorMapping
from organizations.models import OrganizationType
from tests.conftest import make_user
from tests.connectors.factories import MappingFactory, WebConnectorFactory
from tests.organizations.factories import OrganizationFactory
from tests.permission_matrix import check

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(default_connector, other_connector):
    mapped = OrganizationFactory(name="Mapped Co", autotask_id=201)
    MappingFactory(organization=mapped, connector=other_connector)
    plain = OrganizationFactory(name="+Plain Co", autotask_id=202)
    dead = OrganizationFactory(name="Gone Co", autotask_id=203, org_type=OrganizationType.DEAD)
    return {"mapped": mapped, "plain": plain, "dead": dead}


def _export(client):
    response = client.get(reverse("connectors:mapping_export"))
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode("utf-8-sig")


def _upload(client, text):
    return client.post(
        reverse("connectors:mapping_import"),
        {"file": SimpleUploadedFile("m.csv", text.encode(), content_type="text/csv")},
    )


def test_export_sends_every_billable_organization_somewhere(
    qb_client, world, default_connector, other_connector
):
    rows = list(csv.DictReader(io.StringIO(_export(qb_client))))
    by_id = {row["autotask_id"]: row for row in rows}
    assert set(by_id) == {"201", "202"}  # the Dead organization is never sent
    assert (by_id["201"]["connector"], by_id["201"]["mapping"]) == (other_connector.name, "mapped")
    assert (by_id["202"]["connector"], by_id["202"]["mapping"]) == (
        default_connector.name,
        "default",
    )
    assert by_id["202"]["organization"] == "'+Plain Co"


def test_unchanged_export_round_trips_to_no_change(qb_client, world):
    plan = _upload(qb_client, _export(qb_client)).context["plan"]
    assert plan.ok and plan.changes == [] and plan.unchanged == 2


def test_import_moves_organizations_after_a_preview(
    qb_client, world, default_connector, other_connector
):
    # given: Mapped Co back to the default, Plain Co to the other connector
    text = f"autotask_id,connector\n201,\n202,{other_connector.name.upper()}\n"
    preview = _upload(qb_client, text)
    plan = preview.context["plan"]
    assert [(c.line, c.after) for c in plan.changes] == [
        (2, f"{default_connector.name} (default)"),
        (3, other_connector.name),
    ]
    # when applied
    response = qb_client.post(
        reverse("connectors:mapping_import"),
        {"apply": "1", "token": preview.context["token"], "fingerprint": plan.fingerprint},
    )
    # then
    assert response.status_code == 302
    mapped = dict(
        OrganizationConnectorMapping.objects.values_list("organization__autotask_id", "connector")
    )
    assert mapped == {202: other_connector.pk}
    assert MappingChange.objects.count() == 2


def test_refused_rows_change_nothing(qb_client, world, other_connector):
    inactive = WebConnectorFactory(name="Old file", active=False)
    text = (
        "autotask_id,connector\n"
        f"202,{other_connector.name}\n"
        f"203,{other_connector.name}\n"  # Dead
        "202,Nowhere\n"
        f"201,{inactive.name}\n"
        "abc,\n"
    )
    plan = _upload(qb_client, text).context["plan"]
    assert [error.line for error in plan.refusals] == [3, 4, 5, 6]
    assert "cannot be mapped" in plan.refusals[0].message
    assert "also on line 2" in plan.refusals[1].message
    assert "inactive" in plan.refusals[2].message
    assert not OrganizationConnectorMapping.objects.filter(organization=world["plain"]).exists()


def test_connector_csv_pages_need_the_quickbooks_permission(client, world):
    urls = [reverse("connectors:mapping_export"), reverse("connectors:mapping_import")]
    for url in urls:
        check(client, "get", url, "login")
    client.force_login(make_user("nobody"))
    for url in urls:
        check(client, "get", url, 403)


def test_apply_changes_nothing_when_a_mapping_moved_since_the_preview(
    qb_client, world, default_connector, other_connector
):
    # given a preview that sends Plain Co to the other connector and Mapped Co back
    preview = _upload(qb_client, f"autotask_id,connector\n201,\n202,{other_connector.name}\n")
    plan = preview.context["plan"]
    assert len(plan.changes) == 2
    # and someone else removes Mapped Co's mapping meanwhile
    OrganizationConnectorMapping.objects.filter(organization=world["mapped"]).delete()
    # when the preview is applied
    response = qb_client.post(
        reverse("connectors:mapping_import"),
        {"apply": "1", "token": preview.context["token"], "fingerprint": plan.fingerprint},
    )
    # then nothing is applied and the page says why
    assert "Nothing was applied" in response.content.decode()
    assert not OrganizationConnectorMapping.objects.filter(organization=world["plain"]).exists()
