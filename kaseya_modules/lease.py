"""The per-module sync lock: a lease held by one SyncRun at a time, claimed and checked with
conditional UPDATEs. A lease rather than a flag so that a worker killed mid-sync does not block
the module for ever; the holder so that a run which outlived its lease cannot apply over a newer
run's data."""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from .models import KaseyaModule
from .sources.base import source_setting


def lock_lease() -> timedelta:
    return timedelta(seconds=source_setting("KASEYA_SYNC_LOCK_SECONDS", 3600))


class Superseded(Exception):
    """The run's lease expired and another run of the module took it over."""


def claim_module(module_id: int, holder: int) -> bool:
    """Take the module's sync lock for run `holder`: a conditional UPDATE that only one caller can
    win, committed at once so every worker sees it. False if another run holds it."""
    now = timezone.now()
    return bool(
        KaseyaModule.objects.filter(pk=module_id)
        .filter(Q(sync_locked_until__isnull=True) | Q(sync_locked_until__lt=now))
        .update(sync_locked_until=now + lock_lease(), sync_lease_holder=holder)
    )


def release_module(module_id: int, holder: int) -> None:
    """Give the lock back, unless another run has taken it over meanwhile."""
    KaseyaModule.objects.filter(pk=module_id, sync_lease_holder=holder).update(
        sync_locked_until=None, sync_lease_holder=None
    )


def fence(module_id: int, holder: int) -> None:
    """Inside the apply's transaction: go on only while run `holder` still holds the lock. The
    UPDATE also locks the module row until commit (PostgreSQL), so no other run can claim the
    module between this check and the commit."""
    if not KaseyaModule.objects.filter(pk=module_id, sync_lease_holder=holder).update(
        sync_lease_holder=holder
    ):
        raise Superseded
