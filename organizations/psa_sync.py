"""The organization sync from Autotask PSA: settings, queueing, and one all-or-nothing run.

A run fetches everything first (zone, company types, every page), then applies it in one
transaction: organizations are created or updated by Autotask id, those no longer in the PSA
become inactive (never deleted; their mappings stay), and only differences are written, so an
unchanged PSA writes no rows. On PostgreSQL the stored organizations are read on a second
connection while the pages come in (psa_store.py), so an unchanged PSA is recognised with one
comparison. One run at a time: a lease on the PsaSettings row, claimed with a conditional UPDATE.
"""

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from mapping_portal.lib.bulk import BackgroundRead, can_overlap, paused_gc
from mapping_portal.lib.http import validate_api_url
from mapping_portal.lib.text import strip_control_characters

from .autotask import (
    AutotaskClient,
    PsaCompany,
    PsaError,
    companies_from,
    psa_setting,
)
from .importing import parent_loops
from .models import Organization, PsaSettings, PsaSyncRun, PsaSyncStatus, PsaSyncTrigger
from .psa_store import (
    ACTIVE,
    STORED_SHAPE,
    UPDATE_FIELD,
    StoredOrganizations,
    autotask_id_of,
    depth_levels,
    organization_from,
    read_stored,
)
from .signals import announce_organizations_changed

log = logging.getLogger(__name__)

# A run still queued after this long lost its broker message (or no worker is running).
STALE_QUEUED_AFTER = timedelta(hours=1)
PROGRESS_INTERVAL = 0.25  # seconds between live progress writes during a fetch
BATCH = 1000  # rows per UPDATE or IN list
# Rows per INSERT: on PostgreSQL the ORM sends one array per column (UNNEST), whatever the count,
# and fewer statements measured a little faster; other databases cap it by their parameter limit.
INSERT_BATCH = 10_000


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    deactivated: int = 0
    unchanged: int = 0


class Superseded(Exception):
    """The run's lease ran out and a newer run took the sync over."""


def lock_lease() -> timedelta:
    return timedelta(seconds=psa_setting("AUTOTASK_SYNC_LOCK_SECONDS", 3600))


@transaction.atomic
def configure_psa(
    *, base_url: str, username: str, secret: str = "", integration_code: str = ""
) -> PsaSettings:
    """Store how to reach Autotask. A blank secret or integration code keeps the stored one (the
    page never shows them back); ValidationError when something is missing or malformed."""
    psa = PsaSettings.objects.select_for_update().get(pk=PsaSettings.load().pk)
    psa.base_url = base_url.strip()
    psa.username = username.strip()
    if secret:
        psa.secret = secret.strip()
    if integration_code:
        psa.integration_code = integration_code.strip()
    errors = {}
    try:
        validate_api_url(psa.base_url)
    except ValidationError as exc:
        errors["base_url"] = exc.messages
    for field, label in (
        ("username", "API username"),
        ("secret", "secret"),
        ("integration_code", "API integration code"),
    ):
        if not getattr(psa, field):
            errors[field] = [f"Enter the {label}."]
    if errors:
        raise ValidationError(errors)
    psa.save(update_fields=["base_url", "username", "secret", "integration_code"])
    return psa


def _expire_stale_runs() -> None:
    """Close runs that will never finish, so they block neither Sync now nor the polling."""
    now = timezone.now()
    PsaSyncRun.objects.filter(
        status=PsaSyncStatus.QUEUED, queued_at__lt=now - STALE_QUEUED_AFTER
    ).update(
        status=PsaSyncStatus.FAILED,
        finished_at=now,
        error="The sync never started: is a Celery worker running?",
    )
    PsaSyncRun.objects.filter(
        status=PsaSyncStatus.RUNNING, started_at__lt=now - lock_lease()
    ).update(
        status=PsaSyncStatus.FAILED,
        finished_at=now,
        error="The sync was interrupted (its worker stopped before finishing).",
    )


def _new_run(trigger: str, user) -> tuple[PsaSyncRun, bool]:
    """A new queued run, or the one already queued or running, and whether it is new (call
    inside a transaction)."""
    psa = PsaSettings.objects.select_for_update().get(pk=PsaSettings.load().pk)
    if not psa.configured:
        raise ValidationError(
            "Configure Autotask PSA (base URL, username, secret and "
            "integration code) before syncing."
        )
    _expire_stale_runs()
    current = PsaSyncRun.objects.in_progress().first()
    if current is not None:
        return current, False
    return PsaSyncRun.objects.create(trigger=trigger, requested_by=user), True


def request_sync(trigger: str = PsaSyncTrigger.MANUAL, user=None) -> PsaSyncRun:
    """Queue a sync (after commit), or return the one already queued or running, so pressing
    Sync now twice queues one sync."""
    from .tasks import sync_organizations_task

    with transaction.atomic():
        run, created = _new_run(trigger, user)
        if created:
            transaction.on_commit(lambda: sync_organizations_task.delay(run.pk))
    return run


def sync_now(trigger: str = PsaSyncTrigger.MANUAL, user=None) -> PsaSyncRun:
    """Run a sync in this process and wait for it (the command, the nightly task). Returns the
    finished run, or the run already in progress elsewhere."""
    with transaction.atomic():
        run, created = _new_run(trigger, user)
    if not created:
        return run
    return run_psa_sync(run.pk) or PsaSyncRun.objects.get(pk=run.pk)


def claim(holder: int) -> bool:
    """Take the sync lease for run `holder`: a conditional UPDATE only one caller can win."""
    now = timezone.now()
    return bool(
        PsaSettings.objects.filter(pk=PsaSettings.load().pk)
        .filter(Q(sync_locked_until__isnull=True) | Q(sync_locked_until__lt=now))
        .update(sync_locked_until=now + lock_lease(), sync_lease_holder=holder)
    )


def release(holder: int) -> None:
    PsaSettings.objects.filter(sync_lease_holder=holder).update(
        sync_locked_until=None, sync_lease_holder=None
    )


def fence(holder: int) -> None:
    """Inside the apply's transaction: go on only while `holder` still holds the lease (the UPDATE
    also locks the row until commit on PostgreSQL)."""
    if not PsaSettings.objects.filter(sync_lease_holder=holder).update(sync_lease_holder=holder):
        raise Superseded


class RequestBudget:
    """This run's share of Autotask's threshold (10,000 requests per rolling hour per database,
    shared with every other integration): AUTOTASK_REQUESTS_PER_HOUR minus what the portal's runs
    of the last hour used. The run stops cleanly, applying nothing, before it would pass it."""

    def __init__(self, run: PsaSyncRun):
        limit = psa_setting("AUTOTASK_REQUESTS_PER_HOUR", 1000)
        since = timezone.now() - timedelta(hours=1)
        used = (
            PsaSyncRun.objects.filter(started_at__gte=since)
            .exclude(pk=run.pk)
            .aggregate(total=Sum("requests_made"))["total"]
            or 0
        )
        self.limit, self.used, self.count = limit, used, 0

    def __call__(self) -> None:
        if self.used + self.count >= self.limit:
            raise PsaError(
                f"Stopped before Autotask's hourly request budget: {self.used + self.count} of "
                f"{self.limit} requests (AUTOTASK_REQUESTS_PER_HOUR) used in the last hour; "
                "nothing was applied. The next run will go on."
            )
        self.count += 1


@paused_gc()  # tens of thousands of dicts and tuples, none in a cycle
def fetch(psa: PsaSettings, run: PsaSyncRun, budget: RequestBudget) -> list[PsaCompany]:
    """Every company from Autotask (or PsaError), recording progress on the run as pages come."""
    companies: list[PsaCompany] = []
    with AutotaskClient(
        base_url=psa.base_url,
        username=psa.username,
        secret=psa.secret,
        integration_code=psa.integration_code,
        before_request=budget,
    ) as client:
        zone = client.discover_zone()
        PsaSettings.objects.filter(pk=psa.pk).exclude(zone_url=zone).update(zone_url=zone)
        types = client.company_types()
        max_pages = psa_setting("AUTOTASK_SYNC_MAX_PAGES", 1000)
        last_write = time.monotonic()
        for number, items in enumerate(client.company_pages(max_pages), start=1):
            where = f"Companies page {number}"
            companies += companies_from(items, types, where)
            run.pages_fetched, run.companies_fetched = number, len(companies)
            # Live progress for the page, a few times a second at most rather than once per page;
            # the final figures are saved with the run.
            if time.monotonic() - last_write >= PROGRESS_INTERVAL:
                PsaSyncRun.objects.filter(pk=run.pk).update(
                    pages_fetched=number,
                    companies_fetched=len(companies),
                    requests_made=budget.count,
                )
                last_write = time.monotonic()
    check_parents(companies)
    return companies


def check_parents(companies: list[PsaCompany]) -> None:
    """Every parent must be a fetched company, and parent links must not loop."""
    parent_of = {c.autotask_id: c.parent_id for c in companies if c.parent_id is not None}
    if not set(parent_of.values()) <= set(map(autotask_id_of, companies)):
        ids = {company.autotask_id for company in companies}
        company = next(c for c in companies if c.parent_id is not None and c.parent_id not in ids)
        raise PsaError(
            f"Company id {company.autotask_id} names parent {company.parent_id}, which "
            "Autotask did not return (can the API user see it?); nothing was applied."
        )
    # Only a company that has a parent and is one can be on a loop: most PSAs have none.
    linked = parent_of.keys() & set(parent_of.values())
    if not linked:
        return
    for loop in parent_loops({c: p for c, p in parent_of.items() if c in linked}):
        raise PsaError(
            f"Parent links form a loop: {' → '.join(map(str, loop[:10]))}; nothing was applied."
        )


def run_psa_sync(run_id: int) -> PsaSyncRun | None:
    """Carry out a queued run. Safe to call twice for one run (the second call finds it no longer
    queued and does nothing) and for two runs at once (the one without the lease is skipped)."""
    started = timezone.now()
    if not PsaSyncRun.objects.filter(pk=run_id, status=PsaSyncStatus.QUEUED).update(
        status=PsaSyncStatus.RUNNING, started_at=started
    ):
        return None
    run = PsaSyncRun.objects.get(pk=run_id)
    if not claim(run.pk):
        finish(run, PsaSyncStatus.SKIPPED, error="Another organization sync was running.")
        return run
    budget = RequestBudget(run)
    try:
        psa = PsaSettings.load()
        # While the pages come in, a second connection reads what is stored (the lease is held,
        # so no other sync changes it meanwhile): an unchanged PSA then costs one comparison.
        reader = BackgroundRead(read_stored, name="psa-sync-stored") if can_overlap() else None
        try:
            try:
                companies = fetch(psa, run, budget)
            finally:
                if reader is not None:
                    reader.join()
            counts = apply_companies(
                companies,
                now=started,
                holder=run.pk,
                stored=reader.result() if reader is not None else None,
            )
        except PsaError as exc:
            log.warning("Organization sync #%s failed: %s", run.pk, exc)
            finish(run, PsaSyncStatus.FAILED, error=str(exc), requests=budget.count)
            return run
        except Superseded:
            finish(
                run,
                PsaSyncStatus.FAILED,
                requests=budget.count,
                error="Superseded: this sync outlived its lease and a newer sync took over, "
                "so nothing was applied.",
            )
            return run
        PsaSettings.objects.filter(pk=psa.pk).update(last_sync_succeeded_at=timezone.now())
        finish(run, PsaSyncStatus.SUCCEEDED, counts=counts, requests=budget.count)
        return run
    except Exception as exc:
        finish(
            run,
            PsaSyncStatus.FAILED,
            requests=budget.count,
            error=f"Unexpected error: {type(exc).__name__}: {exc}",
        )
        raise
    finally:
        release(run.pk)


def finish(
    run: PsaSyncRun,
    status: str,
    *,
    error: str = "",
    counts: Counts | None = None,
    requests: int = 0,
) -> None:
    run.status = status
    run.finished_at = timezone.now()
    # Messages may quote what Autotask said; the run log must store whatever it was.
    run.error = strip_control_characters(error)
    run.requests_made = requests
    fields = [
        "status",
        "finished_at",
        "error",
        "requests_made",
        "pages_fetched",
        "companies_fetched",
    ]
    if counts is not None:
        run.created_count, run.updated_count = counts.created, counts.updated
        run.deactivated_count, run.unchanged_count = counts.deactivated, counts.unchanged
        fields += ["created_count", "updated_count", "deactivated_count", "unchanged_count"]
    run.save(update_fields=fields)


@paused_gc()
@transaction.atomic
def apply_companies(
    companies: list[PsaCompany],
    *,
    now,
    holder: int | None = None,
    stored: StoredOrganizations | None = None,
) -> Counts:
    """Store one complete fetch; returns what changed. Writes only differences (an unchanged PSA
    writes nothing). Organizations missing from the PSA become inactive, never deleted. With
    `holder`, raises Superseded, writing nothing, unless that run still holds the sync lease.

    `stored`, read by run_psa_sync during the fetch, settles the nightly case with one
    comparison: when the fetch matches it, nothing is written. A snapshot read before this
    transaction needs no re-check then: the lease kept every other sync out since, and a sync
    that writes nothing is equivalent to one that ran wholly before any edit (admin, CSV import)
    committed meanwhile, which stands as it would had it come a moment after the sync. Any
    difference is decided on the stored organizations read again here, in one query."""
    if holder is not None:
        fence(holder)
    if stored is not None and stored.matches(companies):
        return Counts(unchanged=len(companies))
    counts = Counts()
    # Autotask id -> (pk, *the PsaCompany-shaped row)
    rows = {row[1]: row for row in Organization.objects.order_by().values_list("pk", *STORED_SHAPE)}
    new, changed, fields = [], [], set()
    for company in companies:
        row = rows.get(company.autotask_id)
        if row is None:
            new.append(company)
        elif row[1:] != company:
            changed.append(company)
            fields.update(
                name
                for name, old, value in zip(UPDATE_FIELD, row[1:], company, strict=True)
                if old != value
            )
        else:
            counts.unchanged += 1
    pk_of = {autotask_id: row[0] for autotask_id, row in rows.items()}
    for level in depth_levels(new, set(rows)):
        created = Organization.objects.bulk_create(
            [
                organization_from(company, pk_of[company.parent_id] if company.parent_id else None)
                for company in level
            ],
            batch_size=INSERT_BATCH,
        )
        pk_of.update((org.autotask_id, org.pk) for org in created)
    if changed:
        # Every compared field is set from the PSA: the ones not in `fields` hold what is stored.
        Organization.objects.bulk_update(
            [
                organization_from(
                    company,
                    pk_of[company.parent_id] if company.parent_id else None,
                    pk_of[company.autotask_id],
                    now,
                )
                for company in changed
            ],
            [*sorted(fields), "updated_at"],
            batch_size=BATCH,
        )
    fetched = set(map(autotask_id_of, companies))
    missing = [row[0] for key, row in rows.items() if row[1 + ACTIVE] and key not in fetched]
    for start in range(0, len(missing), BATCH):
        Organization.objects.filter(pk__in=missing[start : start + BATCH]).update(
            active=False, updated_at=now
        )
    counts.created, counts.updated, counts.deactivated = len(new), len(changed), len(missing)
    if counts.created or counts.updated or counts.deactivated:
        announce_organizations_changed(Organization)
    return counts
