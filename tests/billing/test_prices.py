"""set_price and map_item: what they accept, refuse and record."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing import services
from billing.models import ItemCatalog, ItemMapping, Price, PriceChange
from organizations.models import OrganizationType
from tests.conftest import make_user
from tests.organizations.factories import OrganizationFactory

from .factories import QuickBooksItemFactory, items_read

pytestmark = pytest.mark.django_db


def test_setting_a_price_records_who_changed_it_from_what_to_what(graphus):
    user = make_user("pricer")
    services.set_price(graphus, "mailboxes", "2.5", user=user)

    services.set_price(graphus, "mailboxes", "3", user=user)

    changes = list(PriceChange.objects.order_by("pk").values_list("old_amount", "new_amount"))
    assert changes == [(None, Decimal("2.5")), (Decimal("2.5"), Decimal("3"))]
    assert PriceChange.objects.filter(changed_by=user).count() == 2


def test_setting_the_same_price_again_records_nothing(graphus):
    services.set_price(graphus, "mailboxes", "2.5")
    services.set_price(graphus, "mailboxes", "2.50")

    assert PriceChange.objects.count() == 1


def test_a_price_for_an_unknown_billing_type_is_refused(graphus):
    with pytest.raises(ValidationError, match="no billing type 'seats'"):
        services.set_price(graphus, "seats", "1")


@pytest.mark.parametrize("amount", ["-1", "abc", "1.00001", "NaN"])
def test_a_bad_amount_is_refused(graphus, amount):
    with pytest.raises(ValidationError):
        services.set_price(graphus, "mailboxes", amount)
    assert not Price.objects.exists()


def test_removing_an_organizations_own_price_brings_back_the_default(graphus, acme):
    services.set_price(graphus, "mailboxes", "2")
    services.set_price(graphus, "mailboxes", "1", organization=acme)

    services.set_price(graphus, "mailboxes", None, organization=acme)

    assert list(Price.objects.values_list("organization", flat=True)) == [None]
    assert PriceChange.objects.filter(organization=acme, new_amount__isnull=True).exists()


def test_the_default_price_cannot_be_removed(graphus):
    services.set_price(graphus, "mailboxes", "2")
    with pytest.raises(ValidationError):
        services.set_price(graphus, "mailboxes", None)


def test_an_organization_that_cannot_be_billed_gets_no_price(graphus):
    dead = OrganizationFactory(org_type=OrganizationType.DEAD)
    with pytest.raises(ValidationError):
        services.set_price(graphus, "mailboxes", "1", organization=dead)


def test_mapping_an_item_of_the_connector(graphus, default_connector):
    [item] = items_read(default_connector, "Services:Mailboxes")

    services.map_item(default_connector, graphus, "mailboxes", item)

    assert ItemMapping.objects.get().item == item


def test_an_item_of_another_connector_is_refused(graphus, default_connector, other_connector):
    [item] = items_read(other_connector, "Services:Mailboxes")
    with pytest.raises(ValidationError, match="another company file"):
        services.map_item(default_connector, graphus, "mailboxes", item)


def test_an_inactive_item_is_refused(graphus, default_connector):
    item = QuickBooksItemFactory(connector=default_connector, active=False)
    with pytest.raises(ValidationError, match="inactive"):
        services.map_item(default_connector, graphus, "mailboxes", item)


def test_mapping_again_replaces_the_item_and_none_removes_it(graphus, default_connector):
    first, second = items_read(default_connector, "A", "B")
    services.map_item(default_connector, graphus, "mailboxes", first)
    services.map_item(default_connector, graphus, "mailboxes", second)
    assert ItemMapping.objects.get().item == second

    services.map_item(default_connector, graphus, "mailboxes", None)

    assert not ItemMapping.objects.exists()


def test_asking_for_a_refresh_marks_the_catalog(default_connector):
    services.request_item_refresh(default_connector)

    assert ItemCatalog.objects.get(connector=default_connector).refresh_requested_at is not None


def test_an_item_is_found_by_its_full_name_in_any_case(default_connector):
    [item] = items_read(default_connector, "Services:Mailboxes")

    assert services.find_item(default_connector, "services:mailboxes") == item
    with pytest.raises(ValidationError):
        services.find_item(default_connector, "Services:Nothing")
