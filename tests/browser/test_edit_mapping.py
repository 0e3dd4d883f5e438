"""Edit on the Organization / Web Connector Mapping page, then Map Another Organization, in a
real browser without a reload (Edit used to replace #modal and break the page)."""

import pytest
from playwright.sync_api import expect

from connectors.models import OrganizationConnectorMapping
from tests.browser.test_map_another_organization import log_in
from tests.conftest import make_user
from tests.connectors.factories import MappingFactory, WebConnectorFactory
from tests.organizations.factories import OrganizationFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def setup(live_server):
    make_user("browserqb", groups=["QuickBooks administrators"])
    WebConnectorFactory(name="Main file", username="main")
    second = WebConnectorFactory(name="Second file", username="second")
    fourth = WebConnectorFactory(name="Fourth file", username="fourth")
    mapping = MappingFactory(connector=second, organization__name="Acme Corporation")
    OrganizationFactory(name="Globex")
    return {"second": second, "fourth": fourth, "mapping": mapping}


def test_edit_then_map_another_without_a_reload(page, live_server, setup):
    log_in(page, live_server, "browserqb")
    page.goto(f"{live_server.url}/quickbooks/mappings/")
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    # Edit: change the connector and save
    row = page.locator("#mappings tbody tr", has_text="Acme Corporation")
    row.get_by_role("button", name="Edit").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    dialog.locator("select[name=connector]").select_option(label="Fourth file")
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    expect(row).to_contain_text("Fourth file")
    expect(page.locator("#messages")).to_contain_text("Acme Corporation now goes to Fourth file")
    assert page.locator("#modal").count() == 1

    # Map Another Organization still opens its dialog and saves
    page.click("#map-another")
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    dialog.locator("#id_organization_search").press_sequentially("glob", delay=30)
    dialog.locator(".typeahead-results [data-value]", has_text="Globex").click()
    dialog.locator("select[name=connector]").select_option(label="Second file")
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    expect(page.locator("#mappings tbody tr", has_text="Globex")).to_contain_text("Second file")

    assert not [e for e in errors if "targetError" in e], errors
    assert dict(
        OrganizationConnectorMapping.objects.values_list("organization__name", "connector__name")
    ) == {"Acme Corporation": "Fourth file", "Globex": "Second file"}


def test_change_web_connector_from_the_organization_page(page, live_server, setup):
    log_in(page, live_server, "browserqb")
    mapping = setup["mapping"]
    page.goto(f"{live_server.url}/organizations/{mapping.organization_id}/")
    panel = page.locator("#connector-panel")
    panel.get_by_role("button", name="Change web connector").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    dialog.locator("select[name=connector]").select_option(label="Fourth file")
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    expect(page.locator("#connector-panel")).to_contain_text("Fourth file")
    assert page.locator("#modal").count() == 1
