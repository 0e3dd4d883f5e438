import pytest
from django.core.exceptions import ValidationError

from connectors.models import MappingChange, OrganizationConnectorMapping, WebConnector
from connectors.services import (
    connector_for,
    make_default,
    map_organization,
    organizations_for,
    unmap_organization,
)
from organizations.models import OrganizationType
from tests.connectors.factories import MappingFactory, WebConnectorFactory
from tests.organizations.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def test_unmapped_organization_goes_to_default_connector(default_connector, other_connector):
    org = OrganizationFactory()
    assert connector_for(org) == default_connector


def test_mapped_organization_goes_to_its_connector(default_connector, other_connector):
    org = OrganizationFactory()
    map_organization(org, other_connector)
    assert connector_for(org) == other_connector


def test_connector_for_is_none_when_no_connector_exists():
    assert connector_for(OrganizationFactory()) is None


def test_remapping_moves_organization_to_the_new_connector(default_connector, other_connector):
    third = WebConnectorFactory()
    org = OrganizationFactory()
    map_organization(org, other_connector)
    map_organization(org, third)
    assert connector_for(org) == third
    assert OrganizationConnectorMapping.objects.filter(organization=org).count() == 1
    assert org not in organizations_for(other_connector)
    assert org in organizations_for(third)


def test_unmapping_sends_organization_back_to_default(default_connector, other_connector):
    org = OrganizationFactory()
    map_organization(org, other_connector)
    assert unmap_organization(org) is True
    assert connector_for(org) == default_connector
    assert org in organizations_for(default_connector)
    assert unmap_organization(org) is False


def test_organizations_for_default_is_billable_unmapped_only(default_connector, other_connector):
    plain = OrganizationFactory()
    mapped = OrganizationFactory()
    dead = OrganizationFactory(org_type=OrganizationType.DEAD)
    canceled = OrganizationFactory(org_type=OrganizationType.CANCELATION)
    map_organization(mapped, other_connector)
    assert set(organizations_for(default_connector)) == {plain}
    assert set(organizations_for(other_connector)) == {mapped}
    assert dead not in organizations_for(default_connector)
    assert canceled not in organizations_for(default_connector)


def test_organization_that_becomes_dead_is_no_longer_sent(default_connector, other_connector):
    org = OrganizationFactory()
    map_organization(org, other_connector)
    org.org_type = OrganizationType.DEAD
    org.save()
    assert org not in organizations_for(other_connector)


def test_organizations_for_is_a_single_query(
    default_connector, other_connector, django_assert_num_queries
):
    OrganizationFactory.create_batch(5)
    MappingFactory.create_batch(3, connector=other_connector)
    with django_assert_num_queries(1):
        assert len(list(organizations_for(default_connector))) == 5
    with django_assert_num_queries(1):
        assert len(list(organizations_for(other_connector))) == 3


def test_mapping_to_the_default_connector_is_refused(default_connector, other_connector):
    org = OrganizationFactory()
    with pytest.raises(ValidationError, match="leave the organization unmapped"):
        map_organization(org, default_connector)
    assert not OrganizationConnectorMapping.objects.exists()


@pytest.mark.parametrize("org_type", [OrganizationType.DEAD, OrganizationType.CANCELATION])
def test_dead_and_cancelation_organizations_cannot_be_mapped(other_connector, org_type):
    org = OrganizationFactory(org_type=org_type)
    with pytest.raises(ValidationError, match="cannot be mapped"):
        map_organization(org, other_connector)
    assert not OrganizationConnectorMapping.objects.exists()


def test_mapping_to_an_inactive_connector_is_refused(default_connector):
    inactive = WebConnectorFactory(active=False)
    with pytest.raises(ValidationError, match="inactive"):
        map_organization(OrganizationFactory(), inactive)


def test_create_only_refuses_an_already_mapped_organization(default_connector, other_connector):
    org = OrganizationFactory()
    map_organization(org, other_connector)
    with pytest.raises(ValidationError, match="already mapped"):
        map_organization(org, WebConnectorFactory(), create_only=True)
    assert connector_for(org) == other_connector


def test_every_change_is_recorded_with_who_old_and_new(
    default_connector, other_connector, django_user_model
):
    user = django_user_model.objects.create_user("alice")
    org = OrganizationFactory()
    map_organization(org, other_connector, user)
    unmap_organization(org, user)
    first, second = MappingChange.objects.order_by("pk")
    assert (first.old_connector, first.new_connector, first.changed_by) == (
        default_connector,
        other_connector,
        user,
    )
    assert first.old_connector_name == "Main company file (default)"
    assert (second.old_connector, second.new_connector) == (other_connector, default_connector)


def test_saving_the_same_mapping_again_records_nothing(default_connector, other_connector):
    org = OrganizationFactory()
    map_organization(org, other_connector)
    map_organization(org, other_connector)
    assert MappingChange.objects.count() == 1


def test_changing_the_default_moves_unmapped_organizations(default_connector, other_connector):
    # given: two organizations follow the default, one is mapped to the new default
    followers = OrganizationFactory.create_batch(2)
    mapped_here = OrganizationFactory()
    map_organization(mapped_here, other_connector)
    # when
    moved = make_default(other_connector)
    # then
    assert moved == 2
    default_connector.refresh_from_db()
    other_connector.refresh_from_db()
    assert other_connector.is_default and not default_connector.is_default
    assert WebConnector.objects.default() == other_connector
    for org in [*followers, mapped_here]:
        assert connector_for(org) == other_connector
    # the mapping to the new default would now be an explicit mapping to the default
    assert not OrganizationConnectorMapping.objects.exists()
    assert set(organizations_for(default_connector)) == set()
    assert MappingChange.objects.filter(reason__contains="became the default").count() == 3


def test_inactive_connector_cannot_become_default(default_connector):
    inactive = WebConnectorFactory(active=False)
    with pytest.raises(ValidationError):
        make_default(inactive)
    assert WebConnector.objects.default() == default_connector


def test_default_connector_cannot_be_deleted(default_connector):
    with pytest.raises(ValidationError, match="default web connector and cannot be deleted"):
        default_connector.delete()
    assert WebConnector.objects.filter(pk=default_connector.pk).exists()


def test_connector_with_mappings_cannot_be_deleted_and_says_which(other_connector):
    MappingFactory(connector=other_connector, organization__name="Zeta Dental")
    with pytest.raises(ValidationError, match="Zeta Dental"):
        other_connector.delete()
    assert WebConnector.objects.filter(pk=other_connector.pk).exists()


def test_connector_without_mappings_can_be_deleted(other_connector):
    other_connector.delete()
    assert not WebConnector.objects.filter(pk=other_connector.pk).exists()


def test_organizations_for_can_be_chained_by_callers(default_connector, other_connector):
    # organizations_for is a plain queryset that views and reports filter, order and count.
    OrganizationFactory(name="Xylophone Ltd")
    OrganizationFactory(name="Banjo Inc.")
    map_organization(OrganizationFactory(name="Xenon GmbH"), other_connector)
    qs = organizations_for(default_connector).search("x").order_by("name")
    assert [org.name for org in qs] == ["Xylophone Ltd"]
    assert organizations_for(other_connector).search("x").count() == 1
