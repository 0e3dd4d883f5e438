"""The demo lets a new user create, approve and look at invoices at once."""

from io import StringIO

import pytest
from django.core.management import call_command

from billing import services
from billing.invoice_reads import annotate_sending as annotate
from billing.models import Invoice, ItemCatalog, Price

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    call_command("seed_demo", "--no-admin", stdout=StringIO())


def test_the_demo_has_prices_an_override_items_and_last_months_usage(demo):
    assert Price.objects.filter(organization__isnull=True).exists()
    assert Price.objects.filter(organization__isnull=False).count() == 1
    assert not ItemCatalog.objects.filter(refreshed_at__isnull=True).exists()
    assert services.bills_for(services.last_month())


def test_demo_invoices_can_be_created_and_approved_and_one_is_held(demo):
    summary = services.create_invoices(services.last_month())

    invoices = list(Invoice.objects.prefetch_related("lines__module"))
    annotate(invoices)
    assert summary.created == len(invoices) >= 3
    assert [i for i in invoices if i.held_text and not i.goes_to.is_default]
    assert len(services.approve(invoices).approved) == len(invoices)


def test_seeding_the_demo_twice_duplicates_nothing(demo):
    prices, usage = Price.objects.count(), services.bills_for(services.last_month())

    call_command("seed_demo", "--no-admin", stdout=StringIO())

    assert Price.objects.count() == prices
    assert services.bills_for(services.last_month()).keys() == usage.keys()
