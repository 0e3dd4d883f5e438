"""Review suggestions: permissions, CSRF, what is listed and pre-selected, filters, the counts
left, Accept selected (stale rows skipped and named), and a constant query count."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from kaseya_modules import mapping, mapping_bulk
from kaseya_modules.models import MappingAction, MappingSuggestion, ModuleMappingChange
from organizations.models import OrganizationType
from tests.conftest import make_user
from tests.organizations.factories import OrganizationFactory
from tests.permission_matrix import check

from .mapping_support import ICB_GROUP, icb_client, icb_user, module_org, synced_module, usage

__all__ = ["icb_client", "icb_user"]  # fixtures used below

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
REVIEW = reverse("kaseya_modules:review_suggestions")
ACCEPT = reverse("kaseya_modules:accept_suggestions")


def suggest(mo, organization, confidence="high", score=95, reasons=("Same PSA id",)):
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


@pytest.fixture
def world(db):
    graphus = synced_module(name="Graphus", code="graphus_r")
    passly = synced_module(name="Passly", code="passly_r")
    acme = OrganizationFactory(name="Acme Corporation")
    globex = OrganizationFactory(name="Globex")
    initech = OrganizationFactory(name="Initech")
    rows = {
        "acme": module_org(graphus, "ACME Corp"),
        "globex": module_org(graphus, "Globex Inc"),
        "initech": module_org(passly, "Initech LLC"),
    }
    suggest(rows["acme"], acme, "high", 98, ["Same PSA id"])
    suggest(rows["globex"], globex, "medium", 80, ["Names 80% alike; next best 40%"])
    suggest(rows["initech"], initech, "low", 55, ["Names 55% alike, as alike as another's"])
    return {"graphus": graphus, "passly": passly, "acme": acme, "globex": globex,
            "initech": initech, **{f"mo_{k}": v for k, v in rows.items()}}  # fmt: skip


def accept_data(*rows, back=""):
    data = {"ids": [mo.pk for mo in rows], "back": back}
    for mo in rows:
        data[f"organization-{mo.pk}"] = mo.suggestions.get(rank=1).organization_id
        data[f"expected_organization-{mo.pk}"] = mo.organization_id or ""
        data[f"expected_ignored-{mo.pk}"] = "true" if mo.ignored else "false"
    return data


# --- permissions ----------------------------------------------------------------------------


def endpoints(w):
    return [("get", REVIEW, {}, 200), ("post", ACCEPT, accept_data(w["mo_acme"]), 200)]


@pytest.mark.parametrize("index", [0, 1])
@pytest.mark.parametrize("htmx", [False, True])
def test_anonymous_is_sent_to_login(client, world, index, htmx):
    method, url, data, _ = endpoints(world)[index]
    check(client, method, url, "login", data, htmx=htmx)


@pytest.mark.parametrize("index", [0, 1])
@pytest.mark.parametrize("htmx", [False, True])
def test_without_the_permission_is_forbidden(plain_client, world, index, htmx):
    method, url, data, _ = endpoints(world)[index]
    check(plain_client, method, url, 403, data, htmx=htmx)
    assert not ModuleMappingChange.objects.exists()


@pytest.mark.parametrize("index", [0, 1])
def test_permitted_user_gets_the_page_and_the_htmx_answer(icb_client, world, index):
    method, url, data, status = endpoints(world)[index]
    check(icb_client, method, url, status, data, htmx=True)


def test_permitted_user_without_htmx_is_redirected_back_after_accepting(icb_client, world):
    response = check(icb_client, "post", ACCEPT, 302, accept_data(world["mo_acme"], back="x=1"))
    assert response["Location"] == f"{REVIEW}?x=1"


def test_accepting_needs_the_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("csrfreview", groups=[ICB_GROUP]))
    response = client.post(ACCEPT, accept_data(world["mo_acme"]), headers=HTMX)
    assert response.status_code == 403
    assert world["mo_acme"].suggestions.exists()
    assert not ModuleMappingChange.objects.exists()


# --- the page -------------------------------------------------------------------------------


def checked_rows(html: str) -> set[str]:
    return {
        line.split('value="')[1].split('"')[0]
        for line in html.splitlines()
        if 'name="ids"' in line and " checked" in line
    }


def test_high_confidence_rows_come_pre_selected(icb_client, world):
    html = icb_client.get(REVIEW).content.decode()
    assert checked_rows(html) == {str(world["mo_acme"].pk)}
    assert 'data-select-all="accept-form"' in html


def test_every_suggestion_is_listed_with_its_organization_score_and_reasons(icb_client, world):
    usage(world["mo_acme"], "users", 12)
    html = icb_client.get(REVIEW).content.decode()
    for text in ("ACME Corp", "Globex Inc", "Initech LLC", "Same PSA id", "Names 80% alike"):
        assert text in html
    assert f"Autotask ID {world['acme'].autotask_id}" in html
    assert reverse("organizations:detail", args=[world["acme"].pk]) in html
    assert "Users: 12" in html and ">98<" in html


def test_filter_by_confidence(icb_client, world):
    html = icb_client.get(REVIEW, {"confidence": "medium"}).content.decode()
    assert "Globex Inc" in html and "ACME Corp" not in html and "Initech LLC" not in html


def test_filter_by_module(icb_client, world):
    html = icb_client.get(REVIEW, {"module": "passly_r"}).content.decode()
    assert "Initech LLC" in html and "ACME Corp" not in html


def test_an_unknown_filter_value_shows_everything(icb_client, world):
    html = icb_client.get(REVIEW, {"module": "nope", "confidence": "junk"}).content.decode()
    assert "Initech LLC" in html and "ACME Corp" in html


def test_the_page_says_how_many_suggestions_remain_per_confidence(icb_client, world):
    html = icb_client.get(REVIEW, {"confidence": "high"}).content.decode()
    assert 'data-remaining="total">3<' in html
    assert 'data-remaining="high">1<' in html and 'data-remaining="low">1<' in html


def test_mapped_and_ignored_module_organizations_are_not_listed(icb_client, world):
    mapping.map_module_organization(world["mo_acme"], world["acme"])
    mapping.ignore_module_organization(world["mo_globex"])
    html = icb_client.get(REVIEW).content.decode()
    assert "ACME Corp" not in html and "Globex Inc" not in html
    assert 'data-remaining="total">1<' in html


def test_htmx_filter_answers_only_the_results(icb_client, world):
    response = icb_client.get(REVIEW, {"confidence": "low"}, headers={**HTMX,
                              "HX-Target": "results"})  # fmt: skip
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="results">') and "Initech LLC" in html


# --- accepting ------------------------------------------------------------------------------


def test_accept_selected_maps_them_with_history(icb_client, icb_user, world):
    # when the admin accepts two suggestions
    data = accept_data(world["mo_acme"], world["mo_globex"])
    html = icb_client.post(ACCEPT, data, headers=HTMX).content.decode()
    # then both are mapped, each with its history row
    world["mo_acme"].refresh_from_db()
    world["mo_globex"].refresh_from_db()
    assert world["mo_acme"].organization == world["acme"]
    assert world["mo_globex"].organization == world["globex"]
    changes = ModuleMappingChange.objects.filter(action=MappingAction.MAP, changed_by=icb_user)
    assert changes.count() == 2
    # and the list comes back without them, with the message and the counters out of band
    assert "Accepted 2 suggestions." in html
    assert "ACME Corp" not in html and "Initech LLC" in html
    assert 'id="messages" hx-swap-oob="true"' in html and 'id="counts"' in html


def test_a_row_changed_by_someone_else_is_skipped_and_named_and_the_rest_accepted(
    icb_client, world
):
    # given the page was rendered, then someone else mapped ACME Corp elsewhere
    data = accept_data(world["mo_acme"], world["mo_globex"], world["mo_initech"])
    mapping.map_module_organization(world["mo_acme"], world["globex"])
    # when the admin accepts the three rows they saw
    html = icb_client.post(ACCEPT, data, headers=HTMX).content.decode()
    # then ACME Corp keeps the other change and is named; the other two are accepted
    world["mo_acme"].refresh_from_db()
    assert world["mo_acme"].organization == world["globex"]
    assert "Accepted 2. Skipped 1: ACME Corp (changed by someone else: now mapped to Globex)" in (
        html
    )
    assert ModuleMappingChange.objects.filter(module_organization=world["mo_initech"]).exists()
    world["mo_globex"].refresh_from_db()
    assert world["mo_globex"].organization == world["globex"]


def test_a_row_whose_organization_became_dead_is_skipped_with_the_reason(icb_client, world):
    data = accept_data(world["mo_acme"], world["mo_globex"])
    world["acme"].org_type = OrganizationType.DEAD
    world["acme"].save()
    html = icb_client.post(ACCEPT, data, headers=HTMX).content.decode()
    world["mo_acme"].refresh_from_db()
    assert world["mo_acme"].organization is None
    assert "Skipped 1: ACME Corp (Acme Corporation is a Dead" in html
    assert "cannot receive bills" in html
    world["mo_globex"].refresh_from_db()
    assert world["mo_globex"].organization == world["globex"]


def test_accepting_nothing_says_to_select_something(icb_client, world):
    html = icb_client.post(ACCEPT, {"back": ""}, headers=HTMX).content.decode()
    assert "Select at least one suggestion." in html
    assert not ModuleMappingChange.objects.exists()


def test_accept_service_returns_the_count_and_the_skipped_rows(world):
    stale = mapping.ModuleOrgState(world["globex"].pk, False)
    items = [
        (world["mo_acme"], world["acme"], mapping.ModuleOrgState(None, False)),
        (world["mo_globex"], world["globex"], stale),
    ]
    accepted, skipped = mapping_bulk.accept_suggestions(items)
    assert accepted == 1
    assert skipped == [("Globex Inc", "changed by someone else: now not mapped")]


# --- query count ----------------------------------------------------------------------------


def seed(count):
    module = synced_module(code=f"bulk{count}", name=f"Bulk {count}")
    parent = module_org(module, f"Parent {count}")
    for index in range(count):
        mo = module_org(module, f"Site {count}-{index}", parent=parent, kind="site")
        usage(mo, "users", index + 1)
        suggest(mo, OrganizationFactory(), ["high", "medium", "low"][index % 3])


@pytest.mark.parametrize("size", [5, 50])
def test_review_page_queries_do_not_grow_with_suggestions(
    icb_client, size, django_assert_max_num_queries
):
    seed(size)
    with django_assert_max_num_queries(11):
        html = icb_client.get(REVIEW).content.decode()
    assert html.count('name="ids"') == size
