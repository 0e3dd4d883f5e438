"""Walks Map Another Organization in a real browser (Debian chromium, headless)."""

import re

import pytest
from playwright.sync_api import expect

from connectors.models import OrganizationConnectorMapping
from organizations.models import OrganizationType
from tests.conftest import make_user
from tests.connectors.factories import WebConnectorFactory
from tests.organizations.factories import OrganizationFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def setup(live_server):
    user = make_user("browserqb", groups=["QuickBooks administrators"])
    default = WebConnectorFactory(name="Main file", username="main")
    other = WebConnectorFactory(name="Second file", username="second")
    acme = OrganizationFactory(name="Acme Corporation")
    OrganizationFactory(name="Acme Defunct Ltd", org_type=OrganizationType.DEAD)
    OrganizationFactory(name="Acme Cancelled LLC", org_type=OrganizationType.CANCELATION)
    OrganizationFactory(name="Globex")
    return {"user": user, "default": default, "other": other, "acme": acme}


def log_in(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/login/"))


def open_dialog(page, live_server):
    page.goto(f"{live_server.url}/quickbooks/mappings/")
    page.click("#map-another")
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    return dialog


def test_map_another_organization_end_to_end(page, live_server, setup):
    log_in(page, live_server, "browserqb")
    dialog = open_dialog(page, live_server)

    # type part of a name: only billable organizations are offered
    dialog.locator("#id_organization_search").press_sequentially("acme", delay=30)
    options = dialog.locator(".typeahead-results [data-value]")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("Acme Corporation")

    options.first.click()
    expect(dialog.locator("#id_organization_search")).to_have_value("Acme Corporation")

    # only the active non-default connector is offered
    select = dialog.locator("select[name=connector]")
    offered = select.locator("option").all_inner_texts()
    assert "Second file" in offered and "Main file" not in offered
    select.select_option(label="Second file")

    url_before = page.url
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    row = page.locator("#mappings tbody tr", has_text="Acme Corporation")
    expect(row).to_contain_text("Second file")
    expect(page.locator("#messages")).to_contain_text("Acme Corporation now goes to Second file")
    assert page.url == url_before  # no full navigation
    assert OrganizationConnectorMapping.objects.get().organization == setup["acme"]


def test_browse_button_picks_an_organization(page, live_server, setup):
    log_in(page, live_server, "browserqb")
    dialog = open_dialog(page, live_server)
    dialog.get_by_role("button", name="Browse organizations").click()
    browse = dialog.locator("#browse-panel")
    expect(browse).to_be_visible()
    expect(browse).not_to_contain_text("Acme Defunct Ltd")
    expect(browse).not_to_contain_text("Acme Cancelled LLC")
    browse.locator("input[type=search]").press_sequentially("glob", delay=30)
    expect(browse.locator("tr[data-value]")).to_have_count(1)
    browse.locator("tr[data-value]", has_text="Globex").click()
    expect(dialog.locator("#id_organization_search")).to_have_value("Globex")


def test_refusals_are_shown_in_the_dialog(page, live_server, setup):
    log_in(page, live_server, "browserqb")
    dialog = open_dialog(page, live_server)
    # a typed name that was never picked from the list is not a choice
    dialog.locator("#id_organization_search").fill("Acme Defunct Ltd")
    dialog.locator("select[name=connector]").select_option(label="Second file")
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("dialog[open] #organization-errors")).to_contain_text(
        "Choose an organization from the list"
    )
    assert not OrganizationConnectorMapping.objects.exists()
