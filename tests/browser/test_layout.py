"""The layout at the two widths the pages are checked at: 800 px (the navigation folds above the
page, nothing scrolls sideways) and 1400 px (menus and pickers stay on screen)."""

import pytest
from playwright.sync_api import expect

from tests.conftest import make_user
from tests.kaseya_modules.mapping_support import module_org, synced_module
from tests.organizations.factories import OrganizationFactory

from .test_map_another_organization import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = [
    "/",
    "/organizations/",
    "/quickbooks/connectors/",
    "/quickbooks/mappings/",
    "/kaseya/modules/",
    "/kaseya/mapping/organizations/",
    "/kaseya/mapping/module-organizations/",
]


@pytest.fixture
def world(live_server, default_connector, other_connector):
    make_user(
        "layout",
        groups=["QuickBooks administrators", "Integrated Customer Billing administrators"],
    )
    graphus = synced_module(name="Graphus", code="graphus_l")
    acme = OrganizationFactory(
        name="The Very Long Named Regional Medical Associates of Greater Springfield, P.C."
    )
    for index in range(3):
        module_org(
            graphus, f"THE Very Long Named Regional Medical Assoc. of Greater Springfield {index}"
        )
    module_org(graphus, "Mapped one", organization=acme)
    return {"acme": acme}


def test_at_800_px_no_page_scrolls_sideways_and_the_navigation_folds(page, live_server, world):
    page.set_viewport_size({"width": 800, "height": 900})
    log_in(page, live_server, "layout")
    for path in PAGES:
        page.goto(live_server.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 800, (path, width)
        # the navigation sits above the content, its sections folded until opened
        sidebar = page.locator("nav.sidebar").bounding_box()
        content = page.locator("main.content").bounding_box()
        assert sidebar["y"] + sidebar["height"] <= content["y"] + 1, path
        assert page.locator("nav.sidebar > details.nav-section[open]").count() == 0, path
    page.locator("nav.sidebar > details.nav-section > summary").first.click()
    expect(page.locator("nav.sidebar > details.nav-section").first).to_have_attribute("open", "")


def test_at_1400_px_the_tools_menu_stays_on_screen(page, live_server, world):
    page.set_viewport_size({"width": 1400, "height": 900})
    log_in(page, live_server, "layout")
    page.goto(f"{live_server.url}/organizations/{world['acme'].pk}/")
    page.locator("details.tools > summary").click()
    menu = page.locator("details.tools > ul").bounding_box()
    assert menu["x"] >= 0 and menu["x"] + menu["width"] <= 1400
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400


@pytest.mark.parametrize("width", [800, 1400])
def test_the_typeahead_in_a_dialog_is_not_clipped(page, live_server, world, width):
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, "layout")
    page.goto(f"{live_server.url}/quickbooks/mappings/")
    page.locator("#map-another").click()
    dialog = page.locator("dialog[open] article")
    dialog.locator("input[data-picker-text]").press_sequentially("very", delay=30)
    options = dialog.locator(".typeahead-results [data-value]")
    expect(options.first).to_be_visible()
    box, results = dialog.bounding_box(), dialog.locator(".typeahead-results").bounding_box()
    assert results["y"] + results["height"] <= box["y"] + box["height"] + 1
    # and the option under the list can still be picked
    options.first.click()
    expect(dialog.locator("input[data-picker-text]")).to_have_value(world["acme"].name)
