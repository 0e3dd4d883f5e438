"""Accepting a stored suggestion in one click, in every picker: the Map by Module Organization
rows, the Map by Organization cells and an organization's Mappings page. Accept posts the form
the page rendered, so these tests read the form from the page and post what a browser would."""

import lxml.html
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kaseya_modules.models import (
    MappingAction,
    MappingSuggestion,
    ModuleMappingChange,
    ModuleOrganization,
    OrganizationModuleIgnore,
)
from kaseya_modules.suggestion_store import refresh_module
from organizations.models import OrganizationType
from tests.organizations.factories import OrganizationFactory

from .mapping_support import icb_client, icb_user, module_org, synced_module

__all__ = ["icb_client", "icb_user"]  # fixtures used below

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
BY_MODULE_ORG = reverse("kaseya_modules:map_by_module_organization")
BY_ORG = reverse("kaseya_modules:map_by_organization")


@pytest.fixture
def world(db):
    graphus = synced_module(name="Graphus", code="graphus_a")
    acme = OrganizationFactory(name="Acme Corporation")
    globex = OrganizationFactory(name="Globex")
    mo = module_org(graphus, "ACME Corp HQ")
    return {"graphus": graphus, "acme": acme, "globex": globex, "mo": mo}


def suggest(mo, organization, score=92, confidence="high", reasons=("Same name",)):
    return MappingSuggestion.objects.create(
        module_organization=mo,
        module=mo.module,
        rank=1,
        organization=organization,
        score=score,
        confidence=confidence,
        reasons=list(reasons),
        computed_at=timezone.now(),
    )


def accept_button(html, label):
    buttons = lxml.html.fromstring(html).xpath(f'//button[@aria-label="{label}"]')
    return buttons[0] if buttons else None


def accept_form(html, label):
    """(action, data) that clicking the Accept button labelled `label` posts."""
    button = accept_button(html, label)
    assert button is not None, f"no Accept button labelled {label!r}"
    if button.get("form"):
        form = button.getroottree().getroot().get_element_by_id(button.get("form"))
    else:
        form = next(button.iterancestors("form"))
    data = {field.get("name"): field.get("value", "") for field in form.iter("input")}
    return form.get("action"), data


def accept_form_on(client, url, label):
    return accept_form(client.get(url).content.decode(), label)


def assert_mapped_by(mo, organization, user):
    """Mapped, with the history row naming who did it."""
    assert ModuleOrganization.objects.get(pk=mo.pk).organization == organization
    change = ModuleMappingChange.objects.get(module_organization=mo)
    assert (change.action, change.new_organization, change.changed_by) == (
        MappingAction.MAP, organization, user
    )  # fmt: skip


def mappings_url(organization):
    return reverse("kaseya_modules:organization_mappings", args=[organization.pk])


def mapped_to(mo):
    return ModuleOrganization.objects.get(pk=mo.pk).organization


# --- Map by Module Organization rows ------------------------------------------------------------

ROW_LABEL = "Accept Acme Corporation for ACME Corp HQ"


def test_an_unmapped_row_shows_its_best_suggestion_with_confidence_score_and_reasons(
    icb_client, world
):
    suggest(world["mo"], world["acme"], 92, "high", ["Same name once 'HQ' is set aside"])
    html = icb_client.get(BY_MODULE_ORG).content.decode()
    row = lxml.html.fromstring(html).get_element_by_id(f"row-{world['mo'].pk}")
    text = " ".join(row.text_content().split())
    assert "Suggested: Acme Corporation" in text
    assert "High" in text and "92/100" in text
    assert "Same name once 'HQ' is set aside" in text
    assert accept_button(html, ROW_LABEL) is not None


def test_suggestions_computed_from_matching_names_are_shown_on_the_rows(icb_client, world):
    # given: a drifted name the suggestion engine recognises
    drifted = module_org(world["graphus"], "Globex Ltd")
    refresh_module(world["graphus"])
    # when
    html = icb_client.get(BY_MODULE_ORG).content.decode()
    # then
    row = lxml.html.fromstring(html).get_element_by_id(f"row-{drifted.pk}")
    assert "Suggested: Globex" in " ".join(row.text_content().split())
    assert accept_button(html, "Accept Globex for Globex Ltd") is not None


def test_accept_on_a_row_maps_it_and_records_the_user(icb_client, icb_user, world):
    # given
    suggest(world["mo"], world["acme"])
    action, data = accept_form_on(icb_client, BY_MODULE_ORG, ROW_LABEL)
    # when
    html = icb_client.post(action, data, headers=HTMX).content.decode()
    # then: the row comes back mapped, the suggestion gone
    assert ">Acme Corporation</a>" in html and "Suggested:" not in html
    assert_mapped_by(world["mo"], world["acme"], icb_user)


def test_accept_on_a_row_works_without_htmx(icb_client, world):
    suggest(world["mo"], world["acme"])
    action, data = accept_form_on(icb_client, BY_MODULE_ORG, ROW_LABEL)
    response = icb_client.post(action, data)
    assert response.status_code == 302 and response.url.startswith(BY_MODULE_ORG)
    assert mapped_to(world["mo"]) == world["acme"]


def test_accept_on_a_stale_row_shows_the_conflict_and_changes_nothing(icb_client, world):
    # given: the page was rendered, then someone else mapped the row
    suggest(world["mo"], world["acme"])
    action, data = accept_form_on(icb_client, BY_MODULE_ORG, ROW_LABEL)
    ModuleOrganization.objects.filter(pk=world["mo"].pk).update(organization=world["globex"])
    # when
    html = icb_client.post(action, data, headers=HTMX).content.decode()
    # then
    assert "changed by someone else" in html and "mapped to Globex" in html
    assert mapped_to(world["mo"]) == world["globex"]
    assert not ModuleMappingChange.objects.exists()


def test_accept_of_an_organization_now_dead_is_refused(icb_client, world):
    # given: the page offered Acme, which became Dead before the click
    suggest(world["mo"], world["acme"])
    action, data = accept_form_on(icb_client, BY_MODULE_ORG, ROW_LABEL)
    world["acme"].org_type = OrganizationType.DEAD
    world["acme"].save()
    # when
    html = icb_client.post(action, data, headers=HTMX).content.decode()
    # then
    assert "cannot receive bills" in html
    assert mapped_to(world["mo"]) is None


def test_a_suggestion_of_an_organization_that_cannot_receive_bills_is_not_offered(
    icb_client, world
):
    dead = OrganizationFactory(name="Defunct Ltd", org_type=OrganizationType.DEAD)
    suggest(world["mo"], dead)
    assert "Suggested:" not in icb_client.get(BY_MODULE_ORG).content.decode()


@pytest.mark.parametrize("state", ["mapped", "ignored", "inactive"])
def test_rows_not_to_map_show_no_suggestion(icb_client, world, state):
    values = {
        "mapped": {"organization": world["globex"]},
        "ignored": {"ignored": True},
        "inactive": {"active": False},
    }[state]
    ModuleOrganization.objects.filter(pk=world["mo"].pk).update(**values)
    suggest(world["mo"], world["acme"])
    html = icb_client.get(BY_MODULE_ORG, {"status": "inactive" if state == "inactive" else ""})
    assert world["mo"].name in html.content.decode()
    assert "Suggested:" not in html.content.decode()


def test_a_row_unmapped_with_htmx_offers_its_suggestion_again(icb_client, world):
    ModuleOrganization.objects.filter(pk=world["mo"].pk).update(organization=world["globex"])
    suggest(world["mo"], world["acme"])
    url = reverse("kaseya_modules:module_org_row", args=[world["mo"].pk])
    data = {"op": "unmap", "expected_organization": world["globex"].pk, "expected_ignored": "false"}
    html = icb_client.post(url, data, headers=HTMX).content.decode()
    assert accept_button(html, ROW_LABEL) is not None


# --- Map by Organization cells ------------------------------------------------------------------

CELL_LABEL = "Accept ACME Corp HQ for Acme Corporation in Graphus"


def cell_html(client, organization, module):
    return client.get(reverse("kaseya_modules:map_cell", args=[organization.pk, module.code]))


def test_an_empty_cell_shows_the_strongest_module_organization_suggesting_it(icb_client, world):
    # given: two module organizations of Graphus suggest Acme
    suggest(world["mo"], world["acme"], 92, "high", ["Same name once 'HQ' is set aside"])
    suggest(module_org(world["graphus"], "Acme Lab"), world["acme"], 61, "low", ["Names 70% alike"])
    # when
    html = icb_client.get(BY_ORG).content.decode()
    # then
    cell = lxml.html.fromstring(html).get_element_by_id(
        f"cell-{world['acme'].pk}-{world['graphus'].code}"
    )
    text = " ".join(cell.text_content().split())
    assert "Suggested: ACME Corp HQ" in text and "High" in text and "92/100" in text
    assert "Same name once 'HQ' is set aside" in text and "Acme Lab" not in text
    assert accept_button(html, CELL_LABEL) is not None


def test_accept_in_a_cell_maps_it_and_records_the_user(icb_client, icb_user, world):
    # given
    suggest(world["mo"], world["acme"])
    action, data = accept_form_on(icb_client, BY_ORG, CELL_LABEL)
    # when
    html = icb_client.post(action, data, headers=HTMX).content.decode()
    # then: the cell comes back with the mapping and no suggestion
    assert 'value="ACME Corp HQ"' in html and "Suggested:" not in html
    assert_mapped_by(world["mo"], world["acme"], icb_user)


def test_accept_in_a_stale_cell_shows_the_conflict_and_changes_nothing(icb_client, world):
    # given: the page was rendered, then someone else mapped another module organization here
    suggest(world["mo"], world["acme"])
    action, data = accept_form_on(icb_client, BY_ORG, CELL_LABEL)
    module_org(world["graphus"], "Acme Elsewhere", organization=world["acme"])
    # when
    html = icb_client.post(action, data, headers=HTMX).content.decode()
    # then
    assert "changed by someone else" in html
    assert mapped_to(world["mo"]) is None
    assert not ModuleMappingChange.objects.exists()


def test_mapped_and_ignored_cells_show_no_suggestion(icb_client, world):
    # given: Globex's cell is mapped, Acme's is ignored; each has a module organization
    # suggesting it
    module_org(world["graphus"], "Globex Inc", organization=world["globex"])
    suggest(module_org(world["graphus"], "Globex Two"), world["globex"])
    OrganizationModuleIgnore.objects.create(organization=world["acme"], module=world["graphus"])
    suggest(world["mo"], world["acme"])
    # when
    html = icb_client.get(BY_ORG).content.decode()
    # then
    assert "Suggested:" not in html


@pytest.mark.parametrize("state", ["mapped", "ignored", "inactive"])
def test_a_cell_offers_no_module_organization_that_is_not_to_map(icb_client, world, state):
    values = {
        "mapped": {"organization": world["globex"]},
        "ignored": {"ignored": True},
        "inactive": {"active": False},
    }[state]
    ModuleOrganization.objects.filter(pk=world["mo"].pk).update(**values)
    suggest(world["mo"], world["acme"])
    html = cell_html(icb_client, world["acme"], world["graphus"]).content.decode()
    assert "Suggested:" not in html


# --- An organization's Mappings page ------------------------------------------------------------

PAGE_LABEL = "Accept ACME Corp HQ for Graphus"


def test_the_mappings_page_shows_the_suggestion_of_a_module_with_nothing_mapped(icb_client, world):
    suggest(world["mo"], world["acme"], 77, "medium", ["Names 88% alike; next best 60%"])
    html = icb_client.get(mappings_url(world["acme"])).content.decode()
    row = lxml.html.fromstring(html).get_element_by_id(f"module-{world['graphus'].code}")
    text = " ".join(row.text_content().split())
    assert "Suggested: ACME Corp HQ" in text and "Medium" in text and "77/100" in text
    assert "Names 88% alike; next best 60%" in text
    assert accept_button(html, PAGE_LABEL) is not None


def test_accept_on_the_mappings_page_maps_the_row_and_shows_it(icb_client, icb_user, world):
    # given
    suggest(world["mo"], world["acme"])
    action, data = accept_form_on(icb_client, mappings_url(world["acme"]), PAGE_LABEL)
    # when
    response = icb_client.post(action, data, follow=True)
    # then
    html = response.content.decode()
    assert f"Saved the mappings of {world['acme'].name}" in html
    assert "Suggested:" not in html
    table = lxml.html.fromstring(html).get_element_by_id("mapped-module-organizations")
    assert "ACME Corp HQ" in table.text_content()
    assert_mapped_by(world["mo"], world["acme"], icb_user)


def test_accept_on_the_mappings_page_leaves_the_other_modules_alone(icb_client, world):
    # given: Passly is mapped on the page
    passly = synced_module(name="Passly", code="passly_a")
    kept = module_org(passly, "Acme Passly", organization=world["acme"])
    suggest(world["mo"], world["acme"])
    action, data = accept_form_on(icb_client, mappings_url(world["acme"]), PAGE_LABEL)
    # when
    icb_client.post(action, data)
    # then
    assert mapped_to(world["mo"]) == world["acme"] and mapped_to(kept) == world["acme"]
    assert ModuleMappingChange.objects.count() == 1


def test_accept_on_a_stale_mappings_page_shows_the_conflict_and_changes_nothing(icb_client, world):
    # given
    suggest(world["mo"], world["acme"])
    action, data = accept_form_on(icb_client, mappings_url(world["acme"]), PAGE_LABEL)
    module_org(world["graphus"], "Acme Elsewhere", organization=world["acme"])
    # when
    response = icb_client.post(action, data)
    # then
    assert response.status_code == 200
    assert "changed by someone else" in response.content.decode()
    assert mapped_to(world["mo"]) is None
    assert not ModuleMappingChange.objects.exists()


def test_the_mappings_page_of_a_mapped_or_ignored_module_shows_no_suggestion(icb_client, world):
    passly = synced_module(name="Passly", code="passly_a")
    module_org(passly, "Acme Passly", organization=world["acme"])
    suggest(module_org(passly, "Acme Passly Two"), world["acme"])
    OrganizationModuleIgnore.objects.create(organization=world["acme"], module=world["graphus"])
    suggest(world["mo"], world["acme"])
    assert "Suggested:" not in icb_client.get(mappings_url(world["acme"])).content.decode()


def test_a_dead_organizations_mappings_page_offers_no_accept(icb_client, world):
    dead = OrganizationFactory(name="Defunct Ltd", org_type=OrganizationType.DEAD)
    suggest(world["mo"], dead)
    assert "Suggested:" not in icb_client.get(mappings_url(dead)).content.decode()


# --- Query counts: suggestions are read once per page, never once per row ----------------------


def queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured), response.content.decode().count("Suggested:")


def suggested_rows(world, start, stop):
    for i in range(start, stop):
        organization = OrganizationFactory(name=f"Customer {i:02}")
        suggest(module_org(world["graphus"], f"Customer {i:02} Ltd"), organization)


def suggested_modules(world, start, stop):
    for i in range(start, stop):
        module = synced_module(name=f"Module {i:02}", code=f"module_{i:02}")
        suggest(module_org(module, f"Acme in {i:02}"), world["acme"])


@pytest.mark.parametrize(
    "url, grow",
    [
        (lambda w: BY_MODULE_ORG, suggested_rows),
        (lambda w: BY_ORG, suggested_rows),
        (lambda w: mappings_url(w["acme"]), suggested_modules),
    ],
    ids=["map-by-module-organization", "map-by-organization", "mappings-page"],
)
def test_suggestions_cost_the_same_queries_for_5_rows_as_for_30(icb_client, world, url, grow):
    # given: 5 rows, each with a suggestion
    grow(world, 0, 5)
    few, shown_few = queries(icb_client, url(world))
    # when: 25 more rows with suggestions
    grow(world, 5, 30)
    many, shown_many = queries(icb_client, url(world))
    # then
    assert shown_many > shown_few >= 5
    assert many == few
