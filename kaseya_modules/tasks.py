"""Celery tasks: thin, keyed by primary key, safe to run twice (the work is claimed in sync.py and
services.py with conditional UPDATEs)."""

from celery import shared_task


@shared_task(ignore_result=True)
def sync_module_task(run_id: int) -> None:
    from .sync import run_sync

    run_sync(run_id)


@shared_task
def nightly_sync_task() -> list[int]:
    """The beat entry: queue one sync per ICB-enabled module, once per night."""
    from .services import queue_nightly_syncs

    return [run.pk for run in queue_nightly_syncs()]


@shared_task(ignore_result=True)
def sync_email_task(run_id: int) -> None:
    """After a successful sync: the email about its new unmapped module organizations."""
    from .notifications import notify_after_sync

    notify_after_sync(run_id)


@shared_task(ignore_result=True)
def refresh_suggestions_task() -> None:
    """Recompute every synced module's mapping suggestions (after organizations changed)."""
    from .suggestion_store import refresh_all

    refresh_all()


@shared_task(ignore_result=True)
def refresh_below_task(module_org_id: int) -> None:
    """Recompute the suggestions below a module organization whose mapping changed."""
    from .suggestion_store import refresh_below

    refresh_below(module_org_id)
