"""Two admins editing the same organization's mapping: a save from a stale dialog is refused
with the current value, never applied over the other admin's change."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from connectors.models import MappingChange, OrganizationConnectorMapping
from connectors.services import map_organization, unmap_organization
from tests.connectors.factories import MappingFactory, WebConnectorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def mapping(other_connector):
    return MappingFactory(connector=other_connector, organization__name="Mapped Co")


def edit_dialog_fields(client, mapping):
    """The hidden value the Edit dialog is rendered with, as a browser would post it back."""
    page = client.get(reverse("connectors:mapping_edit", args=[mapping.pk])).content.decode()
    assert f'name="expected_connector" value="{mapping.connector_id}"' in page
    return {"expected_connector": mapping.connector_id}


def test_stale_edit_is_refused_naming_the_current_connector(qb_client, mapping):
    # given admin B opened the dialog, then admin A moved the organization to connector 2
    stale = edit_dialog_fields(qb_client, mapping)
    second, fourth = (
        WebConnectorFactory(name="Connector 2"),
        WebConnectorFactory(name="Connector 4"),
    )
    map_organization(mapping.organization, second, expected_connector=mapping.connector_id)
    # when B saves connector 4 from the stale dialog
    response = qb_client.post(
        reverse("connectors:mapping_edit", args=[mapping.pk]),
        {"connector": fourth.pk, **stale},
        headers={"HX-Request": "true"},
    )
    # then it is refused in the dialog, naming A's connector, and A's change stands
    assert response.status_code == 200
    body = response.content.decode()
    assert "Mapped Co was changed by someone else" in body
    assert "it is now mapped to Connector 2" in body
    assert f'name="expected_connector" value="{second.pk}"' in body
    mapping.refresh_from_db()
    assert mapping.connector == second


def test_edit_from_a_current_dialog_saves(qb_client, mapping):
    fields = edit_dialog_fields(qb_client, mapping)
    third = WebConnectorFactory()
    response = qb_client.post(
        reverse("connectors:mapping_edit", args=[mapping.pk]),
        {"connector": third.pk, **fields},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 204
    mapping.refresh_from_db()
    assert mapping.connector == third


def test_stale_remove_is_refused_naming_the_current_connector(qb_client, mapping):
    # given the list showed the mapping to other_connector, then someone moved it
    listed = mapping.connector_id
    page = qb_client.get(reverse("connectors:mapping_list")).content.decode()
    assert f'name="expected_connector" value="{listed}"' in page
    second = WebConnectorFactory(name="Connector 2")
    map_organization(mapping.organization, second)
    # when Remove is clicked on the stale row
    response = qb_client.post(
        reverse("connectors:mapping_remove", args=[mapping.pk]),
        {"expected_connector": listed},
        headers={"HX-Request": "true"},
    )
    # then nothing is removed, the list refreshes and says why
    assert response.status_code == 204
    assert "mappingsChanged" in response["HX-Trigger"]
    assert OrganizationConnectorMapping.objects.get().connector == second
    refreshed = qb_client.get(
        reverse("connectors:mapping_list"), headers={"HX-Request": "true"}
    ).content.decode()
    assert "it is now mapped to Connector 2" in refreshed


def test_service_refuses_a_stale_unmap(mapping):
    second = WebConnectorFactory(name="Connector 2")
    map_organization(mapping.organization, second)
    with pytest.raises(ValidationError, match="it is now mapped to Connector 2"):
        unmap_organization(mapping.organization, expected_connector=mapping.connector_id)
    assert not MappingChange.objects.filter(new_connector__is_default=True).exists()


def test_service_refuses_mapping_an_organization_someone_else_unmapped(mapping, default_connector):
    unmap_organization(mapping.organization)
    with pytest.raises(ValidationError, match="goes to the default web connector"):
        map_organization(
            mapping.organization, WebConnectorFactory(), expected_connector=mapping.connector
        )
    assert not OrganizationConnectorMapping.objects.exists()


def test_without_an_expected_connector_the_service_applies_the_change(mapping):
    third = WebConnectorFactory()
    map_organization(mapping.organization, third)
    assert unmap_organization(mapping.organization) is True
