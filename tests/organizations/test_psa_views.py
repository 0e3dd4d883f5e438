"""The Autotask PSA settings page, Sync now and the polled run status."""

import pytest
from django.test import Client
from django.urls import reverse

from organizations.models import Organization, PsaSettings, PsaSyncRun, PsaSyncStatus
from tests.conftest import make_user
from tests.permission_matrix import check

from .autotask_fake import INTEGRATION_CODE, SECRET, company

PERMISSION = "organizations.configure_psa"
URLS = [
    ("get", "organizations:psa", 200),
    ("post", "organizations:psa", 200),
    ("post", "organizations:psa_sync", 302),
    ("get", "organizations:psa_status", 286),
]


@pytest.fixture
def psa_client(client, db):
    client.force_login(make_user("psaadmin", perms=[PERMISSION]))
    return client


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize(("method", "name", "status"), URLS)
def test_permission_matrix(db, method, name, status, htmx):
    url = reverse(name)
    check(Client(), method, url, "login", htmx=htmx)
    without = Client()
    without.force_login(make_user("nobody"))
    check(without, method, url, 403, htmx=htmx)
    permitted = Client()
    permitted.force_login(make_user("psaadmin", perms=[PERMISSION]))
    # Sync now answers htmx with the status section, a plain form post with a redirect.
    expected = 200 if (htmx and name == "organizations:psa_sync") else status
    check(permitted, method, url, expected, htmx=htmx)


def test_the_settings_page_is_in_the_navigation_for_permitted_users(psa_client):
    response = psa_client.get(reverse("home"))

    assert reverse("organizations:psa") in response.content.decode()


def test_saving_settings_stores_them_and_never_shows_the_secret_back(psa_client):
    response = psa_client.post(
        reverse("organizations:psa"),
        {
            "base_url": "https://webservices.autotask.net/ATServicesRest",
            "username": "api@msp.example",
            "secret": SECRET,
            "integration_code": INTEGRATION_CODE,
        },
        follow=True,
    )

    psa = PsaSettings.load()
    assert (psa.username, psa.secret, psa.integration_code) == (
        "api@msp.example",
        SECRET,
        INTEGRATION_CODE,
    )
    page = response.content.decode()
    assert SECRET not in page and INTEGRATION_CODE not in page
    assert f"Stored: ••••{SECRET[-4:]}" in page
    assert f"Stored: ••••{INTEGRATION_CODE[-4:]}" in page


def test_a_blank_secret_keeps_the_stored_one(psa_client, autotask):
    psa_client.post(
        reverse("organizations:psa"),
        {
            "base_url": autotask.base_url,
            "username": "other@msp.example",
            "secret": "",
            "integration_code": "",
        },
    )

    psa = PsaSettings.load()
    assert (psa.username, psa.secret, psa.integration_code) == (
        "other@msp.example",
        SECRET,
        INTEGRATION_CODE,
    )


def test_a_first_save_without_secret_is_refused(psa_client):
    response = psa_client.post(
        reverse("organizations:psa"),
        {
            "base_url": "ftp://example.com",
            "username": "api@msp.example",
        },
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "Enter an http:// or https:// URL." in page and "Enter the secret." in page
    assert not PsaSettings.load().configured


def test_sync_now_runs_the_sync_and_the_page_shows_it(
    psa_client, autotask, celery_eager, django_capture_on_commit_callbacks
):
    autotask.companies = [company(1, "Acme Ltd"), company(2, "Beta Inc")]

    with django_capture_on_commit_callbacks(execute=True):
        psa_client.post(reverse("organizations:psa_sync"), headers={"HX-Request": "true"})
    response = psa_client.get(reverse("organizations:psa_status"))

    run = PsaSyncRun.objects.get()
    assert run.status == PsaSyncStatus.SUCCEEDED, run.error
    assert Organization.objects.count() == 2
    page = response.content.decode()
    assert "2 created, 0 updated, 0 deactivated, 0 unchanged" in page
    assert SECRET not in page


def test_sync_now_before_configuring_says_what_is_missing(psa_client):
    response = psa_client.post(reverse("organizations:psa_sync"), follow=True)

    assert "Configure Autotask PSA" in response.content.decode()
    assert not PsaSyncRun.objects.exists()


def test_a_queued_run_is_polled_until_it_is_done(psa_client, autotask):
    run = PsaSyncRun.objects.create(trigger="manual")

    polling = psa_client.get(reverse("organizations:psa_status"))
    page = psa_client.get(reverse("organizations:psa"))
    PsaSyncRun.objects.filter(pk=run.pk).update(status=PsaSyncStatus.SUCCEEDED)
    done = psa_client.get(reverse("organizations:psa_status"))

    assert polling.status_code == 200 and 'hx-trigger="every 2s"' in polling.content.decode()
    assert 'hx-trigger="every 2s"' in page.content.decode()
    assert done.status_code == 286 and "every 2s" not in done.content.decode()


def test_the_page_lists_recent_runs_with_a_constant_number_of_queries(
    psa_client, django_assert_max_num_queries
):
    for _ in range(12):
        PsaSyncRun.objects.create(trigger="manual", status=PsaSyncStatus.FAILED, error="x")

    with django_assert_max_num_queries(12):
        response = psa_client.get(reverse("organizations:psa"))

    assert response.content.decode().count("<td><small>x</small></td>") == 10


def test_sync_now_answers_htmx_with_the_status_and_the_messages(psa_client, autotask):
    response = psa_client.post(reverse("organizations:psa_sync"), headers={"HX-Request": "true"})

    page = response.content.decode()
    assert 'id="psa-status"' in page and 'hx-trigger="every 2s"' in page
    assert 'id="messages" hx-swap-oob="true"' in page and "Organization sync queued." in page


def test_pressing_sync_now_twice_queues_one_sync(psa_client, autotask):
    psa_client.post(reverse("organizations:psa_sync"))
    psa_client.post(reverse("organizations:psa_sync"))

    assert PsaSyncRun.objects.count() == 1
