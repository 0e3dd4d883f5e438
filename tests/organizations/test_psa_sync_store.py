"""How the organization sync reads what is stored and writes what changed: on PostgreSQL the
stored organizations are read on a second connection while the pages come in, so an unchanged
PSA is settled with one comparison and no query on the sync's own connection; new organizations
go in with one INSERT per level of parents."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mapping_portal.lib.bulk import BackgroundRead
from organizations.models import Organization, PsaSettings, PsaSyncRun, PsaSyncStatus
from organizations.psa_store import StoredOrganizations, read_stored
from organizations.psa_sync import RequestBudget, fetch, sync_now

from .autotask_fake import company
from .factories import OrganizationFactory

POSTGRES = connection.vendor == "postgresql"
needs_postgres = pytest.mark.skipif(not POSTGRES, reason="the read alongside is PostgreSQL's")
TABLE = f'"{Organization._meta.db_table}"'


@pytest.fixture
def readers(monkeypatch):
    """Every BackgroundRead a sync starts, so a test can tell which path ran."""
    started = []
    original = BackgroundRead.__init__

    def record(self, *args, **kwargs):
        original(self, *args, **kwargs)
        started.append(self)

    monkeypatch.setattr(BackgroundRead, "__init__", record)
    return started


def tree(count):
    """`count` companies, every tenth a parent of the nine after it."""
    return [
        company(n, f"Company {n:05d}", parentCompanyID=n - n % 10 if n % 10 else None)
        for n in range(10, count + 10)
    ]


def organization_queries(queries):
    return [q["sql"] for q in queries if TABLE in q["sql"]]


def test_the_stored_organizations_match_an_unchanged_fetch_and_no_other(autotask):
    # given a synced PSA, fetched again
    autotask.companies = tree(30)
    assert sync_now().status == PsaSyncStatus.SUCCEEDED
    run = PsaSyncRun.objects.create(trigger="manual")
    companies = fetch(PsaSettings.load(), run, RequestBudget(run))
    OrganizationFactory(autotask_id=999, name="Left the PSA long ago", active=False)

    stored = read_stored()

    # then the fetch matches what is stored (an inactive organization outside it needs nothing)
    assert stored.matches(companies)
    # and a rename, a new parent, or an active organization the PSA no longer lists do not
    renamed = [c._replace(name="Renamed") if c.autotask_id == 15 else c for c in companies]
    assert not stored.matches(renamed)
    orphaned = [c._replace(parent_id=None) if c.autotask_id == 15 else c for c in companies]
    assert not stored.matches(orphaned)
    assert not stored.matches(companies[:-1])
    # nor does an organization the PSA lists as active while it is stored inactive
    Organization.objects.filter(autotask_id=39).update(active=False)
    assert not read_stored().matches(companies)


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_an_unchanged_resync_reads_alongside_the_fetch_and_queries_no_organization(
    autotask, readers
):
    # given a synced PSA
    autotask.companies = tree(60)
    assert sync_now().status == PsaSyncStatus.SUCCEEDED
    readers.clear()

    # when it is synced again unchanged
    with CaptureQueriesContext(connection) as queries:
        run = sync_now()

    # then one read ran beside the fetch, and the sync's connection never touched the table
    assert (run.status, run.unchanged_count, run.updated_count) == (PsaSyncStatus.SUCCEEDED, 60, 0)
    assert len(readers) == 1 and isinstance(readers[0].result(), StoredOrganizations)
    assert organization_queries(queries.captured_queries) == []


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_an_edit_committed_during_the_fetch_stands_as_if_made_after_the_sync(
    autotask, readers, monkeypatch
):
    # given a synced PSA, and an admin edit committed after the stored rows were read
    autotask.companies = tree(20)
    sync_now()
    original_join = BackgroundRead.join

    def edit_after_read(self):
        original_join(self)
        Organization.objects.filter(autotask_id=15).update(name="Edited in the admin")

    monkeypatch.setattr(BackgroundRead, "join", edit_after_read)
    run = sync_now()

    # the sync wrote nothing, so it is equivalent to one that finished before the edit
    assert (run.unchanged_count, run.updated_count) == (20, 0)
    assert Organization.objects.get(autotask_id=15).name == "Edited in the admin"

    # and the next sync puts the PSA's name back
    monkeypatch.setattr(BackgroundRead, "join", original_join)
    run = sync_now()
    assert (run.updated_count, run.unchanged_count) == (1, 19)
    assert Organization.objects.get(autotask_id=15).name == "Company 00015"


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_stored_rows_that_differ_are_compared_again_inside_the_transaction(autotask, readers):
    # given organizations edited, and one deactivated, since the last sync
    autotask.companies = tree(20)
    sync_now()
    Organization.objects.filter(autotask_id=11).update(name="Edited", city="Elsewhere")
    Organization.objects.filter(autotask_id=12).update(active=False)

    run = sync_now()

    assert len(readers) == 2
    assert (run.updated_count, run.unchanged_count, run.created_count) == (2, 18, 0)
    assert Organization.objects.filter(autotask_id__in=[11, 12], active=True).count() == 2
    assert Organization.objects.get(autotask_id=11).name == "Company 00011"


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_first_sync_inserts_each_level_of_parents_with_one_statement(autotask):
    autotask.companies = tree(1200)

    with CaptureQueriesContext(connection) as queries:
        run = sync_now()

    assert (run.status, run.created_count) == (PsaSyncStatus.SUCCEEDED, 1200)
    inserts = [sql for sql in organization_queries(queries.captured_queries) if "INSERT" in sql]
    assert len(inserts) == 2  # the 120 parents, then their 1080 children
    children = Organization.objects.filter(parent__isnull=False)
    assert children.count() == 1080
    assert all(org.parent.autotask_id == org.autotask_id - org.autotask_id % 10 for org in children)
