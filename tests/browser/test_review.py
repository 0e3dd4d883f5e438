"""Review suggestions in a real browser (Debian chromium, headless): high rows come selected,
Accept selected maps the ticked rows, and the page fits 800 px without scrolling sideways.

With SCREENSHOT_DIR set, the page is also saved there at 1400 and 800 px wide."""

import os
import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from kaseya_modules.models import MappingSuggestion, ModuleOrganization
from tests.conftest import make_user
from tests.kaseya_modules.mapping_support import ICB_GROUP, module_org, synced_module, usage
from tests.organizations.factories import OrganizationFactory

from .test_map_another_organization import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROWS = [
    # module organization, suggested organization, confidence, score, reasons
    ("ACME Corp", "Acme Corporation", "high", 98, ["Same PSA id"]),
    ("Globex Inc", "Globex", "high", 93, ["Same name once Inc is set aside"]),
    ("Initech LLC (Main Street site)", "Initech", "high", 91, ["Parent maps to Initech"]),
    ("Umbrella Holdings", "Umbrella Corporation", "medium", 74,
     ["Names 74% alike; next best 52%"]),
    ("Hooli West", "Hooli", "low", 58, ["Names 58% alike, as alike as another organization's"]),
]  # fmt: skip


@pytest.fixture
def setup(live_server):
    make_user("browserreview", groups=[ICB_GROUP])
    graphus = synced_module(name="Graphus", code="graphus_rv")
    rows = {}
    for name, organization, confidence, score, reasons in ROWS:
        mo = module_org(graphus, name)
        usage(mo, "users", score // 4)
        MappingSuggestion.objects.create(
            module_organization=mo,
            module=graphus,
            rank=1,
            organization=OrganizationFactory(name=organization),
            score=score,
            confidence=confidence,
            reasons=reasons,
            computed_at=timezone.now(),
        )
        rows[name] = mo
    return rows


def screenshot(page, name):
    if os.environ.get("SCREENSHOT_DIR"):
        folder = Path(os.environ["SCREENSHOT_DIR"])
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_accept_the_selected_suggestions(page, live_server, setup):
    page.set_viewport_size({"width": 1400, "height": 900})
    log_in(page, live_server, "browserreview")
    page.goto(f"{live_server.url}/kaseya/mapping/organizations/")
    page.get_by_role("tab", name="Review suggestions").click()
    expect(page).to_have_url(re.compile(r"/kaseya/mapping/review/$"))

    boxes = page.locator("#review-suggestions input[name=ids]")
    expect(boxes).to_have_count(5)
    checked = page.locator("#review-suggestions input[name=ids]:checked")
    expect(checked).to_have_count(3)  # the three high ones
    screenshot(page, "review-1400")

    page.get_by_label("Accept Globex Inc → Globex").uncheck()
    page.get_by_role("button", name="Accept selected").click()

    expect(page.locator("#messages")).to_contain_text("Accepted 2 suggestions.")
    expect(boxes).to_have_count(3)
    expect(page.locator("#review-suggestions")).not_to_contain_text("ACME Corp")
    expect(page.locator("#review-suggestions")).to_contain_text("Globex Inc")
    mapped = dict(
        ModuleOrganization.objects.filter(organization__isnull=False).values_list(
            "name", "organization__name"
        )
    )
    assert mapped == {
        "ACME Corp": "Acme Corporation",
        "Initech LLC (Main Street site)": "Initech",
    }


def test_at_800_px_the_review_page_does_not_scroll_sideways(page, live_server, setup):
    page.set_viewport_size({"width": 800, "height": 900})
    log_in(page, live_server, "browserreview")
    page.goto(f"{live_server.url}/kaseya/mapping/review/")
    expect(page.locator("#review-suggestions input[name=ids]")).to_have_count(5)
    screenshot(page, "review-800")
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
