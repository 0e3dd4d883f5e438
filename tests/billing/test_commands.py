"""set_price, map_item and create_invoices: what they print, and a clear failure otherwise."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.models import Invoice, ItemMapping, Price

from .factories import PERIOD, items_read, usage

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_set_price_sets_the_default(graphus):
    assert "default price is 2.5" in run("set_price", graphus.code, "mailboxes", "2.50")
    assert Price.objects.get().amount == 2.5


def test_set_price_for_an_organization(graphus, acme):
    run("set_price", graphus.code, "mailboxes", "1", "--organization", str(acme.autotask_id))

    assert Price.objects.get().organization == acme


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope", "mailboxes", "1"], "No module 'nope'"),
        (["{graphus}", "seats", "1"], "no billing type 'seats'"),
        (["{graphus}", "mailboxes", "-1"], "cannot be negative"),
        (["{graphus}", "mailboxes", "1", "--organization", "424242"], "No organization"),
    ],
)
def test_set_price_fails_clearly(graphus, args, message):
    args = [arg.format(graphus=graphus.code) for arg in args]
    with pytest.raises(CommandError, match=message):
        run("set_price", *args)


def test_map_item_maps_by_the_items_full_name(graphus, default_connector):
    items_read(default_connector, "Services:Mailboxes")

    out = run("map_item", default_connector.name, graphus.code, "mailboxes", "Services:Mailboxes")

    assert "→ Services:Mailboxes" in out
    assert ItemMapping.objects.get().item.full_name == "Services:Mailboxes"


@pytest.mark.parametrize(
    "args, message",
    [
        (["Nowhere", "{graphus}", "mailboxes", "A"], "No web connector named 'Nowhere'"),
        (["{connector}", "nope", "mailboxes", "A"], "No module 'nope'"),
        (["{connector}", "{graphus}", "seats", "A"], "no billing type 'seats'"),
        (["{connector}", "{graphus}", "mailboxes", "Missing"], "no active item 'Missing'"),
    ],
)
def test_map_item_fails_clearly(graphus, default_connector, args, message):
    items_read(default_connector, "A")
    args = [a.format(graphus=graphus.code, connector=default_connector.name) for a in args]
    with pytest.raises(CommandError, match=message):
        run("map_item", *args)


def test_create_invoices_prints_what_it_did(graphus, acme, acme_hq):
    run("set_price", graphus.code, "mailboxes", "2")
    usage(acme_hq, "mailboxes", 3)

    out = run("create_invoices", "--period", f"{PERIOD:%Y-%m}", "--approve")

    assert "1 draft created" in out and "Approved 1" in out
    assert Invoice.objects.get().status == "approved"


def test_create_invoices_refuses_a_bad_period(db):
    with pytest.raises(CommandError, match="not a period"):
        run("create_invoices", "--period", "2026-13")


def test_create_invoices_fails_when_a_draft_cannot_be_approved(graphus, acme, acme_hq):
    usage(acme_hq, "mailboxes", 3)  # no price

    with pytest.raises(CommandError, match="could not be approved"):
        run("create_invoices", "--period", f"{PERIOD:%Y-%m}", "--approve")
