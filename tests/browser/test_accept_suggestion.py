"""Accepting a stored suggestion in a real browser (Debian chromium, headless): one click maps the
row or cell in place, under the Content-Security-Policy."""

import re

import pytest
from playwright.sync_api import expect

from kaseya_modules.models import ModuleOrganization
from kaseya_modules.suggestion_store import refresh_module
from tests.conftest import make_user
from tests.kaseya_modules.mapping_support import ICB_GROUP, module_org, synced_module
from tests.organizations.factories import OrganizationFactory

from .test_content_security_policy import console, violations
from .test_map_another_organization import log_in

__all__ = ["console"]  # fixture used below

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def setup(live_server):
    make_user("browseraccept", groups=[ICB_GROUP])
    graphus = synced_module(name="Graphus", code="graphus_s")
    globex = OrganizationFactory(name="Globex")
    OrganizationFactory(name="Initech")
    drifted = module_org(graphus, "Globex Ltd")
    # The suggestion engine itself, on a name it recognises once "Ltd" is set aside.
    refresh_module(graphus)
    return {"graphus": graphus, "globex": globex, "drifted": drifted}


def test_accept_a_suggestion_on_a_module_organization_row(page, live_server, setup, console):
    log_in(page, live_server, "browseraccept")
    page.goto(f"{live_server.url}/kaseya/mapping/module-organizations/")
    row = page.locator(f"#row-{setup['drifted'].pk}")
    expect(row).to_contain_text("Suggested: Globex")
    url_before = page.url

    row.get_by_role("button", name="Accept Globex for Globex Ltd").click()

    row = page.locator(f"#row-{setup['drifted'].pk}")
    expect(row).to_have_class(re.compile(r"\brow-mapped\b"))
    expect(row.locator("a.mapped-to")).to_have_text("Globex")
    expect(row).not_to_contain_text("Suggested:")
    expect(page.locator("#count-module-organizations .count")).to_have_text("0")
    assert page.url == url_before  # swapped in place, no reload
    assert ModuleOrganization.objects.get(pk=setup["drifted"].pk).organization == setup["globex"]
    assert violations(console) == []


def test_accept_a_suggestion_in_a_map_by_organization_cell(page, live_server, setup, console):
    log_in(page, live_server, "browseraccept")
    page.goto(f"{live_server.url}/kaseya/mapping/organizations/")
    globex, graphus = setup["globex"], setup["graphus"]
    cell = page.locator(f"#cell-{globex.pk}-{graphus.code}")
    expect(cell).to_contain_text("Suggested: Globex Ltd")

    cell.get_by_role("button", name="Accept Globex Ltd for Globex in Graphus").click()

    cell = page.locator(f"#cell-{globex.pk}-{graphus.code}")
    expect(cell.locator("button", has_text="Clear")).to_be_visible()
    expect(cell.locator("input[data-picker-text]")).to_have_value("Globex Ltd")
    expect(cell).not_to_contain_text("Suggested:")
    assert ModuleOrganization.objects.get(pk=setup["drifted"].pk).organization == globex
    assert violations(console) == []


def test_accept_a_suggestion_on_the_mappings_page(page, live_server, setup, console):
    log_in(page, live_server, "browseraccept")
    page.goto(f"{live_server.url}/kaseya/organizations/{setup['globex'].pk}/mappings/")

    page.get_by_role("button", name="Accept Globex Ltd for Graphus").click()

    expect(page.locator(".message")).to_contain_text("Saved the mappings of Globex")
    expect(page.locator("#mapped-module-organizations")).to_contain_text("Globex Ltd")
    expect(page.locator("#module-mappings")).not_to_contain_text("Suggested:")
    assert ModuleOrganization.objects.get(pk=setup["drifted"].pk).organization == setup["globex"]
    assert violations(console) == []
