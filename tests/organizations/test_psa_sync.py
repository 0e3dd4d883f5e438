"""The organization sync from Autotask PSA, against a loopback Autotask (autotask_fake.py)."""

import pytest

from organizations.models import (
    Organization,
    OrganizationType,
    PsaSettings,
    PsaSyncRun,
    PsaSyncStatus,
)
from organizations.psa_sync import RequestBudget, apply_companies, fetch, sync_now
from organizations.signals import organizations_changed

from .autotask_fake import company
from .factories import OrganizationFactory


def test_full_sync_creates_updates_and_deactivates(autotask):
    # given one organization to update, one to deactivate, one already right
    OrganizationFactory(autotask_id=10, name="Acme Old Name")
    gone = OrganizationFactory(autotask_id=20, name="Gone Ltd")
    same = OrganizationFactory(
        autotask_id=30,
        name="Same Inc",
        address1="1 Way",
        city="Town",
        state="",
        postal_code="",
        country="",
    )
    autotask.companies = [
        company(
            10,
            "Acme Ltd",
            address1="5 High St",
            city="Leeds",
            postalCode="LS1",
            phone="0113",
            taxID="GB123",
            isTaxExempt=True,
        ),
        company(30, "Same Inc", address1="1 Way", city="Town"),
        company(40, "New Partner", 8, parentCompanyID=10),
    ]

    # when
    run = sync_now()

    # then
    assert run.status == PsaSyncStatus.SUCCEEDED, run.error
    assert (run.created_count, run.updated_count, run.deactivated_count, run.unchanged_count) == (
        1,
        1,
        1,
        1,
    )
    acme = Organization.objects.get(autotask_id=10)
    assert (acme.name, acme.address1, acme.city, acme.postal_code, acme.phone) == (
        "Acme Ltd",
        "5 High St",
        "Leeds",
        "LS1",
        "0113",
    )
    assert (acme.tax_id, acme.tax_exempt) == ("GB123", True)
    partner = Organization.objects.get(autotask_id=40)
    assert (partner.org_type, partner.parent) == (OrganizationType.PARTNER, acme)
    gone.refresh_from_db()
    assert not gone.active
    assert Organization.objects.get(pk=same.pk).updated_at == same.updated_at


def test_unchanged_resync_writes_no_rows(autotask, django_assert_num_queries):
    # given a synced PSA
    autotask.companies = [
        company(n, f"Company {n}", parentCompanyID=1 if n > 1 else None) for n in range(1, 30)
    ]
    assert sync_now().status == PsaSyncStatus.SUCCEEDED
    stamps = dict(Organization.objects.values_list("pk", "updated_at"))
    run = PsaSyncRun.objects.create(trigger="manual")
    companies = fetch(PsaSettings.load(), run, RequestBudget(run))

    # when the same data is applied again: one read of the stored organizations (inside the
    # test's savepoint), no write
    with django_assert_num_queries(3) as captured:
        counts = apply_companies(companies, now=run.queued_at)

    # then
    assert [q["sql"].split()[0] for q in captured.captured_queries] == [
        "SAVEPOINT",
        "SELECT",
        "RELEASE",
    ]
    assert (counts.created, counts.updated, counts.deactivated, counts.unchanged) == (0, 0, 0, 29)
    assert dict(Organization.objects.values_list("pk", "updated_at")) == stamps


def test_resync_of_an_unchanged_psa_counts_every_organization_unchanged(autotask):
    autotask.companies = [company(n, f"Company {n}") for n in range(1, 6)]
    sync_now()

    run = sync_now()

    assert (run.created_count, run.updated_count, run.unchanged_count) == (0, 0, 5)


def test_sync_pages_to_the_end_by_id(autotask):
    autotask.companies = [company(n, f"Company {n:05d}") for n in range(1, 1202)]

    run = sync_now()

    assert run.status == PsaSyncStatus.SUCCEEDED, run.error
    assert Organization.objects.count() == 1201
    assert [query[0]["value"] for query in autotask.queries] == [0, 500, 1000]
    assert (run.pages_fetched, run.companies_fetched) == (3, 1201)


def test_a_full_last_page_without_next_url_is_followed_by_one_more_request(autotask):
    autotask.companies = [company(n, f"Company {n:05d}") for n in range(1, 501)]

    run = sync_now()

    assert run.status == PsaSyncStatus.SUCCEEDED, run.error
    assert [query[0]["value"] for query in autotask.queries] == [0, 500]
    assert run.companies_fetched == 500


def test_company_types_are_read_by_label_from_the_picklist(autotask):
    # given a tenant whose picklist numbers differ from the usual ones
    autotask.picklist = [(11, "Customer"), (12, "Dead"), (13, "CANCELLATION"), (14, "Vendor")]
    autotask.companies = [
        company(1, "A", 11),
        company(2, "B", 12),
        company(3, "C", 13),
        company(4, "D", 14),
    ]

    sync_now()

    types = dict(Organization.objects.values_list("autotask_id", "org_type"))
    assert types == {1: "customer", 2: "dead", 3: "cancelation", 4: "vendor"}


def test_a_type_the_portal_has_no_match_for_fails_the_run_naming_it(autotask):
    autotask.picklist = [(1, "Customer"), (9, "Reseller")]
    autotask.companies = [company(1, "A", 1), company(2, "B", 9)]

    run = sync_now()

    assert run.status == PsaSyncStatus.FAILED
    assert "company id 2" in run.error and "'Reseller'" in run.error
    assert not Organization.objects.exists()


def test_a_company_turned_dead_keeps_its_history_but_leaves_the_pickers(autotask):
    org = OrganizationFactory(autotask_id=7, name="Acme")
    autotask.companies = [company(7, "Acme", 4)]

    sync_now()

    org.refresh_from_db()
    assert org.org_type == OrganizationType.DEAD
    assert not Organization.objects.billable().filter(pk=org.pk).exists()


def test_a_malformed_page_fails_the_run_naming_the_page_and_changes_nothing(autotask):
    # given a first page that is fine and a second page with an item that is not an object
    existing = OrganizationFactory(autotask_id=1, name="Old name")
    autotask.companies = [company(n, f"Company {n}") for n in range(1, 700)]

    def spoil(number, answer):
        if number == 2:
            answer["items"][3] = "not a company"
        return answer

    autotask.tamper = spoil

    run = sync_now()

    assert run.status == PsaSyncStatus.FAILED
    assert "Companies page 2" in run.error
    assert list(Organization.objects.values_list("pk", "name")) == [(existing.pk, "Old name")]


def test_a_company_with_a_control_character_fails_naming_page_and_company(autotask):
    autotask.companies = [company(1, "Fine"), company(2, "Bad\x00Name")]

    run = sync_now()

    assert run.status == PsaSyncStatus.FAILED
    assert "Companies page 1, company id 2" in run.error and "U+0000" in run.error
    assert not Organization.objects.exists()


def test_a_parent_autotask_did_not_return_fails_the_run(autotask):
    autotask.companies = [company(1, "Child", parentCompanyID=99)]

    run = sync_now()

    assert run.status == PsaSyncStatus.FAILED
    assert "names parent 99" in run.error


def test_parent_links_that_loop_fail_the_run_naming_the_loop(autotask):
    # given a loop 2 → 3 → 4 → 2 under a company that hangs off it, beside a plain tree
    autotask.companies = [
        company(1, "Root"),
        company(2, "Two", parentCompanyID=4),
        company(3, "Three", parentCompanyID=2),
        company(4, "Four", parentCompanyID=3),
        company(5, "Hangs off the loop", parentCompanyID=3),
        company(6, "Child of root", parentCompanyID=1),
    ]

    run = sync_now()

    assert run.status == PsaSyncStatus.FAILED
    assert "Parent links form a loop: 2 → 4 → 3" in run.error
    assert not Organization.objects.exists()


def test_a_two_level_tree_of_parents_is_stored_with_each_parent(autotask):
    autotask.companies = [
        company(1, "Root", parentCompanyID=None),
        company(2, "Middle", parentCompanyID=1),
        company(3, "Leaf", parentCompanyID=2),
    ]

    run = sync_now()

    assert run.status == PsaSyncStatus.SUCCEEDED, run.error
    parents = dict(Organization.objects.values_list("autotask_id", "parent__autotask_id"))
    assert parents == {1: None, 2: 1, 3: 2}


def test_a_wrong_secret_fails_with_a_clear_message_and_no_retry(autotask):
    PsaSettings.objects.update(secret="wrong-secret-value")
    autotask.companies = [company(1, "A")]

    run = sync_now()

    assert run.status == PsaSyncStatus.FAILED
    assert "refused the credentials (HTTP 401)" in run.error
    assert autotask.requests == 1


@pytest.mark.parametrize("field", ["username", "integration_code"])
def test_a_bad_username_or_integration_code_is_not_retried(autotask, field):
    # Autotask answers both with HTTP 500 and an errors list
    PsaSettings.objects.update(**{field: "wrong@msp.example"})

    run = sync_now()

    assert run.status == PsaSyncStatus.FAILED
    assert "refused the API user or the integration code (HTTP 500" in run.error
    assert "Check the API username and the API integration code" in run.error
    assert autotask.requests == 1
    assert run.requests_made == 1


def test_too_many_requests_waits_as_retry_after_asks(autotask, caplog):
    autotask.companies = [company(1, "A")]
    autotask.failures.append((429, {"Retry-After": "1"}, ""))

    run = sync_now()

    assert run.status == PsaSyncStatus.SUCCEEDED, run.error
    assert "HTTP 429 on Companies page 1; retrying in 1.00s" in caplog.text
    assert run.requests_made == 3  # the fields, the page refused, the page again


def test_a_server_error_then_success_completes_the_sync(autotask):
    autotask.companies = [company(1, "A")]
    autotask.failures.append((503, {}, "busy"))

    run = sync_now()

    assert run.status == PsaSyncStatus.SUCCEEDED, run.error
    assert Organization.objects.filter(autotask_id=1).exists()


def test_server_errors_that_last_fail_the_run_after_the_retries(autotask, settings):
    settings.AUTOTASK_ATTEMPTS = 3
    autotask.failures.extend([(502, {}, "")] * 3)

    run = sync_now()

    assert run.status == PsaSyncStatus.FAILED
    assert "HTTP 502 on Companies page 1 (gave up after 3 attempts)" in run.error


def test_the_sync_stops_before_the_hourly_request_budget_and_applies_nothing(autotask, settings):
    settings.AUTOTASK_REQUESTS_PER_HOUR = 3
    autotask.companies = [company(n, f"Company {n}") for n in range(1, 1202)]

    run = sync_now()

    assert run.status == PsaSyncStatus.FAILED
    assert "hourly request budget" in run.error
    assert autotask.requests == 3
    assert not Organization.objects.exists()


def test_the_budget_counts_the_requests_of_earlier_runs_this_hour(autotask, settings):
    autotask.companies = [company(1, "A")]
    assert sync_now().requests_made == 2
    settings.AUTOTASK_REQUESTS_PER_HOUR = 3

    run = sync_now()

    assert run.status == PsaSyncStatus.FAILED
    assert "3 of 3 requests" in run.error


def test_secrets_never_reach_the_logs(autotask, caplog):
    caplog.set_level("DEBUG")
    autotask.companies = [company(1, "A")]
    autotask.failures.append((503, {}, ""))
    sync_now()
    PsaSettings.objects.update(secret="another-secret-4242")
    sync_now()

    psa = PsaSettings.load()
    assert caplog.text
    for secret in ("s3cret-Secret-9f2c", "another-secret-4242", psa.integration_code):
        assert secret not in caplog.text


def test_a_sync_that_changed_something_announces_it_once(
    autotask, django_capture_on_commit_callbacks
):
    received = []

    def receiver(sender, **kwargs):
        received.append(sender)

    organizations_changed.connect(receiver)
    try:
        autotask.companies = [company(n, f"Company {n}") for n in range(1, 5)]
        with django_capture_on_commit_callbacks(execute=True):
            sync_now()
        with django_capture_on_commit_callbacks(execute=True):
            sync_now()  # unchanged: nothing to announce
    finally:
        organizations_changed.disconnect(receiver)

    assert received == [Organization]


def test_a_zone_on_another_host_is_refused(autotask, httpserver):
    PsaSettings.objects.update(
        base_url=httpserver.url_for("/ATServicesRest").replace("localhost", "127.0.0.1")
    )

    run = sync_now()

    assert run.status == PsaSyncStatus.FAILED
    assert "neither the configured host nor an Autotask host" in run.error
    assert autotask.requests == 0


def test_an_organization_missing_from_the_psa_keeps_its_connector_mapping(autotask):
    from connectors.models import OrganizationConnectorMapping
    from tests.connectors.factories import WebConnectorFactory

    WebConnectorFactory(name="Main", username="main")
    second = WebConnectorFactory(name="Second", username="second")
    org = OrganizationFactory(autotask_id=5, name="Mapped Ltd")
    OrganizationConnectorMapping.objects.create(organization=org, connector=second)
    autotask.companies = [company(6, "Other")]

    sync_now()

    org.refresh_from_db()
    assert not org.active
    assert OrganizationConnectorMapping.objects.get(organization=org).connector == second


def test_a_run_that_lost_its_lease_applies_nothing(autotask):
    from organizations.psa_sync import Superseded, claim

    autotask.companies = [company(1, "A")]
    newer = PsaSyncRun.objects.create(trigger="manual", status=PsaSyncStatus.RUNNING)
    assert claim(newer.pk)
    older = PsaSyncRun.objects.create(trigger="nightly", status=PsaSyncStatus.SUCCEEDED)
    companies = fetch(PsaSettings.load(), older, RequestBudget(older))

    with pytest.raises(Superseded):
        apply_companies(companies, now=older.queued_at, holder=older.pk)

    assert not Organization.objects.exists()
