"""The Invoices page in a real browser: create last month's invoices, approve some, and see each
invoice's status."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from billing import services
from billing.models import Invoice
from tests.billing.factories import items_read, module_org, synced_module, usage
from tests.conftest import make_user
from tests.connectors.factories import WebConnectorFactory
from tests.organizations.factories import OrganizationFactory

from .test_content_security_policy import violations
from .test_map_another_organization import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def setup(live_server):
    make_user("browserbiller", groups=["Billing administrators"])
    connector = WebConnectorFactory(name="Main file", username="main")
    graphus = synced_module(
        name="Graphus",
        code="graphus_i",
        billing_types=[{"code": "mailboxes", "name": "Mailboxes", "unit": "count"}],
    )
    services.set_price(graphus, "mailboxes", "3")
    [item] = items_read(connector, "Services:Mailboxes")
    services.map_item(connector, graphus, "mailboxes", item)
    day = services.last_month() + timedelta(days=10)
    organizations = []
    for name, quantity in [("Acme Corporation", 10), ("Globex", 4)]:
        organization = OrganizationFactory(name=name)
        usage(module_org(graphus, name.upper(), organization=organization), "mailboxes",
              quantity, day)  # fmt: skip
        organizations.append(organization)
    return organizations


def test_create_then_approve_some_invoices_shows_their_statuses(page, live_server, setup):
    acme, globex = setup
    messages = []
    page.on("console", lambda msg: messages.append(f"{msg.type}: {msg.text}"))
    log_in(page, live_server, "browserbiller")
    page.goto(f"{live_server.url}/billing/invoices/")

    # when the admin creates last month's invoices
    page.locator("#create-invoices").click()

    # then both drafts are listed, with totals
    rows = page.locator("#invoice-list tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#messages")).to_contain_text("2 drafts created")
    acme_invoice = Invoice.objects.get(organization=acme)
    globex_invoice = Invoice.objects.get(organization=globex)
    expect(page.locator(f"#invoice-{acme_invoice.pk}")).to_contain_text("30.00")

    # when the admin approves Acme's only
    page.get_by_label("Select the draft of Acme Corporation").check()
    page.locator("#approve-selected").click()

    # then Acme's is approved with its number, Globex's still a draft
    acme_invoice.refresh_from_db()
    expect(page.locator("#messages")).to_contain_text("Approved 1 invoice:")
    acme_row = page.locator(f"#invoice-{acme_invoice.pk}")
    expect(acme_row).to_contain_text("Approved")
    expect(acme_row).to_contain_text(acme_invoice.ref_number)
    expect(page.locator(f"#invoice-{globex_invoice.pk}")).to_contain_text("Draft")
    expect(page.locator("#approve-all")).to_contain_text("Approve all 1 draft")
    assert not violations(messages)
