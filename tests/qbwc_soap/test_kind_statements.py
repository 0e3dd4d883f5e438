"""The item and invoice request kinds run a constant number of statements, whatever the number
of invoices, lines or items (query counts are tests; speed is for bench/)."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from qbwc_soap import invoices, items, qbxml
from tests.organizations.factories import OrganizationFactory

from .invoice_support import approved_invoice, customer_in, map_item, module, request_ids
from .simulator import AnswerLost, QuickBooks

pytestmark = pytest.mark.django_db

LINES = [("users", Decimal("3"), Decimal("2")), ("is_enabled", Decimal("1"), Decimal("9"))]


def _statements(run):
    with CaptureQueriesContext(connection) as captured:
        run()
    return [
        q["sql"].split()[0].upper()
        for q in captured.captured_queries
        if "SAVEPOINT" not in q["sql"].upper()
    ]


def _invoices(connector, quickbooks, count, mods):
    """`count` sendable invoices and as many held ones (their second module has no item)."""
    ready_module, unmapped_module = mods
    for _ in range(count):
        org = OrganizationFactory()
        customer_in(quickbooks, org, connector)
        approved_invoice(org, ready_module, lines=LINES)
        approved_invoice(org, unmapped_module, lines=LINES)


def _send_and_answer(connector, quickbooks, now):
    """to_send → mark_sent → build → QuickBooks; the parsed answers."""
    builder = qbxml.RequestBuilder()
    outgoing = invoices.mark_sent(invoices.to_send(connector, 100), connector, now)
    for out in outgoing:
        invoices.build(builder, f"a{out.invoice.pk}", out.invoice, out.customer_list_id, out.items)
    return request_ids(qbxml.parse_response(quickbooks.answer(builder.tostring())), "a")


@pytest.mark.parametrize("count", [1, 12])
def test_invoice_kind_statements_do_not_grow_with_the_batch(default_connector, count):
    quickbooks = QuickBooks()
    mods = module(), module()
    map_item(quickbooks, default_connector, mods[0], "users")
    map_item(quickbooks, default_connector, mods[0], "is_enabled")
    _invoices(default_connector, quickbooks, count, mods)
    now = timezone.now()

    # to_send: the invoices, their lines, the item mappings, the unmapped lines' module names,
    # the held ones written
    assert _statements(lambda: invoices.to_send(default_connector, 100)) == ["SELECT"] * 4 + [
        "UPDATE"
    ]
    # held ones are not read again in this conversation
    assert _statements(lambda: invoices.to_send(default_connector, 100)) == ["SELECT"] * 3
    assert _statements(lambda: invoices.recheck_held(default_connector)) == ["UPDATE"]
    invoices.to_send(default_connector, 100)

    answers = _send_and_answer(default_connector, quickbooks, now)
    assert len(answers) == count
    assert _statements(lambda: invoices.apply_add(default_connector, answers, now)) == [
        "SELECT",
        "UPDATE",
    ]

    assert _statements(lambda: invoices.to_look_up(default_connector)) == ["SELECT"]


@pytest.mark.parametrize("count", [1, 12])
def test_lookup_statements_do_not_grow_with_the_batch(default_connector, count):
    quickbooks = QuickBooks()
    mods = module(), module()
    map_item(quickbooks, default_connector, mods[0], "users")
    map_item(quickbooks, default_connector, mods[0], "is_enabled")
    _invoices(default_connector, quickbooks, count, mods)
    now = timezone.now()
    quickbooks.lose_invoice_add_answers = 1
    with pytest.raises(AnswerLost):
        _send_and_answer(default_connector, quickbooks, now)
    builder = qbxml.RequestBuilder()
    for invoice in invoices.to_look_up(default_connector):
        builder.invoice_query_by_ref_number(f"q{invoice.pk}", invoice.ref_number)
    answers = request_ids(qbxml.parse_response(quickbooks.answer(builder.tostring())), "q")
    assert len(answers) == count
    assert _statements(lambda: invoices.apply_query(default_connector, answers, now)) == [
        "SELECT",
        "UPDATE",
    ]


# 60 of each kind: one INSERT batch on SQLite too (its 999 parameters hold 142 items).
@pytest.mark.parametrize("count", [1, 60])
def test_item_kind_statements_do_not_grow_with_the_item_count(default_connector, count):
    quickbooks = QuickBooks()
    for n in range(count):
        quickbooks.add_item(f"Service {n}", "service")
        quickbooks.add_item(f"Part {n}", "noninventory")
    builder = qbxml.RequestBuilder()
    items.add_requests(builder, lambda kind: kind)
    responses = {
        rs.request_id: rs for rs in qbxml.parse_response(quickbooks.answer(builder.tostring()))
    }
    # upsert of the items, the unlisted made inactive, the catalog
    assert _statements(lambda: items.apply(default_connector, responses)) == [
        "INSERT",
        "UPDATE",
        "INSERT",
        "UPDATE",
    ]
    assert _statements(lambda: items.due(default_connector)) == ["SELECT"]
