"""How the hot path talks to PostgreSQL: its statements are prepared once per connection (Django
turns psycopg's preparing off, which silently refused it before), except those whose best plan
depends on their parameters, and its results are read in binary."""

import pytest
from django.db import connection

from qbwc_soap import sql
from tests.connectors.factories import CONNECTOR_PASSWORD, WebConnectorFactory
from tests.organizations.factories import OrganizationFactory

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"
)


def _prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        return [row[0] for row in cursor.fetchall()]


def test_the_session_lookup_and_the_writes_are_prepared_the_scan_is_not(qbwc, quickbooks):
    connector = WebConnectorFactory()
    OrganizationFactory.create_batch(3)
    ticket, status = qbwc.authenticate(connector.username, CONNECTOR_PASSWORD)
    assert status not in ("none", "nvu")
    request = qbwc.sendRequestXML(ticket, quickbooks.hcp_response(), "", "US", 13, 0)
    assert qbwc.receiveResponseXML(ticket, quickbooks.answer(request), "", "") == 100

    statements = _prepared_statements()
    session_lookups = [s for s in statements if s.lstrip().startswith('SELECT s."id"')]
    upserts = [s for s in statements if 'INSERT INTO "qbwc_soap_customertransfer"' in s]
    assert session_lookups and upserts, statements
    # The candidate scan and the answered organizations' state are planned for each call.
    assert not [s for s in statements if 'FROM "organizations_organization" o' in s], statements


def test_binary_results_keep_django_types(db):
    """Timestamps come back aware, JSON as the text Django's JSONField decodes."""
    rows = sql.fetchall("SELECT now(), '{\"a\": 1}'::jsonb, 1::bigint, true, 'x'::text")
    now, json_text, number, flag, text = rows[0]
    assert now.tzinfo is not None and now.utcoffset().total_seconds() == 0
    assert json_text == '{"a": 1}'
    assert (number, flag, text) == (1, True, "x")


def test_receive_response_commits_synchronously(qbwc, quickbooks):
    # given a session with a batch to answer
    connector = WebConnectorFactory()
    OrganizationFactory.create_batch(3)
    ticket, _ = qbwc.authenticate(connector.username, CONNECTOR_PASSWORD)
    request = qbwc.sendRequestXML(ticket, quickbooks.hcp_response(), "", "US", 13, 0)
    # when QuickBooks' answer is applied (inside the test's transaction, so a transaction-local
    # setting made on the way would still show)
    assert qbwc.receiveResponseXML(ticket, quickbooks.answer(request), "", "") == 100
    # then the commit waits for the WAL flush: durability is never traded for speed
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
