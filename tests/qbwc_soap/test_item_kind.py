"""The item request kind against the real database and the QuickBooks simulator: each connector
learns its own company file's items, and an item QuickBooks stops listing becomes inactive."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import ItemCatalog, QuickBooksItem
from qbwc_soap import items, qbxml

from .simulator import QuickBooks, validate

pytestmark = pytest.mark.django_db


def _refresh(connector, quickbooks, now=None):
    """One message with the three item queries, answered and applied."""
    builder = qbxml.RequestBuilder()
    items.add_requests(builder, lambda kind: f"items-{kind}")
    text = builder.tostring()
    validate(text)
    responses = qbxml.parse_response(quickbooks.answer(text))
    by_kind = {rs.request_id.removeprefix("items-"): rs for rs in responses}
    return items.apply(connector, by_kind, now or timezone.now())


def _items(connector):
    return {
        item.full_name: (item.kind, item.active, item.description)
        for item in QuickBooksItem.objects.filter(connector=connector)
    }


def test_a_connector_whose_items_were_never_read_is_due(default_connector):
    assert items.due(default_connector) is True


def test_items_read_recently_are_not_due_until_the_refresh_interval_passes(
    default_connector, settings
):
    settings.QBWC_ITEM_REFRESH_HOURS = 6
    now = timezone.now()
    _refresh(default_connector, QuickBooks(), now)
    assert items.due(default_connector, now + timedelta(hours=5)) is False
    assert items.due(default_connector, now + timedelta(hours=6, seconds=1)) is True


def test_a_requested_refresh_makes_items_due_and_is_cleared_by_the_read(default_connector):
    _refresh(default_connector, QuickBooks())
    ItemCatalog.objects.filter(connector=default_connector).update(
        refresh_requested_at=timezone.now()
    )
    assert items.due(default_connector) is True
    _refresh(default_connector, QuickBooks())
    catalog = ItemCatalog.objects.get(connector=default_connector)
    assert catalog.refresh_requested_at is None and catalog.refreshed_at is not None
    assert items.due(default_connector) is False


def test_the_three_item_kinds_are_stored_with_kind_state_and_description(default_connector):
    quickbooks = QuickBooks()
    quickbooks.add_item("Managed:Users", "service", description="Per user and month")
    quickbooks.add_item(
        "Backup licence", "noninventory", description="Sold", sales_and_purchase=True
    )
    quickbooks.add_item("Onboarding", "othercharge", active=False)
    result = _refresh(default_connector, quickbooks)
    assert result == {"listed": 3, "deactivated": 0, "refreshed": True}
    assert _items(default_connector) == {
        "Managed:Users": ("service", True, "Per user and month"),
        "Backup licence": ("noninventory", True, "Sold"),
        "Onboarding": ("othercharge", False, ""),
    }


def test_items_changed_in_quickbooks_are_updated_and_those_gone_become_inactive(
    default_connector,
):
    # given
    quickbooks = QuickBooks()
    renamed = quickbooks.add_item("Old name", "service")
    gone = quickbooks.add_item("Gone", "service")
    quickbooks.add_item("Fee", "othercharge")
    _refresh(default_connector, quickbooks)
    kept_pk = QuickBooksItem.objects.get(list_id=renamed["ListID"]).pk
    # when: renamed, one deleted, every other-charge item deleted (QuickBooks answers status 1)
    renamed["FullName"] = "New name"
    del quickbooks.items[gone["ListID"]]
    quickbooks.items = {k: v for k, v in quickbooks.items.items() if v["kind"] != "othercharge"}
    result = _refresh(default_connector, quickbooks)
    # then: the same row, renamed; nothing deleted
    assert result["deactivated"] == 2
    assert QuickBooksItem.objects.get(pk=kept_pk).full_name == "New name"
    assert _items(default_connector) == {
        "New name": ("service", True, ""),
        "Gone": ("service", False, ""),
        "Fee": ("othercharge", False, ""),
    }


def test_a_kind_quickbooks_refused_keeps_its_items_and_leaves_the_catalog_due(default_connector):
    quickbooks = QuickBooks()
    quickbooks.add_item("Fee", "othercharge")
    quickbooks.add_item("Users", "service")
    _refresh(default_connector, quickbooks, timezone.now() - timedelta(days=2))
    quickbooks.item_query_status["othercharge"] = 3250
    del quickbooks.items[next(iter(quickbooks.items))]  # gone, but QuickBooks cannot say so
    result = _refresh(default_connector, quickbooks)
    assert result["refreshed"] is False
    assert _items(default_connector)["Fee"] == ("othercharge", True, "")
    assert items.due(default_connector) is True


def test_each_connector_keeps_the_items_of_its_own_company_file(default_connector, other_connector):
    main, second = QuickBooks("Main"), QuickBooks("Second")
    main.add_item("Main service", "service")
    second.add_item("Second service", "service")
    _refresh(default_connector, main)
    _refresh(other_connector, second)
    # a second read of one file leaves the other connector's items alone
    _refresh(default_connector, main)
    assert set(_items(default_connector)) == {"Main service"}
    assert _items(other_connector) == {"Second service": ("service", True, "")}
