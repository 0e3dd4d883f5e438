import io

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from kaseya_modules.demo import seed
from kaseya_modules.models import KaseyaModule, ModuleOrganization, SyncRun, SyncStatus
from organizations.models import Organization
from tests.organizations.factories import OrganizationFactory

from .conftest import org, serve_feed
from .factories import KaseyaModuleFactory


def test_catalog_is_seeded_with_billing_types(db):
    module = KaseyaModule.objects.get(code="datto_rmm")
    assert module.name == "Datto RMM"
    assert {"total_devices", "desktop_laptop", "server", "network_device_other"} <= (
        module.billing_type_codes()
    )
    assert KaseyaModule.objects.count() >= 23


def test_nightly_beat_entry_runs_at_two_in_the_portal_time_zone(db, settings):
    task = PeriodicTask.objects.get(task="kaseya_modules.tasks.nightly_sync_task")
    assert task.enabled
    assert (task.crontab.minute, task.crontab.hour) == ("0", "2")
    assert str(task.crontab.timezone) == settings.TIME_ZONE


def test_configure_module_sets_the_source_and_enables(db, httpserver, celery_eager):
    serve_feed(httpserver, [[org("1", "Acme")]], prefix="/graphus", token="tok-123456789")
    out = io.StringIO()

    call_command(
        "configure_module",
        "graphus",
        "--source",
        "feed",
        "--base-url",
        httpserver.url_for("/graphus"),
        "--token",
        "tok-123456789",
        "--enable",
        stdout=out,
    )

    module = KaseyaModule.objects.get(code="graphus")
    assert module.icb_enabled and module.credentials == "tok-123456789"
    assert "tok-123456789" not in out.getvalue()
    assert SyncRun.objects.filter(module=module).exists()


def test_configure_module_rejects_a_bad_url_and_unknown_module(db):
    with pytest.raises(CommandError, match="http"):
        call_command(
            "configure_module", "graphus", "--source", "feed", "--base-url", "nope", "--token", "t"
        )
    with pytest.raises(CommandError, match="No module 'nope'"):
        call_command(
            "configure_module",
            "nope",
            "--source",
            "feed",
            "--base-url",
            "https://x.example",
            "--token",
            "t",
        )


def test_sync_modules_syncs_enabled_modules(db, httpserver):
    serve_feed(httpserver, [[org("1", "Acme"), org("2", "Globex")]])
    module = KaseyaModuleFactory(base_url=httpserver.url_for("/feed"), icb_enabled=True)
    KaseyaModule.objects.exclude(pk=module.pk).update(icb_enabled=False)
    out = io.StringIO()

    call_command("sync_modules", stdout=out)

    assert "2 new" in out.getvalue()
    assert module.organizations.count() == 2


def test_sync_modules_one_module_failing_is_an_error_exit(db, httpserver):
    httpserver.expect_request("/feed/organizations").respond_with_data("", status=401)
    module = KaseyaModuleFactory(base_url=httpserver.url_for("/feed"))

    with pytest.raises(CommandError, match="1 module sync"):
        call_command("sync_modules", "--module", module.code, stderr=io.StringIO())
    assert SyncRun.objects.get().status == SyncStatus.FAILED


def test_demo_seed_is_synced_drifted_and_idempotent(db):
    OrganizationFactory(name="Acme Corporation", autotask_id=1)
    OrganizationFactory(name="Globex Inc.", autotask_id=2)
    out = io.StringIO()

    seed(out)
    counts = (ModuleOrganization.objects.count(), SyncRun.objects.count())
    seed(out)

    assert (ModuleOrganization.objects.count(), SyncRun.objects.count()) == counts
    enabled = KaseyaModule.objects.filter(icb_enabled=True)
    assert set(enabled.values_list("code", flat=True)) == {"graphus", "passly", "datto_rmm"}
    assert all(not module.waiting_for_first_sync for module in enabled)
    names = set(ModuleOrganization.objects.values_list("name", flat=True))
    assert "ACME Corp - HQ" in names
    assert not names & set(Organization.objects.values_list("name", flat=True))
    assert ModuleOrganization.objects.filter(parent__isnull=False, kind="location").exists()


def test_catalog_is_restored_after_a_flush(db):
    from django.core.management.sql import emit_post_migrate_signal

    KaseyaModule.objects.all().delete()
    # What `flush` (and so every transactional test's teardown) sends after emptying the tables.
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert KaseyaModule.objects.filter(code="graphus").exists()
