"""The email after a sync: new unmapped module organizations, to the ICB administrators who
opted in, once per run."""

import pytest
from django.core import mail
from django.urls import reverse

from kaseya_modules.models import SyncEmailSubscription
from kaseya_modules.notifications import notify_after_sync
from tests.conftest import make_user
from tests.organizations.factories import OrganizationFactory
from tests.permission_matrix import check

from .conftest import celery_eager, org, serve_feed, sync
from .mapping_support import ICB_GROUP

__all__ = ["celery_eager"]

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_who_asked(db):
    user = make_user("mailme", groups=[ICB_GROUP])
    user.email = "mailme@example.com"
    user.save()
    SyncEmailSubscription.objects.create(user=user)
    return user


def _sync_with_email(module, capture):
    with capture(execute=True):
        return sync(module)


def test_a_sync_with_new_unmapped_module_organizations_emails_who_asked(
    feed_module, httpserver, admin_who_asked, django_capture_on_commit_callbacks, celery_eager
):
    # given a feed with three organizations, one of which is ignored after the first sync
    serve_feed(httpserver, [[org("1", "Acme"), org("2", "Globex"), org("3", "Initech")]])
    # when it is synced for the first time
    run = _sync_with_email(feed_module, django_capture_on_commit_callbacks)
    # then one email names the module, the number and the link
    assert run.status == "succeeded"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["mailme@example.com"]
    assert f"{feed_module.name}: 3 new module organizations to map" == message.subject
    assert f"?module={feed_module.code}&status=unmapped" in message.body


def test_the_email_for_one_run_is_sent_once(feed_module, httpserver, admin_who_asked):
    serve_feed(httpserver, [[org("1", "Acme")]])
    run = sync(feed_module)
    assert notify_after_sync(run.pk) == 1
    assert notify_after_sync(run.pk) == 0
    assert len(mail.outbox) == 1


def test_no_email_when_nothing_new_is_unmapped(feed_module, httpserver, admin_who_asked):
    serve_feed(httpserver, [[org("1", "Acme")]])
    first = sync(feed_module)
    first.module.organizations.update(organization=OrganizationFactory())
    second = sync(feed_module)
    assert notify_after_sync(second.pk) == 0
    assert mail.outbox == []


def test_no_email_for_who_did_not_ask_or_lost_the_permission(feed_module, httpserver, db):
    asked_but_no_permission = make_user("former")
    asked_but_no_permission.email = "former@example.com"
    asked_but_no_permission.save()
    SyncEmailSubscription.objects.create(user=asked_but_no_permission)
    never_asked = make_user("quiet", groups=[ICB_GROUP])
    never_asked.email = "quiet@example.com"
    never_asked.save()
    serve_feed(httpserver, [[org("1", "Acme")]])
    run = sync(feed_module)
    assert notify_after_sync(run.pk) == 0
    assert mail.outbox == []


def test_opting_in_and_out_from_the_modules_page(client, db):
    user = make_user("optin", groups=[ICB_GROUP])
    client.force_login(user)
    url = reverse("kaseya_modules:sync_email")
    client.post(url, {"subscribe": "on"})
    assert SyncEmailSubscription.objects.filter(user=user).exists()
    page = client.get(reverse("kaseya_modules:modules")).content.decode()
    assert 'name="subscribe" checked' in page
    client.post(url, {})
    assert not SyncEmailSubscription.objects.filter(user=user).exists()


def test_the_opt_in_needs_the_icb_permission(client, db):
    url = reverse("kaseya_modules:sync_email")
    check(client, "post", url, "login", {"subscribe": "on"})
    client.force_login(make_user("outsider"))
    check(client, "post", url, 403, {"subscribe": "on"})
    assert not SyncEmailSubscription.objects.exists()
