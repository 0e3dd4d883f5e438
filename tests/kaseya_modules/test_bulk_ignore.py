"""Reaching zero on "Yet to be mapped": bulk ignore of a selection on Map by Organization,
"ignore everything with no evidence" after a review, and undoing either from Bulk actions."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kaseya_modules import mapping, mapping_bulk
from kaseya_modules.mapping_reads import yet_to_be_mapped
from kaseya_modules.models import (
    BatchKind,
    MappingAction,
    MappingBatch,
    MappingSuggestion,
    ModuleMappingChange,
    OrganizationModuleIgnore,
)
from organizations.models import Organization, OrganizationType
from tests.conftest import make_user
from tests.organizations.factories import OrganizationFactory
from tests.permission_matrix import check

from .mapping_support import ICB_GROUP, icb_client, icb_user, module_org, synced_module

__all__ = ["icb_client", "icb_user"]  # fixtures used below

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def world(db):
    graphus = synced_module(name="Graphus", code="graphus_b")
    passly = synced_module(name="Passly", code="passly_b")
    orgs = {name: OrganizationFactory(name=name) for name in ("Acme", "Globex", "Initech")}
    dead = OrganizationFactory(name="Defunct Ltd", org_type=OrganizationType.DEAD)
    return {"graphus": graphus, "passly": passly, "dead": dead, **orgs}


def ignored_pairs():
    return set(OrganizationModuleIgnore.objects.values_list("organization__name", "module__code"))


def suggest(module_org_, organization, rank=1):
    return MappingSuggestion.objects.create(
        module_organization=module_org_,
        module=module_org_.module,
        rank=rank,
        organization=organization,
        score=80,
        confidence="high",
        computed_at=timezone.now(),
    )


def bulk_url():
    return reverse("kaseya_modules:bulk_ignore")


def review_url():
    return reverse("kaseya_modules:ignore_without_evidence")


# --- Bulk ignore of a selection ------------------------------------------------------------


def test_bulk_ignore_of_a_selection_ignores_each_with_one_history_row_in_one_batch(
    icb_client, world
):
    # when
    response = icb_client.post(
        bulk_url(), {"ids": [world["Acme"].pk, world["Globex"].pk], "module": "graphus_b"}
    )
    # then
    assert response.status_code == 302
    assert ignored_pairs() == {("Acme", "graphus_b"), ("Globex", "graphus_b")}
    batch = MappingBatch.objects.get()
    assert (batch.kind, batch.module, batch.count) == (BatchKind.SELECTION, world["graphus"], 2)
    changes = ModuleMappingChange.objects.filter(batch=batch)
    assert sorted(changes.values_list("action", "new_organization_name")) == [
        (MappingAction.IGNORE, "Acme"),
        (MappingAction.IGNORE, "Globex"),
    ]


def test_bulk_ignore_lowers_the_yet_to_be_mapped_count_shown_on_the_page(icb_client, world):
    modules = [world["graphus"], world["passly"]]
    assert yet_to_be_mapped(modules)["organizations"] == 3
    for code in ("graphus_b", "passly_b"):
        icb_client.post(bulk_url(), {"ids": [world["Acme"].pk], "module": code})
    assert yet_to_be_mapped(modules)["organizations"] == 2
    html = icb_client.get(reverse("kaseya_modules:map_by_organization")).content.decode()
    assert '<span id="count-organizations"><span class="count">2</span>' in html


def test_bulk_ignore_answers_htmx_with_the_list_and_the_counts(icb_client, world):
    response = icb_client.post(
        bulk_url(),
        {"ids": [world["Acme"].pk], "module": "graphus_b", "back": "q=Acme"},
        headers=HTMX,
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="results">')
    assert 'id="counts"' in html and 'hx-swap-oob="true"' in html
    assert "Graphus is now ignored for 1 organization" in html


def test_bulk_ignore_is_refused_whole_when_one_organization_is_dead(world):
    ids = [world["Acme"].pk, world["dead"].pk]
    with pytest.raises(ValidationError, match="Defunct Ltd"):
        mapping_bulk.bulk_ignore_organizations(ids, world["graphus"])
    assert not OrganizationModuleIgnore.objects.exists()
    assert not ModuleMappingChange.objects.exists()
    assert not MappingBatch.objects.exists()


def test_bulk_ignore_is_refused_whole_when_one_organization_got_a_mapping(icb_client, world):
    # given: mapped by someone else after the page was rendered
    mo = module_org(world["graphus"], "GLOBEX inc")
    mapping.map_module_organization(mo, world["Globex"])
    before = ModuleMappingChange.objects.count()
    # when
    response = icb_client.post(
        bulk_url(),
        {"ids": [world["Acme"].pk, world["Globex"].pk], "module": "graphus_b"},
        headers=HTMX,
    )
    # then
    assert "Globex now has GLOBEX inc mapped in Graphus" in response.content.decode()
    assert not OrganizationModuleIgnore.objects.exists()
    assert ModuleMappingChange.objects.count() == before
    mo.refresh_from_db()
    assert mo.organization == world["Globex"]


def test_bulk_ignore_leaves_organizations_already_ignoring_the_module_as_they_are(world):
    mapping.ignore_organization_module(world["Acme"], world["graphus"])
    batch = mapping_bulk.bulk_ignore_organizations(
        [world["Acme"].pk, world["Globex"].pk], world["graphus"]
    )
    assert batch.count == 1
    assert OrganizationModuleIgnore.objects.get(organization=world["Acme"]).batch is None


def test_bulk_ignore_without_a_module_or_a_selection_says_what_is_missing(icb_client, world):
    html = icb_client.post(bulk_url(), {"ids": [world["Acme"].pk]}, headers=HTMX)
    assert "Choose the module to ignore." in html.content.decode()
    html = icb_client.post(bulk_url(), {"module": "graphus_b"}, headers=HTMX).content.decode()
    assert "Select at least one organization." in html
    assert not OrganizationModuleIgnore.objects.exists()


def test_map_by_organization_offers_a_checkbox_per_row_and_the_bulk_form(icb_client, world):
    html = icb_client.get(reverse("kaseya_modules:map_by_organization")).content.decode()
    assert 'data-select-all="org-bulk-form"' in html
    assert f'name="ids" value="{world["Acme"].pk}" form="org-bulk-form"' in html
    assert reverse("kaseya_modules:ignore_without_evidence") in html
    assert reverse("kaseya_modules:bulk_actions") in html


# --- Ignore everything with no evidence -----------------------------------------------------


@pytest.fixture
def evidence(world):
    """In Graphus: Acme has a mapping, Globex an ignore, Initech a (rank 2) suggestion, Hooli
    nothing, Defunct (dead) nothing. Passly: no evidence for anyone."""
    graphus = world["graphus"]
    mapping.map_module_organization(module_org(graphus, "ACME"), world["Acme"])
    mapping.ignore_organization_module(world["Globex"], graphus)
    suggest(module_org(graphus, "Initech LLC"), world["Initech"], rank=2)
    # A suggestion of a module organization already mapped elsewhere is no evidence.
    taken = module_org(graphus, "Hooli Corp", organization=world["Acme"])
    hooli = OrganizationFactory(name="Hooli")
    suggest(taken, hooli)
    return {**world, "Hooli": hooli}


def test_without_evidence_lists_exactly_the_organizations_with_no_evidence(evidence):
    found = mapping_bulk.organizations_without_evidence(evidence["graphus"])
    assert set(found.values_list("name", flat=True)) == {"Hooli"}
    counts = mapping_bulk.without_evidence_counts([evidence["graphus"], evidence["passly"]])
    assert counts == {evidence["graphus"].pk: 1, evidence["passly"].pk: 4}


def test_applying_without_evidence_ignores_them_all_as_one_batch(icb_client, evidence):
    before = ignored_pairs()
    response = icb_client.post(review_url(), {"module": "", "expected": 5})
    assert response.status_code == 302
    assert response["Location"] == reverse("kaseya_modules:bulk_actions")
    added = ignored_pairs() - before
    assert added == {("Hooli", "graphus_b")} | {
        (name, "passly_b") for name in ("Acme", "Globex", "Initech", "Hooli")
    }
    batch = MappingBatch.objects.get()
    assert (batch.kind, batch.module, batch.count) == (BatchKind.NO_EVIDENCE, None, 5)
    assert batch.changes.filter(action=MappingAction.IGNORE).count() == 5
    assert not OrganizationModuleIgnore.objects.filter(organization=evidence["dead"]).exists()


def test_applying_without_evidence_for_one_module_touches_only_that_module(icb_client, evidence):
    icb_client.post(review_url(), {"module": "passly_b", "expected": 4})
    batch = MappingBatch.objects.get()
    assert batch.module == evidence["passly"]
    assert set(batch.ignores.values_list("module__code", flat=True)) == {"passly_b"}


def test_applying_without_evidence_refuses_when_the_list_changed_since_the_review(
    icb_client, evidence
):
    response = icb_client.post(review_url(), {"module": "passly_b", "expected": 3}, follow=True)
    assert "changed since you reviewed them (3 then, 4 now)" in response.content.decode()
    assert not MappingBatch.objects.exists()


def test_review_page_shows_counts_names_and_the_apply_button(icb_client, evidence):
    html = icb_client.get(review_url()).content.decode()
    assert '<td data-module-total="graphus_b">1</td>' in html
    assert '<td data-module-total="passly_b">4</td>' in html
    assert "Hooli" in html and 'name="expected" value="5"' in html
    html = icb_client.get(review_url(), {"module": "graphus_b"}).content.decode()
    assert 'id="without-evidence-list"' in html and 'name="expected" value="1"' in html
    assert "Initech" not in html.split('id="without-evidence-list"')[1]


def test_ignoring_without_evidence_in_bulk_runs_a_bounded_number_of_queries(world):
    # given
    Organization.objects.bulk_create(
        [Organization(autotask_id=90000 + i, name=f"Bulk {i:03}") for i in range(500)]
    )
    modules = [world["graphus"], world["passly"]]
    # when
    with CaptureQueriesContext(connection) as queries:
        batch = mapping_bulk.ignore_without_evidence(modules)
    # then
    assert batch.count == 2 * 503
    # Inserts come in chunks (SQLite caps a statement's parameters), never one per organization.
    assert len(queries) <= 40, len(queries)
    assert yet_to_be_mapped(modules)["organizations"] == 0


def _review_queries(client, module=""):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(review_url(), {"module": module}).status_code == 200
    return len(queries)


@pytest.mark.parametrize("module", ["", "graphus_b"])
def test_review_page_runs_a_constant_number_of_queries(icb_client, world, module):
    small = _review_queries(icb_client, module)
    Organization.objects.bulk_create(
        [Organization(autotask_id=80000 + i, name=f"More {i:03}") for i in range(120)]
    )
    assert _review_queries(icb_client, module) == small


# --- Undo -----------------------------------------------------------------------------------


def test_undo_restores_exactly_the_batch_pairs_still_ignored_and_skips_changed_ones(
    icb_client, world
):
    # given: a batch of three; Globex un-ignored since, Initech un-ignored and ignored again
    graphus = world["graphus"]
    ids = [world[name].pk for name in ("Acme", "Globex", "Initech")]
    batch = mapping_bulk.bulk_ignore_organizations(ids, graphus)
    mapping.ignore_organization_module(world["Acme"], world["passly"])  # not in the batch
    mapping.unignore_organization_module(world["Globex"], graphus)
    mapping.unignore_organization_module(world["Initech"], graphus)
    mapping.ignore_organization_module(world["Initech"], graphus)
    # when
    response = icb_client.post(
        reverse("kaseya_modules:undo_bulk_action", args=[batch.pk]), follow=True
    )
    # then
    assert "1 ignore removed. 2 skipped" in response.content.decode()
    assert ignored_pairs() == {("Acme", "passly_b"), ("Initech", "graphus_b")}
    batch.refresh_from_db()
    assert (batch.undone_count, batch.skipped_count) == (1, 2)
    assert batch.undone_at is not None
    unignore = batch.changes.get(action=MappingAction.UNIGNORE)
    assert unignore.old_organization == world["Acme"]


def test_undo_twice_is_refused(world):
    batch = mapping_bulk.bulk_ignore_organizations([world["Acme"].pk], world["graphus"])
    mapping_bulk.undo_batch(batch)
    with pytest.raises(ValidationError, match="already been undone"):
        mapping_bulk.undo_batch(batch)
    assert ModuleMappingChange.objects.filter(action=MappingAction.UNIGNORE).count() == 1


def test_undo_brings_the_yet_to_be_mapped_count_back(world):
    modules = [world["graphus"], world["passly"]]
    batch = mapping_bulk.ignore_without_evidence(modules)
    assert yet_to_be_mapped(modules)["organizations"] == 0
    mapping_bulk.undo_batch(batch)
    assert yet_to_be_mapped(modules)["organizations"] == 3


def test_bulk_actions_page_lists_each_batch_with_who_when_how_many_and_undo(
    icb_client, icb_user, world
):
    mapping_bulk.bulk_ignore_organizations([world["Acme"].pk], world["graphus"], icb_user)
    undone = mapping_bulk.bulk_ignore_organizations([world["Globex"].pk], world["passly"])
    mapping_bulk.undo_batch(undone)
    html = icb_client.get(reverse("kaseya_modules:bulk_actions")).content.decode()
    assert "icbmapper" in html and "Ignore the selected" in html
    assert html.count(">Undo</button>") == 1
    assert "data-confirm=" in html
    assert "1 removed" in html


def test_undo_of_a_large_batch_runs_a_bounded_number_of_queries(world):
    Organization.objects.bulk_create(
        [Organization(autotask_id=70000 + i, name=f"Undo {i:03}") for i in range(500)]
    )
    batch = mapping_bulk.ignore_without_evidence([world["graphus"]])
    with CaptureQueriesContext(connection) as queries:
        mapping_bulk.undo_batch(batch)
    assert len(queries) <= 15, len(queries)
    assert not OrganizationModuleIgnore.objects.exists()


# --- Permissions and CSRF -------------------------------------------------------------------


def endpoints(w):
    batch = MappingBatch.objects.create(kind=BatchKind.SELECTION, module=w["graphus"], count=0)
    return [
        ("get", review_url(), {}, 200),
        ("post", review_url(), {"module": "graphus_b", "expected": 3}, 302),
        ("post", bulk_url(), {"ids": [w["Acme"].pk], "module": "graphus_b"}, 302),
        ("get", reverse("kaseya_modules:bulk_actions"), {}, 200),
        ("post", reverse("kaseya_modules:undo_bulk_action", args=[batch.pk]), {}, 302),
    ]


ENDPOINTS = range(5)


@pytest.mark.parametrize("index", ENDPOINTS)
@pytest.mark.parametrize("htmx", [False, True])
def test_anonymous_is_sent_to_login(client, world, index, htmx):
    method, url, data, _ = endpoints(world)[index]
    check(client, method, url, "login", data, htmx=htmx)


@pytest.mark.parametrize("index", ENDPOINTS)
@pytest.mark.parametrize("htmx", [False, True])
def test_without_the_permission_is_forbidden(plain_client, world, index, htmx):
    method, url, data, _ = endpoints(world)[index]
    check(plain_client, method, url, 403, data, htmx=htmx)
    assert not ModuleMappingChange.objects.exists()


@pytest.mark.parametrize("index", ENDPOINTS)
def test_permitted_user_gets_each_endpoint(icb_client, world, index):
    method, url, data, expected = endpoints(world)[index]
    if url == bulk_url():
        check(icb_client, method, url, 200, data, htmx=True)
    check(icb_client, method, url, expected, data)


def test_every_post_needs_the_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("csrf", groups=[ICB_GROUP]))
    for method, url, data, _ in endpoints(world):
        if method == "post":
            assert client.post(url, data).status_code == 403, url
    assert not ModuleMappingChange.objects.exists()
