"""configure_psa, sync_organizations, the nightly beat entry and the Celery task."""

import io

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from organizations.models import Organization, PsaSettings, PsaSyncRun, PsaSyncStatus
from organizations.psa_sync import claim
from organizations.tasks import sync_organizations_task

from .autotask_fake import INTEGRATION_CODE, SECRET, USERNAME, company


def test_configure_psa_stores_the_settings_and_prints_them_masked(db):
    out = io.StringIO()

    call_command(
        "configure_psa",
        "--base-url",
        "https://webservices.autotask.net/ATServicesRest",
        "--username",
        USERNAME,
        "--secret",
        SECRET,
        "--integration-code",
        INTEGRATION_CODE,
        stdout=out,
    )

    psa = PsaSettings.load()
    assert (psa.username, psa.secret, psa.integration_code) == (USERNAME, SECRET, INTEGRATION_CODE)
    assert SECRET not in out.getvalue() and INTEGRATION_CODE not in out.getvalue()
    assert f"••••{SECRET[-4:]}" in out.getvalue()


def test_configure_psa_refuses_a_bad_url_with_a_clear_message(db):
    with pytest.raises(CommandError, match="base_url: Enter an http:// or https:// URL"):
        call_command(
            "configure_psa",
            "--base-url",
            "webservices.autotask.net",
            "--username",
            USERNAME,
            "--secret",
            SECRET,
            "--integration-code",
            INTEGRATION_CODE,
        )

    assert not PsaSettings.load().configured


def test_configure_psa_without_a_secret_the_first_time_fails(db):
    with pytest.raises(CommandError, match="secret: Enter the secret"):
        call_command(
            "configure_psa",
            "--base-url",
            "https://webservices.autotask.net/x",
            "--username",
            USERNAME,
            "--integration-code",
            INTEGRATION_CODE,
        )


def test_sync_organizations_prints_what_changed(autotask):
    autotask.companies = [company(1, "Acme Ltd"), company(2, "Beta Inc")]
    out = io.StringIO()

    call_command("sync_organizations", stdout=out)

    assert "2 created, 0 updated, 0 deactivated, 0 unchanged" in out.getvalue()
    assert Organization.objects.count() == 2


def test_sync_organizations_fails_with_the_runs_message(autotask):
    PsaSettings.objects.update(integration_code="WRONG-CODE-0000")

    with pytest.raises(CommandError, match="refused the API user or the integration code"):
        call_command("sync_organizations")


def test_sync_organizations_before_configuring_fails_clearly(db):
    with pytest.raises(CommandError, match="Configure Autotask PSA"):
        call_command("sync_organizations")


def test_nightly_beat_entry_runs_at_two_in_the_portal_time_zone(db, settings):
    task = PeriodicTask.objects.get(task="organizations.tasks.sync_organizations_task")
    assert task.enabled
    assert (task.crontab.minute, task.crontab.hour) == ("0", "2")
    assert str(task.crontab.timezone) == settings.TIME_ZONE


def test_the_task_claims_a_run_once(autotask):
    autotask.companies = [company(1, "Acme Ltd")]
    run = PsaSyncRun.objects.create(trigger="manual")

    first = sync_organizations_task(run.pk)
    second = sync_organizations_task(run.pk)

    assert (first, second) == (run.pk, None)
    assert autotask.queries == [[{"op": "gt", "field": "id", "value": 0}]]
    assert PsaSyncRun.objects.get(pk=run.pk).status == PsaSyncStatus.SUCCEEDED


def test_a_run_while_another_holds_the_lease_is_skipped(autotask):
    holder = PsaSyncRun.objects.create(trigger="nightly", status=PsaSyncStatus.RUNNING)
    assert claim(holder.pk)
    run = PsaSyncRun.objects.create(trigger="manual")

    sync_organizations_task(run.pk)

    run.refresh_from_db()
    assert run.status == PsaSyncStatus.SKIPPED
    assert autotask.requests == 0


def test_the_nightly_task_syncs_when_configured(autotask):
    autotask.companies = [company(1, "Acme Ltd")]

    run_id = sync_organizations_task()

    run = PsaSyncRun.objects.get(pk=run_id)
    assert (run.trigger, run.status) == ("nightly", PsaSyncStatus.SUCCEEDED)


def test_the_nightly_task_does_nothing_when_not_configured(db):
    assert sync_organizations_task() is None
    assert not PsaSyncRun.objects.exists()
