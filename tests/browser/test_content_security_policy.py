"""The main pages under the Content-Security-Policy in a real browser: no violation reported in
the console, and the htmx dialog, typeahead and picker still work.

With SCREENSHOT_DIR set, each page is also saved there as a 1400 px wide screenshot."""

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from tests.conftest import make_user
from tests.connectors.factories import MappingFactory, WebConnectorFactory
from tests.kaseya_modules.mapping_support import module_org, synced_module
from tests.organizations.factories import OrganizationFactory

from .test_map_another_organization import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIOLATION_WORDS = ("Content Security Policy", "Refused to", "EvalError", "evalDisallowed")


@pytest.fixture
def setup(live_server):
    user = make_user("browserboss")
    User.objects.filter(pk=user.pk).update(is_staff=True, is_superuser=True)
    WebConnectorFactory(name="Main file", username="main")
    second = WebConnectorFactory(name="Second file", username="second")
    acme = OrganizationFactory(name="Acme Corporation")
    OrganizationFactory(name="Globex")
    MappingFactory(connector=second, organization=acme)
    graphus = synced_module(name="Graphus", code="graphus_c")
    module_org(graphus, "ACME Holdings")
    return {"acme": acme, "second": second, "graphus": graphus}


@pytest.fixture
def console(page):
    messages = []
    page.on("console", lambda msg: messages.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda exc: messages.append(f"pageerror: {exc}"))
    return messages


def violations(messages):
    return [m for m in messages if any(word in m for word in VIOLATION_WORDS)]


def visit(page, live_server, path, name):
    response = page.goto(f"{live_server.url}{path}")
    assert response.ok, (path, response.status)
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    if os.environ.get("SCREENSHOT_DIR"):
        folder = Path(os.environ["SCREENSHOT_DIR"])
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_main_pages_report_no_policy_violation(page, live_server, setup, console):
    page.set_viewport_size({"width": 1400, "height": 900})
    visit(page, live_server, "/login/", "login")
    log_in(page, live_server, "browserboss")
    acme, second = setup["acme"], setup["second"]
    for path, name in [
        ("/organizations/", "organizations"),
        (f"/organizations/{acme.pk}/", "organization"),
        ("/quickbooks/connectors/", "connectors"),
        (f"/quickbooks/connectors/{second.pk}/", "connector"),
        ("/kaseya/mapping/organizations/", "kaseya-mapping"),
        ("/django-admin/", "admin"),
    ]:
        visit(page, live_server, path, name)
    visit(page, live_server, "/quickbooks/mappings/", "mappings")
    assert not violations(console), console


def test_dialog_and_typeahead_work_under_the_policy(page, live_server, setup, console):
    page.set_viewport_size({"width": 1400, "height": 900})
    log_in(page, live_server, "browserboss")
    page.goto(f"{live_server.url}/quickbooks/mappings/")
    page.click("#map-another")
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    dialog.locator("#id_organization_search").press_sequentially("glob", delay=30)
    expect(dialog.locator(".typeahead-results [data-value]")).to_have_count(1)
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(path=str(Path(os.environ["SCREENSHOT_DIR"]) / "mapping-dialog.png"))
    assert not violations(console), console


def test_confirm_before_a_new_password_is_generated(page, live_server, setup, console):
    # the confirmation moved from onclick= to portal.js: dismissing it keeps the password
    log_in(page, live_server, "browserboss")
    second = setup["second"]
    before = second.password
    page.goto(f"{live_server.url}/quickbooks/connectors/{second.pk}/")
    asked = []
    page.on("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    page.get_by_role("button", name="Generate a new password").click()
    page.wait_for_timeout(300)
    assert asked and "Generate a new password?" in asked[0]
    second.refresh_from_db()
    assert second.password == before
    assert not violations(console), console
