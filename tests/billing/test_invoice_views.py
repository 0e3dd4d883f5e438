"""The Invoices page, an invoice's page, and the panels billing adds to the organization page and
the Mappings page."""

import re

import pytest
from django.urls import reverse

from billing import services
from billing.models import Invoice, InvoiceStatus
from connectors.services import map_organization
from tests.organizations.factories import OrganizationFactory

from .factories import PERIOD, items_read, module_org, usage

pytestmark = pytest.mark.django_db

PERIOD_QUERY = {"period": f"{PERIOD:%Y-%m}"}


def invoices_page(client):
    return client.get(reverse("billing:invoices"), PERIOD_QUERY).content.decode()


def row_of(html, invoice):
    row = html[html.index(f'id="invoice-{invoice.pk}"') :]
    return row[: row.index("</tr>")]


@pytest.fixture
def priced(graphus, default_connector):
    services.set_price(graphus, "mailboxes", "2")
    services.set_price(graphus, "is_enabled", "10")
    mailboxes, enabled = items_read(default_connector, "Services:Mailboxes", "Services:Enabled")
    services.map_item(default_connector, graphus, "mailboxes", mailboxes)
    services.map_item(default_connector, graphus, "is_enabled", enabled)
    return graphus


def test_creating_invoices_from_the_page_makes_the_drafts(billing_client, priced, acme, acme_hq):
    usage(acme_hq, "mailboxes", 3)

    response = billing_client.post(reverse("billing:invoices_create"), PERIOD_QUERY, follow=True)

    assert "1 draft created" in response.content.decode()
    assert Invoice.objects.get().status == InvoiceStatus.DRAFT


def test_the_page_defaults_to_last_month(billing_client):
    html = billing_client.get(reverse("billing:invoices")).content.decode()

    assert f"Create invoices for {services.last_month():%B %Y}" in html


def test_approving_the_selected_drafts_leaves_the_others(billing_client, priced, acme, globex,
                                                         acme_hq):  # fmt: skip
    usage(acme_hq, "mailboxes", 3)
    usage(module_org(priced, "Globex", organization=globex), "mailboxes", 1)
    services.create_invoices(PERIOD)
    chosen = Invoice.objects.get(organization=acme)

    billing_client.post(
        reverse("billing:invoices_approve"), {**PERIOD_QUERY, "invoice": [chosen.pk]}
    )

    statuses = dict(Invoice.objects.values_list("organization__name", "status"))
    assert statuses == {"Acme Corporation": "approved", "Globex": "draft"}


def test_approve_all_approves_every_draft_of_the_period(billing_client, priced, acme, globex,
                                                        acme_hq):  # fmt: skip
    usage(acme_hq, "mailboxes", 3)
    usage(module_org(priced, "Globex", organization=globex), "mailboxes", 1)
    services.create_invoices(PERIOD)

    billing_client.post(reverse("billing:invoices_approve"), {**PERIOD_QUERY, "all": "1"})

    assert set(Invoice.objects.values_list("status", flat=True)) == {"approved"}


def test_approving_with_nothing_selected_says_so(billing_client, priced, acme, acme_hq):
    usage(acme_hq, "mailboxes", 3)
    services.create_invoices(PERIOD)

    response = billing_client.post(reverse("billing:invoices_approve"), PERIOD_QUERY, follow=True)

    assert "Select the drafts to approve" in response.content.decode()
    assert Invoice.objects.get().status == "draft"


def test_totals_are_shown_per_connector_each_with_only_its_organizations(
    billing_client, priced, acme, globex, acme_hq, other_connector
):
    map_organization(globex, other_connector)
    usage(acme_hq, "mailboxes", 3)
    usage(module_org(priced, "Globex", organization=globex), "mailboxes", 10)
    services.create_invoices(PERIOD)

    html = invoices_page(billing_client)

    totals = html[html.index('id="connector-totals"') :]
    totals = totals[: totals.index("</table>")]
    assert 'Main company file</a></td><td>1 invoice</td><td class="money">6.00' in totals
    assert 'Second company file</a></td><td>1 invoice</td><td class="money">20.00' in totals


def test_a_billing_type_with_no_item_on_the_organizations_connector_holds_the_invoice(
    billing_client, priced, acme, acme_hq, other_connector
):
    # given Acme goes to a connector whose items are not mapped
    map_organization(acme, other_connector)
    usage(acme_hq, "mailboxes", 3)
    services.create_invoices(PERIOD)
    invoice = Invoice.objects.get()

    row = row_of(invoices_page(billing_client), invoice)

    assert "Held back: map Graphus Mailboxes to a QuickBooks item on Second company file" in row
    assert reverse("billing:item_mapping", args=[other_connector.pk]) in row


def test_a_mapped_invoice_is_not_held(billing_client, priced, acme, acme_hq):
    usage(acme_hq, "mailboxes", 3)
    services.create_invoices(PERIOD)

    assert "Held back" not in row_of(invoices_page(billing_client), Invoice.objects.get())


def test_an_organization_remapped_after_approval_goes_where_it_goes_now_and_the_page_says_so(
    billing_client, priced, acme, acme_hq, other_connector
):
    usage(acme_hq, "mailboxes", 3)
    services.create_invoices(PERIOD, approve=True)
    map_organization(acme, other_connector)

    row = row_of(invoices_page(billing_client), Invoice.objects.get())

    assert "Second company file" in row
    assert "(was Main company file when approved)" in row


def test_a_sent_invoice_shows_the_connector_it_was_sent_to(
    billing_client, priced, acme, acme_hq, default_connector, other_connector
):
    usage(acme_hq, "mailboxes", 3)
    services.create_invoices(PERIOD, approve=True)
    Invoice.objects.update(status=InvoiceStatus.SENT, connector=default_connector)
    map_organization(acme, other_connector)

    row = row_of(invoices_page(billing_client), Invoice.objects.get())

    assert "Main company file" in row and "Second company file" not in row


def test_a_refused_invoice_shows_quickbooks_error_and_a_retry_button(
    billing_client, priced, acme, acme_hq, default_connector
):
    usage(acme_hq, "mailboxes", 3)
    services.create_invoices(PERIOD, approve=True)
    invoice = Invoice.objects.get()
    Invoice.objects.update(
        status=InvoiceStatus.FAILED,
        error_code=3140,
        error="There is an invalid reference to QuickBooks Customer",
        connector=default_connector,
    )

    row = row_of(invoices_page(billing_client), invoice)
    billing_client.post(reverse("billing:invoice_retry", args=[invoice.pk]))

    assert "QuickBooks error 3140: There is an invalid reference" in row
    assert reverse("billing:invoice_retry", args=[invoice.pk]) in row
    invoice.refresh_from_db()
    assert (invoice.status, invoice.connector) == ("approved", None)


def test_an_invoice_in_quickbooks_shows_its_txnid(billing_client, priced, acme, acme_hq):
    usage(acme_hq, "mailboxes", 3)
    services.create_invoices(PERIOD, approve=True)
    Invoice.objects.update(status=InvoiceStatus.IN_QUICKBOOKS, txn_id="1A2B-1234567890")

    row = row_of(invoices_page(billing_client), Invoice.objects.get())

    assert "In QuickBooks" in row and "1A2B-1234567890" in row


def test_an_unpriced_line_is_warned_about(billing_client, graphus, acme, acme_hq):
    usage(acme_hq, "mailboxes", 3)
    services.create_invoices(PERIOD)

    row = row_of(invoices_page(billing_client), Invoice.objects.get())

    assert "No price for Graphus Mailboxes: billed at 0" in row


def test_usage_that_bills_to_nobody_is_listed(billing_client, priced):
    usage(module_org(priced, "Stray Co"), "mailboxes", 7)

    html = invoices_page(billing_client)

    unbilled = html[html.index('id="unbilled"') :]
    assert "Stray Co" in unbilled and "not mapped" in unbilled and "Mailboxes: 7" in unbilled


def test_the_page_says_decreases_are_not_credited(billing_client):
    assert "Decreases are never credited automatically" in invoices_page(billing_client)


def _add_invoices(graphus, count, connectors):
    """`count` more organizations with usage (every third on the second connector); the run
    regenerates the drafts, then half of the drafts are approved and one of those refused."""
    for i in range(count):
        organization = OrganizationFactory()
        if i % 3 == 1:
            map_organization(organization, connectors[1])
        usage(module_org(graphus, f"Org {i}", organization=organization), "mailboxes", i + 1)
        usage(module_org(graphus, f"Org {i} b", organization=organization), "is_enabled", 1)
    services.create_invoices(PERIOD)
    drafts = list(Invoice.objects.filter(status=InvoiceStatus.DRAFT).order_by("pk"))
    approved = services.approve(drafts[: len(drafts) // 2]).approved
    Invoice.objects.filter(pk=approved[0].pk).update(status=InvoiceStatus.FAILED, error="x")


def test_the_invoices_page_takes_the_same_number_of_queries_at_5_and_50_invoices(
    billing_client, priced, default_connector, other_connector
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    connectors = [default_connector, other_connector]
    usage(module_org(priced, "Stray Co"), "mailboxes", 7)
    counts = []
    for more in (5, 45):
        _add_invoices(priced, more, connectors)
        with CaptureQueriesContext(connection) as queries:
            html = invoices_page(billing_client)
        counts.append(len(queries))
        assert len(re.findall(r'id="invoice-\d+"', html)) == Invoice.objects.count()

    assert Invoice.objects.count() == 50
    assert counts[0] == counts[1], counts


# --- An invoice's page ----------------------------------------------------------------------------


def test_the_invoice_page_shows_lines_and_the_history_of_states(
    billing_client, biller, priced, acme, acme_hq
):
    usage(acme_hq, "mailboxes", 3)
    services.create_invoices(PERIOD, biller)
    invoice = Invoice.objects.get()
    billing_client.post(reverse("billing:invoice_approve", args=[invoice.pk]))

    html = billing_client.get(reverse("billing:invoice", args=[invoice.pk])).content.decode()

    lines = html[html.index('id="invoice-lines"') :]
    assert "Graphus — Mailboxes: ACME HQ (3)" in lines and "6.00" in lines
    history = html[html.index('id="invoice-history"') :]
    assert "Created" in history and "Approved" in history and "biller" in history


def test_regenerating_a_draft_from_its_page(billing_client, priced, acme, acme_hq):
    usage(acme_hq, "mailboxes", 3)
    services.create_invoices(PERIOD)
    invoice = Invoice.objects.get()
    usage(acme_hq, "mailboxes", 5, PERIOD.replace(day=28))

    billing_client.post(reverse("billing:invoice_regenerate", args=[invoice.pk]))

    assert Invoice.objects.get().total == 10


# --- Panels on other pages ------------------------------------------------------------------------


def test_the_organization_page_shows_its_invoices_and_preview(billing_client, biller, priced,
                                                              acme, acme_hq):  # fmt: skip
    from django.contrib.auth.models import Permission

    biller.user_permissions.add(Permission.objects.get(codename="view_organization"))
    usage(acme_hq, "mailboxes", 3)
    services.create_invoices(PERIOD, approve=True)

    html = billing_client.get(reverse("organizations:detail", args=[acme.pk])).content.decode()

    panel = html[html.index('id="organization-invoices"') :]
    assert Invoice.objects.get().ref_number in panel
    assert 'id="billing-preview"' in html


def test_the_organization_tools_menu_offers_its_prices(billing_client, biller, acme):
    from django.contrib.auth.models import Permission

    biller.user_permissions.add(Permission.objects.get(codename="view_organization"))

    html = billing_client.get(reverse("organizations:detail", args=[acme.pk])).content.decode()

    assert reverse("billing:organization_prices", args=[acme.pk]) in html


def test_the_mappings_page_previews_this_months_bill_with_sites_rolled_up(client, graphus, acme,
                                                                          acme_hq):  # fmt: skip
    # given an ICB administrator (no billing permission) and a site below Acme's module org
    from django.utils import timezone

    from tests.conftest import make_user

    client.force_login(make_user("icb", groups=["Integrated Customer Billing administrators"]))
    today = timezone.localdate()
    usage(acme_hq, "mailboxes", 3, today)
    usage(module_org(graphus, "Front Desk", parent=acme_hq, kind="site"), "mailboxes", 2, today)
    usage(module_org(graphus, "Stray"), "mailboxes", 100, today)  # unmapped: not Acme's

    url = reverse("kaseya_modules:organization_mappings", args=[acme.pk])
    html = client.get(url).content.decode()

    preview = html[html.index('id="billing-preview"') :]
    assert "<td>Graphus</td><td>Mailboxes</td><td>5</td><td>2 module organizations</td>" in preview
    assert "Rate" not in preview  # prices are for billing administrators
