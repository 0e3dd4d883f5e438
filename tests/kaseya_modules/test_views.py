from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from kaseya_modules.models import KaseyaModule, SyncRun, SyncStatus, SyncTrigger
from organizations.models import PortalSettings
from tests.conftest import make_user

from .conftest import org, serve_feed
from .factories import TOKEN, KaseyaModuleFactory

PERM = "kaseya_modules.manage_icb"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def module(db, httpserver):
    return KaseyaModuleFactory(code="graphus_test", base_url=httpserver.url_for("/feed"))


@pytest.fixture
def icb_client(client, db):
    client.force_login(make_user("icbadmin", perms=[PERM]))
    return client


def endpoints(code):
    return [
        ("get", reverse("kaseya_modules:modules"), {}),
        ("get", reverse("kaseya_modules:module", args=[code]), {}),
        (
            "post",
            reverse("kaseya_modules:module", args=[code]),
            {"source_kind": "feed", "base_url": "https://feed.example.com/x", "credentials": ""},
        ),
        ("post", reverse("kaseya_modules:toggle", args=[code]), {"enabled": ""}),
        ("post", reverse("kaseya_modules:sync", args=[code]), {}),
        ("get", reverse("kaseya_modules:status", args=[code]), {}),
        ("get", reverse("kaseya_modules:status", args=[code]) + "?runs=on", {}),
        ("get", reverse("kaseya_modules:disable", args=[code]), {}),
    ]


@pytest.mark.parametrize("index", range(8))
@pytest.mark.parametrize("htmx", [False, True])
def test_anonymous_is_sent_to_login(client, module, index, htmx):
    method, url, data = endpoints(module.code)[index]
    response = getattr(client, method)(url, data, **(HTMX if htmx else {}))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("index", range(8))
@pytest.mark.parametrize("htmx", [False, True])
def test_without_permission_is_forbidden(plain_client, module, index, htmx):
    method, url, data = endpoints(module.code)[index]
    response = getattr(plain_client, method)(url, data, **(HTMX if htmx else {}))
    assert response.status_code == 403
    assert not SyncRun.objects.exists()


@pytest.mark.parametrize("index", range(8))
def test_permitted_user_gets_the_page(icb_client, module, index):
    method, url, data = endpoints(module.code)[index]
    response = getattr(icb_client, method)(url, data, **HTMX)
    # The status poll answers 286 (stop polling) when nothing is running; the confirmation to
    # disable a module that is not enabled sends back to the module page.
    expected = 286 if "status" in url else 302 if url.endswith("/disable/") else 200
    assert response.status_code == expected


def test_unknown_module_is_404(icb_client):
    assert icb_client.get(reverse("kaseya_modules:module", args=["nope"])).status_code == 404


def test_post_without_csrf_token_is_refused(db, module):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("icbadmin", perms=[PERM]))

    response = client.post(reverse("kaseya_modules:sync", args=[module.code]))

    assert response.status_code == 403
    assert not SyncRun.objects.exists()


def test_post_with_csrf_token_from_the_page_is_accepted(db, module):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("icbadmin", perms=[PERM]))
    page = client.get(reverse("kaseya_modules:modules"))
    token = page.context["csrf_token"]

    response = client.post(
        reverse("kaseya_modules:sync", args=[module.code]), HTTP_X_CSRFTOKEN=str(token)
    )

    assert response.status_code == 302
    assert SyncRun.objects.filter(module=module, trigger=SyncTrigger.MANUAL).exists()


def test_list_shows_the_catalog_and_the_navigation_link(icb_client):
    response = icb_client.get(reverse("kaseya_modules:modules"))

    content = response.content.decode()
    for module in KaseyaModule.objects.all():
        assert module.name in content
    assert content.count("Enable Integrated Customer Billing by Module") >= 2  # nav + heading


def test_list_page_query_count_does_not_grow_with_modules(
    icb_client, django_assert_max_num_queries
):
    for _ in range(20):
        module = KaseyaModuleFactory(icb_enabled=True)
        SyncRun.objects.create(module=module, trigger=SyncTrigger.NIGHTLY)
    with django_assert_max_num_queries(12):
        icb_client.get(reverse("kaseya_modules:modules"))


def test_enabled_module_waits_for_the_first_overnight_sync(icb_client, module):
    PortalSettings.objects.update_or_create(pk=1, defaults={"organization_term": "Customer"})
    KaseyaModule.objects.filter(pk=module.pk).update(icb_enabled=True)

    list_page = icb_client.get(reverse("kaseya_modules:modules")).content.decode()
    detail = icb_client.get(reverse("kaseya_modules:module", args=[module.code])).content.decode()

    assert "Waiting for the first overnight sync" in list_page
    assert "Waiting for the first overnight sync" in detail
    assert "cannot be mapped to customers" in detail


def test_stored_token_is_never_shown_back(icb_client, module):
    content = icb_client.get(reverse("kaseya_modules:module", args=[module.code])).content.decode()

    assert TOKEN not in content
    assert f"••••{TOKEN[-4:]}" in content


def test_saving_source_with_blank_token_keeps_the_stored_one(icb_client, module):
    response = icb_client.post(
        reverse("kaseya_modules:module", args=[module.code]),
        {"source_kind": "feed", "base_url": "https://feed.example.com/graphus", "credentials": ""},
    )

    assert response.status_code == 302
    module.refresh_from_db()
    assert module.base_url == "https://feed.example.com/graphus"
    assert module.credentials == TOKEN


def test_invalid_source_re_renders_the_form_with_errors(icb_client, module):
    response = icb_client.post(
        reverse("kaseya_modules:module", args=[module.code]),
        {"source_kind": "feed", "base_url": "ftp://nope", "credentials": "x"},
        **HTMX,
    )

    assert response.status_code == 200
    assert "Enter an http:// or https:// URL." in response.content.decode()
    assert 'id="source-form"' in response.content.decode()
    module.refresh_from_db()
    assert module.base_url != "ftp://nope"


def test_enabling_queues_the_first_sync_which_runs(
    icb_client, module, httpserver, celery_eager, django_capture_on_commit_callbacks
):
    serve_feed(httpserver, [[org("1", "Acme Corp"), org("2", "Acme - Site", "1", "site")]])

    with django_capture_on_commit_callbacks(execute=True):
        response = icb_client.post(
            reverse("kaseya_modules:toggle", args=[module.code]), {"enabled": "on"}, **HTMX
        )

    assert response.status_code == 200
    assert "first sync is queued" in response.content.decode()
    module.refresh_from_db()
    assert module.icb_enabled and module.icb_enabled_by.username == "icbadmin"
    run = SyncRun.objects.get(module=module)
    assert (run.trigger, run.status) == (SyncTrigger.ENABLEMENT, SyncStatus.SUCCEEDED)
    assert module.organizations.count() == 2
    assert not module.waiting_for_first_sync


def test_enabling_without_a_source_is_refused(icb_client, db):
    module = KaseyaModuleFactory(source_kind="", base_url="", credentials="")

    response = icb_client.post(
        reverse("kaseya_modules:toggle", args=[module.code]), {"enabled": "on"}, follow=True
    )

    assert "Configure a source" in response.content.decode()
    module.refresh_from_db()
    assert not module.icb_enabled


def test_disabling_keeps_module_organizations(icb_client, module):
    KaseyaModule.objects.filter(pk=module.pk).update(icb_enabled=True)

    icb_client.post(reverse("kaseya_modules:toggle", args=[module.code]), {"confirm": "on"})

    module.refresh_from_db()
    assert not module.icb_enabled


def test_disabling_asks_first_and_says_what_disappears(icb_client, module):
    KaseyaModule.objects.filter(pk=module.pk).update(icb_enabled=True)
    # when Disable is posted without the confirmation
    response = icb_client.post(
        reverse("kaseya_modules:toggle", args=[module.code]), {}, follow=True
    )
    # then nothing changes, and the confirmation page says what leaves and what is kept
    module.refresh_from_db()
    assert module.icb_enabled
    html = response.content.decode()
    assert "leave the mapping pages" in html or "leaves the mapping pages" in html
    assert "Nothing is deleted" in html and 'name="confirm"' in html


def test_running_sync_is_polled_and_polling_stops_when_done(icb_client, module):
    run = SyncRun.objects.create(
        module=module,
        trigger=SyncTrigger.MANUAL,
        status=SyncStatus.RUNNING,
        pages_fetched=3,
        organizations_fetched=2500,
    )
    url = reverse("kaseya_modules:status", args=[module.code])

    page = icb_client.get(reverse("kaseya_modules:modules")).content.decode()
    assert f'hx-get="{url}" hx-trigger="every 2s"' in page
    polling = icb_client.get(url, **HTMX)
    assert polling.status_code == 200
    assert "2500 organizations fetched from 3 pages" in polling.content.decode()
    assert 'hx-trigger="every 2s"' in polling.content.decode()

    SyncRun.objects.filter(pk=run.pk).update(status=SyncStatus.SUCCEEDED, new_count=2500)
    done = icb_client.get(url, **HTMX)
    assert done.status_code == 286
    assert "every 2s" not in done.content.decode()
    assert "2500 new" in done.content.decode()


def test_module_page_status_poll_includes_recent_runs(icb_client, module):
    SyncRun.objects.create(
        module=module,
        trigger=SyncTrigger.NIGHTLY,
        status=SyncStatus.FAILED,
        error="HTTP 401 on page 1",
    )

    response = icb_client.get(reverse("kaseya_modules:status", args=[module.code]) + "?runs=on")

    assert response.status_code == 286
    assert "Recent syncs" in response.content.decode()
    assert "HTTP 401 on page 1" in response.content.decode()


def test_sync_now_twice_queues_one_run(icb_client, module):
    url = reverse("kaseya_modules:sync", args=[module.code])
    icb_client.post(url, **HTMX)
    response = icb_client.post(url, {"from": "module"}, **HTMX)

    assert SyncRun.objects.filter(module=module).count() == 1
    assert 'id="module-status"' in response.content.decode()
    assert "every 2s" in response.content.decode()


@pytest.mark.parametrize("model", ["kaseyamodule", "moduleorganization", "moduleusage", "syncrun"])
def test_admin_changelists_load(admin_client, model):
    url = reverse(f"admin:kaseya_modules_{model}_changelist")
    assert admin_client.get(url).status_code == 200


def test_admin_change_form_hides_the_token_and_enabling_queues_a_sync(admin_client, module):
    url = reverse("admin:kaseya_modules_kaseyamodule_change", args=[module.pk])
    assert TOKEN not in admin_client.get(url).content.decode()

    response = admin_client.post(
        url,
        {
            "code": module.code,
            "name": module.name,
            "billing_types": "[]",
            "icb_enabled": "on",
            "source_kind": "feed",
            "base_url": module.base_url,
            "credentials": "",
        },
    )

    assert response.status_code == 302
    module.refresh_from_db()
    assert module.icb_enabled and module.credentials == TOKEN
    assert SyncRun.objects.filter(module=module, trigger=SyncTrigger.ENABLEMENT).exists()


def test_module_page_says_why_enable_is_disabled_and_puts_the_source_first(icb_client, db):
    module = KaseyaModule.objects.create(code="nosource", name="No Source Yet")
    html = icb_client.get(reverse("kaseya_modules:module", args=[module.code])).content.decode()
    assert 'id="enable-help"' in html and "Set the module's source above first" in html
    assert html.index("<h2>Source</h2>") < html.index("Recent syncs")


def test_fixture_files_are_offered_only_where_the_demo_set_them_up(icb_client, db):
    module = KaseyaModule.objects.create(code="real", name="Real Module")
    html = icb_client.get(reverse("kaseya_modules:module", args=[module.code])).content.decode()
    assert "Fixture files" not in html
    KaseyaModule.objects.filter(pk=module.pk).update(source_kind="fixture", base_url="demo")
    html = icb_client.get(reverse("kaseya_modules:module", args=[module.code])).content.decode()
    assert "Fixture files" in html


def test_sync_durations_read_as_seconds_and_minutes(icb_client, module):
    now = timezone.now()
    SyncRun.objects.create(
        module=module,
        trigger=SyncTrigger.MANUAL,
        status=SyncStatus.SUCCEEDED,
        started_at=now - timedelta(seconds=6.044765),
        finished_at=now,
    )
    html = icb_client.get(reverse("kaseya_modules:module", args=[module.code])).content.decode()
    assert "<td>6.0 s</td>" in html and "0:00:06" not in html
