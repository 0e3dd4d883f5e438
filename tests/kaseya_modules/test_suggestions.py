"""Mapping suggestions: each kind of evidence with its reasons, what is never high, what is
never suggested, and when they are computed, stored and read."""

import pytest
from django.utils import timezone

from kaseya_modules.mapping import map_module_organization
from kaseya_modules.models import MappingSuggestion
from kaseya_modules.suggestion_store import best_suggestions, refresh_module, stored_suggestions
from organizations.importing import import_organizations
from tests.organizations.factories import OrganizationFactory

from .conftest import org, serve_feed, sync
from .mapping_support import module_org, synced_module

pytestmark = pytest.mark.django_db


@pytest.fixture
def module():
    return synced_module()


def suggestions_of(module, module_organization):
    refresh_module(module)
    return list(MappingSuggestion.objects.filter(module_organization=module_organization))


def best_of(module, module_organization):
    found = suggestions_of(module, module_organization)
    assert found, "expected a suggestion"
    return found[0]


def test_same_psa_id_is_high_whatever_the_name(module):
    acme = OrganizationFactory(autotask_id=1234, name="Acme Corporation")
    record = module_org(module, "Road Runner Traps", psa_id=1234)

    best = best_of(module, record)

    assert (best.organization, best.score, best.confidence) == (acme, 100, "high")
    assert best.reasons[0] == "Same PSA id (Autotask 1234)"


def test_same_name_is_high(module):
    globex = OrganizationFactory(name="Globex Ltd")
    OrganizationFactory(name="Initech")
    record = module_org(module, "Globex Ltd")

    best = best_of(module, record)

    assert (best.organization, best.score, best.confidence) == (globex, 100, "high")
    assert best.reasons == ["Same name"]


def test_same_name_once_drift_is_set_aside_is_high_and_says_what_was_set_aside(module):
    bakery = OrganizationFactory(name="Café Olé Bakery Ltd")
    record = module_org(module, "Café Olé Bakery")

    best = best_of(module, record)

    assert (best.organization, best.confidence) == (bakery, "high")
    assert best.reasons == ["Same name once 'Ltd' is set aside"]


def test_site_suffix_is_set_aside(module):
    acme = OrganizationFactory(name="Acme Inc.")
    record = module_org(module, "Acme - Denver")

    best = best_of(module, record)

    assert (best.organization, best.confidence) == (acme, "high")
    assert best.reasons == ["Same name once 'Inc.' and the site '- Denver' are set aside"]


def test_fuzzy_match_with_a_clear_margin_is_high_and_gives_both_figures(module):
    initech = OrganizationFactory(name="Initech Consulting")
    OrganizationFactory(name="Initrode Consulting")
    record = module_org(module, "Initech Consultng")

    best = best_of(module, record)

    assert (best.organization, best.confidence) == (initech, "high")
    assert best.reasons == ["Names 97% alike; next best 83%"]


def test_fuzzy_match_close_to_the_runner_up_is_never_high(module):
    OrganizationFactory(name="Acme Dental Clinic")
    OrganizationFactory(name="Acne Dental Clinic")
    record = module_org(module, "Acmr Dental Clinic")

    assert best_of(module, record).confidence != "high"


def test_a_typo_is_high_with_a_different_runner_up_five_points_behind(module):
    # given a name 94% alike (two letters swapped) and a runner-up 85% alike, itself no typo
    # away from the best
    burns = OrganizationFactory(name="Burns Pediatrics")
    OrganizationFactory(name="Bryant Pediatrics")
    record = module_org(module, "Bruns Pediatrics")

    # when
    best = best_of(module, record)

    # then
    assert (best.organization, best.confidence) == (burns, "high")
    assert best.reasons == ["Names 94% alike; next best 85%"]


def test_a_typo_is_high_beside_a_long_runner_up_more_than_two_letters_from_the_best(module):
    # given a runner-up 92% like the best, yet three letters from it: not a typo of it
    partners = OrganizationFactory(name="Crescent Beacon Trucking Partners")
    OrganizationFactory(name="Crescent Beacon Trucking Packers")
    record = module_org(module, "Cerscent Beacon Trucking Partners")

    # when
    best = best_of(module, record)

    # then
    assert (best.organization, best.confidence) == (partners, "high")
    assert best.reasons == ["Names 97% alike; next best 89%"]


def test_a_typo_is_never_high_with_the_runner_up_less_than_five_points_behind(module):
    OrganizationFactory(name="Liberty Law Offices")
    OrganizationFactory(name="Liberty Lawn Offices")
    record = module_org(module, "Lieerty Law Offices")

    assert best_of(module, record).confidence != "high"


def test_a_name_starting_exactly_one_organizations_name_is_high(module):
    anderson = OrganizationFactory(name="Anderson & Fox Tax Services Inc")
    OrganizationFactory(name="Anderson Roofing")
    record = module_org(module, "Anderson & Fox Tax")

    best = best_of(module, record)

    assert (best.organization, best.confidence) == (anderson, "high")
    assert best.reasons[-1] == (
        "Its name is how Anderson & Fox Tax Services Inc's starts, and no other's"
    )


@pytest.mark.parametrize(
    ("name", "others"),
    [
        ("Crown Insurance", []),  # two words may start a client missing from the PSA
        ("Anderson & Fox Tax", [("Anderson & Fox Tax Advisors", "customer")]),
        ("Anderson & Fox Tax", [("Anderson & Fox Tax Group", "dead")]),
    ],
)
def test_a_name_starting_an_organizations_name_is_never_high_when_short_or_not_the_only_one(
    module, name, others
):
    OrganizationFactory(name=f"{name} Services Inc")
    for other, org_type in others:
        OrganizationFactory(name=other, org_type=org_type)
    record = module_org(module, name)

    found = suggestions_of(module, record)

    assert all(s.confidence != "high" for s in found)


def test_a_site_is_never_high_for_an_organization_whose_psa_site_has_its_name(module):
    # given the PSA has Cedar Insurance and its site "- North Office"
    cedar = OrganizationFactory(name="Cedar Insurance")
    OrganizationFactory(name="Cedar Insurance - North Office", parent=cedar)
    record = module_org(module, "Cear Insurance - North")

    # when
    found = suggestions_of(module, record)

    # then
    assert all(s.confidence != "high" for s in found)


def test_a_site_is_high_for_an_organization_whose_psa_sites_are_other_sites(module):
    cedar = OrganizationFactory(name="Cedar Insurance")
    OrganizationFactory(name="Cedar Insurance - South Office", parent=cedar)
    record = module_org(module, "Cear Insurance - North")

    best = best_of(module, record)

    assert (best.organization, best.confidence) == (cedar, "high")


def test_fuzzy_match_with_a_word_more_is_never_high(module):
    OrganizationFactory(name="Morgan & Lee Real Estate")
    record = module_org(module, "Morgan Real Estate")

    found = suggestions_of(module, record)

    assert all(s.confidence != "high" for s in found)


def test_two_organizations_with_the_same_name_are_never_high(module):
    OrganizationFactory(name="Acme Corp")
    OrganizationFactory(name="ACME Corporation")
    record = module_org(module, "Acme")

    found = suggestions_of(module, record)

    assert [s.confidence for s in found] == ["medium", "medium"]
    assert found[0].reasons[-1].endswith("is close too")


def test_an_organization_a_dropped_word_away_makes_a_same_name_match_medium(module):
    summit = OrganizationFactory(name="Summit Dental")
    OrganizationFactory(name="Summit Dental Group")
    record = module_org(module, "Summit Dental")

    best = best_of(module, record)

    assert (best.organization, best.confidence) == (summit, "medium")
    assert best.reasons == ["Same name", "Summit Dental Group is close too"]


@pytest.mark.parametrize(
    ("written", "twin"), [("Summit Dental Inc.", "Summit Dental Group"), ("Acme & Co", "Acme")]
)
def test_a_name_written_letter_for_letter_is_high_beside_a_twin_without_its_words(
    module, written, twin
):
    same = OrganizationFactory(name=written)
    OrganizationFactory(name=twin)
    record = module_org(module, written)

    best = best_of(module, record)

    assert (best.organization, best.confidence) == (same, "high")
    assert best.reasons == [
        "Same name",
        f"{twin} is close, but is not this name with words dropped",
    ]


@pytest.mark.parametrize(
    ("written", "twin"),
    [
        ("Summit Dental", "Summit Dental Group"),
        ("The Kim Company", "The Kim Company Ltd"),
        ("Jimenez Manufacturing", "Jiménez Manufacturing"),
    ],
)
def test_a_name_written_letter_for_letter_is_never_high_when_a_twin_starts_with_all_its_words(
    module, written, twin
):
    OrganizationFactory(name=written)
    OrganizationFactory(name=twin)
    record = module_org(module, written)

    best = best_of(module, record)

    assert best.confidence == "medium"
    assert best.reasons[-1] == f"{twin} is close too"


def test_a_name_differing_only_in_case_and_punctuation_is_high_beside_a_twin_without_its_words(
    module,
):
    same = OrganizationFactory(name="Summit Dental, Inc.")
    OrganizationFactory(name="Summit Dental Group")
    record = module_org(module, "SUMMIT DENTAL INC")

    best = best_of(module, record)

    assert (best.organization, best.confidence) == (same, "high")
    assert (
        best.reasons[-1] == "Summit Dental Group is close, but is not this name with words dropped"
    )


def test_a_drifted_name_is_never_high_beside_the_same_name_without_its_legal_form(module):
    # given "Summit Dental" may have had "LLC" added by the module
    OrganizationFactory(name="Summit Dental, LLC")
    OrganizationFactory(name="Summit Dental")
    record = module_org(module, "Summit Dental L.L.C.")

    # when
    best = best_of(module, record)

    # then
    assert best.confidence == "medium"
    assert best.reasons[-1] == "Summit Dental is close too"


@pytest.mark.parametrize("name", ["_NotBillable_", "Test Company", "Internal IT"])
def test_internal_and_test_records_are_never_high(module, name):
    OrganizationFactory(name=name)
    record = module_org(module, name)

    best = best_of(module, record)

    assert best.confidence == "medium"
    assert best.reasons[-1] == "Looks like an internal or test record, so never high"


@pytest.mark.parametrize("org_type", ["dead", "cancelation"])
def test_dead_and_cancelation_organizations_are_never_suggested(module, org_type):
    closed = OrganizationFactory(autotask_id=777, name="Wonka Industries", org_type=org_type)
    record = module_org(module, "Wonka Industries", psa_id=777)

    found = suggestions_of(module, record)

    assert closed.pk not in {s.organization_id for s in found}
    assert found == []


def test_a_name_only_a_dead_organization_has_makes_other_suggestions_low(module):
    OrganizationFactory(name="Wonka Industries", org_type="dead")
    OrganizationFactory(name="Wonka Industries Group")
    record = module_org(module, "Wonka Industries")

    best = best_of(module, record)

    assert best.confidence == "low"
    assert "Same name as Wonka Industries, which is Dead in the PSA" in best.reasons


def test_site_without_name_evidence_follows_its_parents_mapping(module):
    acme = OrganizationFactory(name="Acme Corporation")
    parent = module_org(module, "ACME HQ tenant")
    map_module_organization(parent, acme)
    site = module_org(module, "Denver Office", parent=parent)

    best = best_of(module, site)

    assert (best.organization, best.confidence) == (acme, "high")
    assert best.reasons == ["Site of ACME HQ tenant, which maps to Acme Corporation"]


def test_site_follows_its_parents_best_suggestion_with_no_more_confidence(module):
    summit = OrganizationFactory(name="Summit Dental")
    OrganizationFactory(name="Summit Dental Group")
    parent = module_org(module, "Summit Dental")
    site = module_org(module, "Site 2", parent=parent)

    best = best_of(module, site)

    assert (best.organization, best.confidence) == (summit, "medium")
    assert best.reasons[0] == "Site of Summit Dental, whose best suggestion is Summit Dental"


def test_mapped_ignored_and_inactive_module_organizations_get_none(module):
    acme = OrganizationFactory(name="Acme")
    mapped = module_org(module, "Acme")
    map_module_organization(mapped, acme)
    ignored = module_org(module, "Acme", ignored=True)
    inactive = module_org(module, "Acme", active=False)

    refresh_module(module)

    assert not MappingSuggestion.objects.filter(
        module_organization__in=[mapped, ignored, inactive]
    ).exists()


def test_at_most_three_suggestions_best_first(module):
    for name in ["Oak Dental", "Oak Dental Group", "Oak Dental Care", "Oak Dentals", "Oak Denta"]:
        OrganizationFactory(name=name)
    record = module_org(module, "Oak Dental")

    found = suggestions_of(module, record)

    assert [s.rank for s in found] == [1, 2, 3]
    assert found[0].organization.name == "Oak Dental"
    assert found[0].score >= found[1].score >= found[2].score


def test_a_refresh_replaces_the_stored_suggestions(module):
    OrganizationFactory(name="Hooli")
    record = module_org(module, "Hooli Inc")
    refresh_module(module)
    record.name = "Pied Piper"
    record.save()

    refresh_module(module)

    assert MappingSuggestion.objects.filter(module_organization=record).count() == 0
    assert module.suggestions_computed_at is not None


def test_suggestions_are_stored_after_a_sync(feed_module, httpserver):
    # given a feed whose organization carries the PSA's id
    acme = OrganizationFactory(autotask_id=4321, name="Acme Corporation")
    page = [{**org("1", "ACME (RMM tenant)"), "psa_id": 4321}, org("2", "Nobody Like Us")]
    serve_feed(httpserver, [page])

    # when the module syncs
    run = sync(feed_module)

    # then its suggestions are stored
    assert run.status == "succeeded"
    best = MappingSuggestion.objects.get(module_organization__external_id="1", rank=1)
    assert (best.organization, best.confidence) == (acme, "high")
    assert best.reasons[0] == "Same PSA id (Autotask 4321)"
    feed_module.refresh_from_db()
    assert feed_module.suggestions_computed_at is not None


def test_suggestions_are_recomputed_after_a_csv_import(
    module, celery_eager, django_capture_on_commit_callbacks
):
    # given a module organization with nothing to suggest yet
    record = module_org(module, "Vandelay Industries")
    refresh_module(module)
    assert not MappingSuggestion.objects.filter(module_organization=record).exists()

    # when the organization arrives by CSV import
    with django_capture_on_commit_callbacks(execute=True):
        result = import_organizations(
            b"autotask_id,name,type\n9001,Vandelay Industries Inc.,customer\n"
        )

    # then the suggestion is there
    assert result.ok
    best = MappingSuggestion.objects.get(module_organization=record, rank=1)
    assert best.organization.autotask_id == 9001
    assert best.reasons == ["Same name once 'Inc.' is set aside"]


def test_reading_the_best_suggestions_of_a_page_is_one_query(module, django_assert_num_queries):
    for i in range(30):
        OrganizationFactory(name=f"Client Number {i:02d} Ltd")
        module_org(module, f"Client Number {i:02d}")
    refresh_module(module)
    small = list(module.organizations.all()[:3])
    large = list(module.organizations.all())

    for page in (small, large):
        with django_assert_num_queries(1):
            found = best_suggestions(page)
            names = [found[item.pk].organization.name for item in page]
        assert len(names) == len(page)


def test_reading_every_suggestion_of_a_page_is_one_query(module, django_assert_num_queries):
    for i in range(10):
        OrganizationFactory(name=f"Client {i:02d} Dental")
        OrganizationFactory(name=f"Client {i:02d} Dental Group")
        module_org(module, f"Client {i:02d} Dental")
    refresh_module(module)
    page = list(module.organizations.all())

    with django_assert_num_queries(1):
        found = stored_suggestions(page)
        ranks = {pk: [(s.rank, s.organization.name) for s in items] for pk, items in found.items()}

    assert all([rank for rank, _ in items][:2] == [1, 2] for items in ranks.values())


def test_computed_at_is_the_time_of_the_refresh(module):
    OrganizationFactory(name="Hooli")
    record = module_org(module, "Hooli")
    before = timezone.now()

    refresh_module(module)

    assert MappingSuggestion.objects.get(module_organization=record).computed_at >= before


def test_demo_seed_computes_suggestions_and_stays_idempotent(db):
    import io

    from mapping_portal.lib.demo import seed_all

    seed_all(io.StringIO())
    before = MappingSuggestion.objects.count()
    seed_all(io.StringIO())

    assert MappingSuggestion.objects.count() == before
    bakery = MappingSuggestion.objects.get(module_organization__external_id="gr-2001", rank=1)
    assert (bakery.organization.name, bakery.confidence) == ("Café Olé Bakery Ltd", "high")
    tenant = MappingSuggestion.objects.get(module_organization__external_id="site-z1", rank=1)
    assert tenant.reasons[0].startswith("Same PSA id")


def test_mapping_a_parent_refreshes_the_suggestions_of_its_sites(
    module, celery_eager, django_capture_on_commit_callbacks
):
    # given a site whose parent is not mapped yet, suggestions computed
    acme = OrganizationFactory(name="Acme Corporation")
    parent = module_org(module, "Road Runner Supplies")
    site = module_org(module, "Denver Office", parent=parent)
    refresh_module(module)
    assert not MappingSuggestion.objects.filter(module_organization=site).exists()

    # when the parent is mapped
    with django_capture_on_commit_callbacks(execute=True):
        map_module_organization(parent, acme)

    # then the site follows it
    best = MappingSuggestion.objects.get(module_organization=site, rank=1)
    assert (best.organization, best.confidence) == (acme, "high")
    assert best.reasons == ["Site of Road Runner Supplies, which maps to Acme Corporation"]


def test_mapping_a_module_organization_without_sites_queues_nothing(
    module, django_capture_on_commit_callbacks
):
    acme = OrganizationFactory(name="Acme Corporation")
    record = module_org(module, "Acme")
    refresh_module(module)

    with django_capture_on_commit_callbacks() as callbacks:
        map_module_organization(record, acme)

    assert callbacks == []


def test_suggestions_are_recomputed_after_an_organization_is_renamed_in_the_admin(
    module, admin_client, celery_eager, django_capture_on_commit_callbacks
):
    # given a module organization nothing matches yet
    from django.urls import reverse

    organization = OrganizationFactory(name="Old Name Holdings")
    record = module_org(module, "Pied Piper")
    refresh_module(module)

    # when an admin renames the organization
    url = reverse("admin:organizations_organization_change", args=[organization.pk])
    form = {
        "name": "Pied Piper Inc.", "autotask_id": organization.autotask_id,
        "org_type": "customer", "active": "on",
    }  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, form)

    # then the module organization's suggestion follows
    assert response.status_code == 302, response.content.decode()[:2000]
    best = MappingSuggestion.objects.get(module_organization=record, rank=1)
    assert (best.organization, best.confidence) == (organization, "high")


def test_review_lists_best_suggestions_still_to_map_in_one_query(module, django_assert_num_queries):
    # given suggestions for 20 module organizations, one of them since mapped
    for i in range(20):
        OrganizationFactory(name=f"Review Client {i:02d} Ltd")
        module_org(module, f"Review Client {i:02d}")
    refresh_module(module)
    mapped = module.organizations.get(name="Review Client 00")
    map_module_organization(mapped, OrganizationFactory(name="Elsewhere"))

    # when a page lists them, with every name it shows
    with django_assert_num_queries(1):
        rows = [
            (s.module_organization.name, s.organization.name, s.module.name)
            for s in MappingSuggestion.objects.review(module=module, confidence="high")
        ]

    # then the mapped one is left out
    assert len(rows) == 19
    assert "Review Client 00" not in {name for name, _, _ in rows}
