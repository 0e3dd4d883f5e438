"""Workflows on Kaseya modules: source settings, enabling Integrated Customer Billing and queueing
syncs. Views, commands and tasks call these; they never queue syncs themselves."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .models import KaseyaModule, SyncRun, SyncStatus, SyncTrigger
from .sync import run_sync

# A run still queued after this long lost its broker message (or no worker is running).
STALE_QUEUED_AFTER = timedelta(hours=1)


def _queue(run: SyncRun) -> None:
    from .tasks import sync_module_task

    transaction.on_commit(lambda: sync_module_task.delay(run.pk))


@transaction.atomic
def configure_source(
    module: KaseyaModule, *, source_kind: str, base_url: str, credentials: str | None
):
    """Store the module's source settings. Blank `credentials` keeps the stored ones, since the
    form never shows them back."""
    module.source_kind = source_kind
    module.base_url = base_url.strip()
    if credentials:
        module.credentials = credentials.strip()
    module.full_clean()
    module.save(update_fields=["source_kind", "base_url", "credentials"])
    return module


@transaction.atomic
def enable_icb(module: KaseyaModule, user=None, *, queue_sync: bool = True) -> SyncRun | None:
    """Turn Integrated Customer Billing on and queue the module's first sync at once (callers that
    sync in process themselves pass queue_sync=False). Refused while no source is configured.
    Enabling an enabled module changes nothing."""
    module = KaseyaModule.objects.select_for_update().get(pk=module.pk)
    if module.icb_enabled:
        return None
    if not module.has_source:
        raise ValidationError(f"Configure a source for {module.name} before enabling it.")
    module.icb_enabled = True
    module.icb_enabled_at = timezone.now()
    module.icb_enabled_by = user
    module.save(update_fields=["icb_enabled", "icb_enabled_at", "icb_enabled_by"])
    if not queue_sync:
        return None
    return request_sync(module, SyncTrigger.ENABLEMENT, user)


@transaction.atomic
def disable_icb(module: KaseyaModule, user=None) -> None:
    """Turn Integrated Customer Billing off. Module organizations and their mappings are kept, so
    enabling it again restores everything."""
    KaseyaModule.objects.filter(pk=module.pk).update(icb_enabled=False)
    module.icb_enabled = False


def _expire_stale_runs(module: KaseyaModule) -> None:
    """Close runs that will never finish, so they do not block Sync now or poll forever: queued
    ones whose task never started, and running ones whose worker died (the lock lease ran out)."""
    from .lease import lock_lease

    now = timezone.now()
    SyncRun.objects.filter(
        module=module, status=SyncStatus.QUEUED, queued_at__lt=now - STALE_QUEUED_AFTER
    ).update(
        status=SyncStatus.FAILED,
        finished_at=now,
        error="The sync never started: is a Celery worker running?",
    )
    SyncRun.objects.filter(
        module=module, status=SyncStatus.RUNNING, started_at__lt=now - lock_lease()
    ).update(
        status=SyncStatus.FAILED,
        finished_at=now,
        error="The sync was interrupted (its worker stopped before finishing).",
    )


@transaction.atomic
def request_sync(module: KaseyaModule, trigger: str, user=None) -> SyncRun:
    """Queue a sync of `module` (after commit), or return the one already queued or running, so
    pressing Sync now twice queues one sync."""
    if not module.has_source:
        raise ValidationError(f"Configure a source for {module.name} before syncing it.")
    # Serialises concurrent requests for one module so both see the same in-progress run.
    KaseyaModule.objects.select_for_update().filter(pk=module.pk).first()
    _expire_stale_runs(module)
    current = SyncRun.objects.in_progress().filter(module=module).first()
    if current is not None:
        return current
    run = SyncRun.objects.create(module=module, trigger=trigger, requested_by=user)
    _queue(run)
    return run


@transaction.atomic
def queue_nightly_syncs(night=None) -> list[SyncRun]:
    """One sync per ICB-enabled module with a source, at most once per night: each module is
    claimed with a conditional UPDATE on `nightly_queued_for`, so two fan-outs started at the same
    moment queue every module exactly once between them."""
    night = night or timezone.localdate()
    runs = []
    for module in KaseyaModule.objects.icb_enabled().exclude(source_kind="").exclude(base_url=""):
        claimed = (
            KaseyaModule.objects.filter(pk=module.pk)
            .exclude(nightly_queued_for=night)
            .update(nightly_queued_for=night)
        )
        if not claimed:
            continue
        run = SyncRun.objects.create(module=module, trigger=SyncTrigger.NIGHTLY)
        _queue(run)
        runs.append(run)
    return runs


def sync_now(module: KaseyaModule, trigger: str = SyncTrigger.MANUAL, user=None) -> SyncRun:
    """Run a sync in this process and wait for it (commands, the demo). Returns the finished run,
    or the run already in progress elsewhere."""
    with transaction.atomic():
        if not module.has_source:
            raise ValidationError(f"Configure a source for {module.name} before syncing it.")
        _expire_stale_runs(module)
        current = SyncRun.objects.in_progress().filter(module=module).first()
        if current is not None:
            return current
        run = SyncRun.objects.create(module=module, trigger=trigger, requested_by=user)
    return run_sync(run.pk) or SyncRun.objects.get(pk=run.pk)
