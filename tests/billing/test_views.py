"""Every billing URL's permission matrix, and the Prices and Billing Item Mapping pages."""

import pytest
from django.test import Client
from django.urls import reverse

from billing import services
from billing.models import Invoice, InvoiceStatus, ItemCatalog, ItemMapping, Price
from tests.permission_matrix import check

from .conftest import HTMX
from .factories import PERIOD, items_read, usage

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(graphus, acme, acme_hq, default_connector):
    services.set_price(graphus, "mailboxes", "2")
    [item] = items_read(default_connector, "Services:Mailboxes")
    usage(acme_hq, "mailboxes", 4)
    services.create_invoices(PERIOD)
    draft = Invoice.objects.get()
    usage(acme_hq, "is_enabled", 1)
    approved = services.create_invoices(PERIOD, approve=True) and Invoice.objects.get()
    services.set_price(graphus, "is_enabled", "1")
    usage(acme_hq, "mailboxes", 6, PERIOD.replace(day=28))
    services.create_invoices(PERIOD)
    draft = Invoice.objects.get(status=InvoiceStatus.DRAFT)
    failed = approved
    Invoice.objects.filter(pk=failed.pk).update(status=InvoiceStatus.FAILED, error="No")
    return {"graphus": graphus, "acme": acme, "connector": default_connector, "item": item,
            "draft": draft, "failed": failed}  # fmt: skip


def urls(w):
    """(method, url, status when permitted, data)."""
    code, c, acme = w["graphus"].code, w["connector"].pk, w["acme"].pk
    period = {"period": f"{PERIOD:%Y-%m}"}
    return [
        ("get", reverse("billing:prices"), 200, None),
        ("get", reverse("billing:organization_prices", args=[acme]), 200, None),
        ("get", reverse("billing:price_edit", args=[code, "mailboxes"]), 200, None),
        ("post", reverse("billing:price_edit", args=[code, "mailboxes"]), 302, {"amount": "3"}),
        ("get", reverse("billing:organization_price_edit", args=[code, "mailboxes", acme]), 200,
         None),
        ("post", reverse("billing:organization_price_edit", args=[code, "mailboxes", acme]), 302,
         {"amount": "1"}),
        ("get", reverse("billing:item_mapping_home"), 302, None),
        ("get", reverse("billing:item_mapping", args=[c]), 200, None),
        ("post", reverse("billing:item_map", args=[c, code, "mailboxes"]), 302,
         {"item": w["item"].pk}),
        ("post", reverse("billing:item_refresh", args=[c]), 302, None),
        ("get", reverse("billing:invoices"), 200, period),
        ("post", reverse("billing:invoices_create"), 302, period),
        ("post", reverse("billing:invoices_approve"), 302, {**period, "all": "1"}),
        ("get", reverse("billing:invoice", args=[w["draft"].pk]), 200, None),
        ("post", reverse("billing:invoice_regenerate", args=[w["draft"].pk]), 302, None),
        ("post", reverse("billing:invoice_approve", args=[w["draft"].pk]), 302, None),
        ("post", reverse("billing:invoice_retry", args=[w["failed"].pk]), 302, None),
    ]  # fmt: skip


@pytest.mark.parametrize("htmx", [False, True])
def test_anonymous_users_are_sent_to_login(client, world, htmx):
    for method, url, _, data in urls(world):
        check(client, method, url, "login", data=data, htmx=htmx)


@pytest.mark.parametrize("htmx", [False, True])
def test_users_without_the_billing_permission_get_403(plain_client, viewer_client, world, htmx):
    for method, url, _, data in urls(world):
        check(plain_client, method, url, 403, data=data, htmx=htmx)
        check(viewer_client, method, url, 403, data=data, htmx=htmx)


def test_billing_administrators_get_in(billing_client, world):
    for method, url, status, data in urls(world):
        check(billing_client, method, url, status, data=data)


def test_htmx_endpoints_answer_billing_administrators_with_a_partial(billing_client, world):
    code, c = world["graphus"].code, world["connector"].pk
    for method, url, data in [
        ("get", reverse("billing:price_edit", args=[code, "mailboxes"]), None),
        ("post", reverse("billing:price_edit", args=[code, "mailboxes"]), {"amount": "3"}),
        ("post", reverse("billing:item_map", args=[c, code, "mailboxes"]), {"item": ""}),
        ("get", reverse("billing:invoices"), {"period": "2026-10"}),
    ]:
        response = check(billing_client, method, url, 200, data=data, htmx=True)
        assert b"<html" not in response.content


def test_forms_require_a_csrf_token(biller, world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(biller)
    response = client.post(reverse("billing:invoices_create"), {"period": "2026-10"})
    assert response.status_code == 403


# --- Prices -------------------------------------------------------------------------------------


def test_prices_list_every_enabled_modules_billing_types_with_the_default(billing_client, graphus):
    services.set_price(graphus, "mailboxes", "2.5")

    html = billing_client.get(reverse("billing:prices")).content.decode()

    row = html[html.index('id="price-graphus_b-mailboxes"') :]
    assert "2.5" in row[: row.index("</tr>")]
    assert 'id="price-graphus_b-is_enabled"' in html
    assert "No price" in html


def test_editing_a_price_in_place_saves_it_and_returns_the_row(billing_client, graphus):
    url = reverse("billing:price_edit", args=[graphus.code, "mailboxes"])

    form = billing_client.get(url, headers=HTMX).content.decode()
    row = billing_client.post(url, {"amount": "4.25"}, headers=HTMX).content.decode()

    assert 'name="amount"' in form
    assert row.lstrip().startswith("<tr") and "4.25" in row and 'name="amount"' not in row
    assert Price.objects.get().amount == 4.25


def test_a_negative_price_is_shown_on_the_row(billing_client, graphus):
    url = reverse("billing:price_edit", args=[graphus.code, "mailboxes"])

    row = billing_client.post(url, {"amount": "-1"}, headers=HTMX).content.decode()

    assert 'role="alert"' in row
    assert not Price.objects.exists()


def test_an_organizations_prices_page_edits_its_own_price(billing_client, graphus, acme):
    url = reverse("billing:organization_price_edit", args=[graphus.code, "mailboxes", acme.pk])

    billing_client.post(url, {"amount": "1.5"}, headers=HTMX)
    html = billing_client.get(reverse("billing:organization_prices", args=[acme.pk])).content
    billing_client.post(url, {"amount": ""}, headers=HTMX)  # blank: back to the default

    assert b"<strong>1.50</strong>" in html
    assert not Price.objects.filter(organization=acme).exists()


def test_the_price_history_says_who_changed_what(billing_client, biller, graphus):
    url = reverse("billing:price_edit", args=[graphus.code, "mailboxes"])
    billing_client.post(url, {"amount": "2"})
    billing_client.post(url, {"amount": "3"})

    html = billing_client.get(reverse("billing:prices")).content.decode()

    history = html[html.index('id="price-history"') :]
    assert "biller" in history and "Mailboxes" in history
    assert "2.00 → 3.00" in history and "— → 2.00" in history


def test_the_prices_page_takes_constant_queries(
    billing_client, graphus, acme, django_assert_max_num_queries
):
    for i in range(5):
        services.set_price(graphus, "mailboxes", str(i + 1))
    with django_assert_max_num_queries(12):
        billing_client.get(reverse("billing:prices"), {"organization": acme.pk})


# --- Billing Item Mapping -------------------------------------------------------------------------


def test_item_mapping_says_when_the_list_was_never_read(billing_client, graphus, default_connector):
    html = billing_client.get(reverse("billing:item_mapping", args=[default_connector.pk]))

    assert b"never been read from QuickBooks" in html.content
    assert b'id="no-items"' in html.content


def test_item_mapping_offers_the_connectors_active_items_grouped_by_kind(
    billing_client, graphus, default_connector, other_connector
):
    items_read(default_connector, "Services:Mailboxes")
    items_read(other_connector, "Elsewhere")

    html = billing_client.get(reverse("billing:item_mapping", args=[default_connector.pk]))

    assert b'<optgroup label="Service">' in html.content
    assert b"Services:Mailboxes" in html.content and b"Elsewhere" not in html.content
    assert b"Items last read from QuickBooks" in html.content


def test_choosing_an_item_saves_the_mapping(billing_client, graphus, default_connector):
    [item] = items_read(default_connector, "Services:Mailboxes")
    url = reverse("billing:item_map", args=[default_connector.pk, graphus.code, "mailboxes"])

    row = billing_client.post(url, {"item": item.pk}, headers=HTMX).content.decode()

    assert ItemMapping.objects.get().item == item
    assert "Saved" in row and "selected" in row


def test_an_item_of_another_connector_is_refused_on_the_row(
    billing_client, graphus, default_connector, other_connector
):
    [item] = items_read(other_connector, "Elsewhere")
    url = reverse("billing:item_map", args=[default_connector.pk, graphus.code, "mailboxes"])

    row = billing_client.post(url, {"item": item.pk}, headers=HTMX).content.decode()

    assert "another company file" in row
    assert not ItemMapping.objects.exists()


def test_refresh_asks_the_next_conversation_to_read_the_items(billing_client, default_connector):
    billing_client.post(reverse("billing:item_refresh", args=[default_connector.pk]))

    catalog = ItemCatalog.objects.get(connector=default_connector)
    assert catalog.refresh_requested_at is not None
    html = billing_client.get(reverse("billing:item_mapping", args=[default_connector.pk]))
    assert b'id="refresh-pending"' in html.content


def test_the_connector_page_links_to_its_billing_item_mapping(
    billing_client, biller, default_connector
):
    from django.contrib.auth.models import Group

    biller.groups.add(Group.objects.get(name="QuickBooks administrators"))

    html = billing_client.get(reverse("connectors:detail", args=[default_connector.pk]))

    assert reverse("billing:item_mapping", args=[default_connector.pk]).encode() in html.content


def test_the_navigation_has_a_billing_group(billing_client):
    html = billing_client.get(reverse("billing:prices")).content.decode()

    nav = html[html.index('class="sidebar"') : html.index("</nav>")]
    assert "<summary>Billing</summary>" in nav
    for name in ["billing:prices", "billing:item_mapping_home", "billing:invoices"]:
        assert reverse(name) in nav


def test_billing_item_mapping_without_any_connector_says_to_add_one(billing_client):
    html = billing_client.get(reverse("billing:item_mapping_home")).content

    assert b"no QuickBooks Web Connector yet" in html


def test_item_mapping_takes_the_same_number_of_queries_however_many_items(
    billing_client, graphus, default_connector
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = reverse("billing:item_mapping", args=[default_connector.pk])
    counts = []
    for names in (["A", "B"], [f"Item {i}" for i in range(40)]):
        for item in items_read(default_connector, *names):
            services.map_item(default_connector, graphus, "mailboxes", item)
        with CaptureQueriesContext(connection) as queries:
            billing_client.get(url)
        counts.append(len(queries))

    assert counts[0] == counts[1]
