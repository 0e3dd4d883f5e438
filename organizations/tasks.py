"""Celery tasks: thin, keyed by primary key, safe to run twice (a run is claimed with a
conditional UPDATE, the sync with a lease: organizations/psa_sync.py)."""

import logging

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def sync_organizations_task(run_id: int | None = None) -> int | None:
    """Carry out queued run `run_id` (Sync now), or, from the nightly beat entry (no argument),
    start a nightly run when Autotask is configured. Returns the run's id."""
    from django.core.exceptions import ValidationError

    from .models import PsaSettings, PsaSyncTrigger
    from .psa_sync import run_psa_sync, sync_now

    if run_id is not None:
        run = run_psa_sync(run_id)
        return run.pk if run else None
    if not PsaSettings.load().configured:
        log.info("Nightly organization sync skipped: Autotask PSA is not configured.")
        return None
    try:
        return sync_now(PsaSyncTrigger.NIGHTLY).pk
    except ValidationError as exc:
        log.warning("Nightly organization sync not started: %s", " ".join(exc.messages))
        return None
