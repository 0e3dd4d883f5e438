"""Walks Kaseya Module Organization Mapping in a real browser (Debian chromium, headless): the
four flows of issue 5's "Done when"."""

import re

import pytest
from playwright.sync_api import expect

from kaseya_modules.models import ModuleOrganization, OrganizationModuleIgnore
from organizations.models import OrganizationType
from tests.conftest import make_user
from tests.kaseya_modules.mapping_support import ICB_GROUP, module_org, synced_module
from tests.organizations.factories import OrganizationFactory

from .test_map_another_organization import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def setup(live_server):
    make_user("browsericb", groups=[ICB_GROUP])
    graphus = synced_module(name="Graphus", code="graphus_b")
    passly = synced_module(name="Passly", code="passly_b")
    acme = OrganizationFactory(name="Acme Corporation")
    OrganizationFactory(name="Acme Defunct Ltd", org_type=OrganizationType.DEAD)
    globex = OrganizationFactory(name="Globex")
    parent = module_org(graphus, "ACME Holdings")
    sites = [
        module_org(graphus, "ACME Site North", parent=parent, kind="site"),
        module_org(graphus, "ACME Site South", parent=parent, kind="site"),
    ]
    passly_acme = module_org(passly, "Acme Corp (Passly)")
    return {"graphus": graphus, "passly": passly, "acme": acme, "globex": globex,
            "parent": parent, "sites": sites, "passly_acme": passly_acme}  # fmt: skip


def test_map_a_module_organization_in_a_cell_and_see_it_after_a_reload(page, live_server, setup):
    log_in(page, live_server, "browsericb")
    page.goto(f"{live_server.url}/kaseya/mapping/")
    expect(page).to_have_url(re.compile(r"/kaseya/mapping/organizations/$"))
    acme, graphus = setup["acme"], setup["graphus"]
    cell = page.locator(f"#cell-{acme.pk}-{graphus.code}")
    url_before = page.url

    cell.locator("input[data-picker-text]").press_sequentially("holdings", delay=30)
    option = cell.locator(".typeahead-results [data-value]")
    expect(option).to_have_count(1)
    option.click()

    cell = page.locator(f"#cell-{acme.pk}-{graphus.code}")
    expect(cell.locator("button", has_text="Clear")).to_be_visible()  # the saved cell came back
    assert page.url == url_before
    assert ModuleOrganization.objects.get(pk=setup["parent"].pk).organization_id == acme.pk
    page.reload()
    expect(page.locator(f"#cell-{acme.pk}-{graphus.code} input[data-picker-text]")).to_have_value(
        "ACME Holdings"
    )


def test_reorder_columns_and_see_the_order_kept_after_a_reload(page, live_server, setup):
    log_in(page, live_server, "browsericb")
    page.goto(f"{live_server.url}/kaseya/mapping/organizations/")
    headers = page.locator("#by-organization thead th[data-code]")
    expect(headers).to_have_text(["Graphus", "Passly"])
    url_before = page.url

    page.locator("#column-chooser summary").click()
    page.get_by_role("button", name="Move Passly left").click()

    expect(headers).to_have_text(["Passly", "Graphus"])
    assert page.url == url_before
    page.reload()
    expect(page.locator("#by-organization thead th[data-code]")).to_have_text(["Passly", "Graphus"])


def test_bulk_map_two_sub_organizations_to_one_organization(page, live_server, setup):
    log_in(page, live_server, "browsericb")
    page.goto(f"{live_server.url}/kaseya/mapping/organizations/")
    page.get_by_role("tab", name="Map by Module Organization").click()
    expect(page).to_have_url(re.compile(r"/kaseya/mapping/module-organizations/$"))
    table = page.locator("#by-module-organization")
    expect(table).to_contain_text("ACME Site North")

    for site in setup["sites"]:
        page.locator(f"#row-{site.pk} input[name=ids]").check()
    picker = page.locator("#bulk-form")
    picker.locator("#bulk-organization").press_sequentially("acme", delay=30)
    options = picker.locator(".typeahead-results [data-value]")
    expect(options).to_have_count(1)  # the Dead organization is never offered
    options.first.click()
    page.locator("#bulk-map").click()

    expect(page.locator("#messages")).to_contain_text(
        "2 module organizations now bill to Acme Corporation"
    )
    for site in setup["sites"]:
        # a mapped row shows its organization as text, with a Change action
        expect(page.locator(f"#row-{site.pk} .mapped-to")).to_have_text("Acme Corporation")
    mapped = ModuleOrganization.objects.filter(organization=setup["acme"])
    assert set(mapped) == set(setup["sites"])


def test_manage_icb_from_the_organization_page(page, live_server, setup):
    acme = setup["acme"]
    log_in(page, live_server, "browsericb")
    page.goto(f"{live_server.url}/organizations/{acme.pk}/")
    page.locator("details.tools summary").click()
    page.get_by_role("link", name="Manage Integrated Customer Billing").click()
    expect(page).to_have_title(re.compile(r"^Mappings - Acme Corporation"))
    counts = page.locator("#counts")
    expect(counts.locator("#count-organizations .count")).to_have_text("2")
    expect(page.locator("#own-unmapped")).to_contain_text("2 modules yet to be mapped")

    row = page.locator("#module-graphus_b")
    row.locator("input[data-picker-text]").press_sequentially("north", delay=30)
    row.locator(".typeahead-results [data-value]").first.click()
    page.locator("#module-passly_b").get_by_label("Ignore Passly").check()
    page.get_by_role("button", name="Save").click()

    expect(page.locator("#messages")).to_contain_text("Saved the mappings of Acme Corporation")
    expect(page.locator("#own-unmapped")).to_contain_text("No module is yet to be mapped")
    expect(page.locator("#counts #count-organizations .count")).to_have_text("1")
    expect(page.locator("#counts [data-module-count=graphus_b]")).to_have_text("2")
    expect(page.locator("#history")).to_contain_text("Mapped ACME Site North")
    expect(page.locator("#history")).to_contain_text("Ignored the module")
    assert ModuleOrganization.objects.get(pk=setup["sites"][0].pk).organization == acme
    assert OrganizationModuleIgnore.objects.filter(organization=acme, module=setup["passly"])
