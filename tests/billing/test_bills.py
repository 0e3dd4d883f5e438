"""The one rule for what an organization is billed for a period (billing.services.bills_for)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing import services
from billing.services import bills_for, describe, parse_period, unbilled
from organizations.models import OrganizationType
from tests.organizations.factories import OrganizationFactory

from .factories import PERIOD, module_org, synced_module, usage

pytestmark = pytest.mark.django_db


def lines_of(organization, period=PERIOD):
    return {line.billing_type: line for line in bills_for(period).get(organization.pk, [])}


def test_quantity_is_the_latest_day_recorded_within_the_period(acme, acme_hq):
    usage(acme_hq, "mailboxes", 10, PERIOD + timedelta(days=3))
    usage(acme_hq, "mailboxes", 12, PERIOD + timedelta(days=27))
    usage(acme_hq, "mailboxes", 99, PERIOD + timedelta(days=33))  # next month: not this bill

    assert lines_of(acme)["mailboxes"].quantity == 12


def test_usage_of_every_module_organization_mapped_to_the_organization_is_summed(
    graphus, acme, acme_hq
):
    usage(acme_hq, "mailboxes", 10)
    usage(module_org(graphus, "Acme Branch", organization=acme), "mailboxes", 5)

    line = lines_of(acme)["mailboxes"]

    assert line.quantity == 15
    assert {name for name, _ in line.sources} == {"ACME HQ", "Acme Branch"}


def test_an_unmapped_site_rolls_up_to_where_its_parent_bills(graphus, acme, acme_hq):
    site = module_org(graphus, "Front Desk", parent=acme_hq, kind="site")
    location = module_org(graphus, "Closet", parent=site, kind="location")
    usage(acme_hq, "mailboxes", 10)
    usage(site, "mailboxes", 2)
    usage(location, "mailboxes", 1)

    assert lines_of(acme)["mailboxes"].quantity == 13


def test_a_site_mapped_elsewhere_bills_where_it_is_mapped(graphus, acme, globex, acme_hq):
    usage(module_org(graphus, "Globex desk", parent=acme_hq, kind="site", organization=globex),
          "mailboxes", 4)  # fmt: skip

    assert lines_of(globex)["mailboxes"].quantity == 4
    assert "mailboxes" not in lines_of(acme)


def test_an_ignored_site_and_an_unmapped_organization_bill_to_nobody(graphus, acme, acme_hq):
    usage(module_org(graphus, "Ignored desk", parent=acme_hq, kind="site", ignored=True),
          "mailboxes", 4)  # fmt: skip
    usage(module_org(graphus, "Child company", parent=acme_hq), "mailboxes", 3)

    assert lines_of(acme) == {}
    reasons = {row.module_organization.name: row.reason for row in unbilled(PERIOD)}
    assert reasons == {"Ignored desk": "ignored", "Child company": "not mapped"}


def test_a_site_below_an_ignored_parent_bills_to_nobody(graphus):
    parent = module_org(graphus, "Ignored parent", ignored=True)
    usage(module_org(graphus, "Desk", parent=parent, kind="site"), "mailboxes", 4)

    [row] = unbilled(PERIOD)

    assert (row.module_organization.name, row.reason) == ("Desk", "its parent is ignored")
    assert row.usage == [("Mailboxes", Decimal(4))]


def test_usage_mapped_to_an_organization_that_cannot_receive_bills_bills_to_nobody(graphus):
    dead = OrganizationFactory(name="Gone Ltd", org_type=OrganizationType.DEAD)
    usage(module_org(graphus, "Gone", organization=dead), "mailboxes", 4)

    assert bills_for(PERIOD) == {}
    [row] = unbilled(PERIOD)
    assert "cannot receive bills" in row.reason


def test_inactive_module_organizations_and_disabled_modules_are_not_billed(acme):
    disabled = synced_module(name="Off", icb_enabled=False)
    usage(module_org(disabled, "Acme off", organization=acme), "users", 4)
    waiting = synced_module(name="Waiting", first_sync_completed_at=None)
    usage(module_org(waiting, "Acme waiting", organization=acme), "users", 4)
    enabled = synced_module(name="On")
    usage(module_org(enabled, "Acme gone", organization=acme, active=False), "users", 4)

    assert bills_for(PERIOD) == {}


def test_a_true_false_billing_type_counts_one_per_module_organization_when_true(
    graphus, acme, acme_hq
):
    usage(acme_hq, "is_enabled", 1)
    usage(module_org(graphus, "Acme 2", organization=acme), "is_enabled", 5)
    usage(module_org(graphus, "Acme 3", organization=acme), "is_enabled", 0)

    assert lines_of(acme)["is_enabled"].quantity == 2


def test_zero_usage_bills_nothing(acme, acme_hq):
    usage(acme_hq, "mailboxes", 0)

    assert bills_for(PERIOD) == {}


def test_the_rate_is_the_organizations_own_price_else_the_default(graphus, acme, globex, acme_hq):
    services.set_price(graphus, "mailboxes", "2.50")
    services.set_price(graphus, "mailboxes", "1.75", organization=acme)
    usage(acme_hq, "mailboxes", 10)
    usage(module_org(graphus, "Globex", organization=globex), "mailboxes", 10)

    assert lines_of(acme)["mailboxes"].rate == Decimal("1.75")
    assert lines_of(globex)["mailboxes"].rate == Decimal("2.50")


def test_usage_with_no_price_is_billed_at_zero_and_flagged(acme, acme_hq):
    usage(acme_hq, "mailboxes", 10)

    line = lines_of(acme)["mailboxes"]

    assert (line.rate, line.amount, line.unpriced) == (0, 0, True)


def test_the_amount_is_rounded_to_cents_half_up(graphus, acme, acme_hq):
    services.set_price(graphus, "mailboxes", "0.125")
    usage(acme_hq, "mailboxes", 1)

    assert lines_of(acme)["mailboxes"].amount == Decimal("0.13")


def test_the_description_names_the_module_billing_type_and_module_organizations(acme, acme_hq):
    usage(acme_hq, "mailboxes", 10)

    assert lines_of(acme)["mailboxes"].description == "Graphus — Mailboxes: ACME HQ (10)"


def test_a_long_description_stays_within_quickbooks_limit_and_says_how_many_more():
    sources = [(f"Module organization {i:04d} " + "x" * 40, Decimal(1)) for i in range(200)]

    text = describe("Graphus", "Mailboxes", sources)

    assert len(text) <= 4095
    assert text.endswith("more")


def test_every_organization_is_billed_in_a_constant_number_of_queries(
    graphus, django_assert_max_num_queries
):
    for i in range(15):
        organization = OrganizationFactory()
        parent = module_org(graphus, f"Org {i}", organization=organization)
        usage(parent, "mailboxes", i + 1)
        usage(module_org(graphus, f"Site {i}", parent=parent, kind="site"), "mailboxes", 1)

    with django_assert_max_num_queries(6):
        bills = bills_for(PERIOD)

    assert len(bills) == 15


def test_a_period_is_written_yyyy_mm():
    assert parse_period("2026-10") == PERIOD
    for bad in ["2026-13", "10/2026", "", "2026-1"]:
        with pytest.raises(ValidationError):
            parse_period(bad)


def test_last_month_of_january_is_december():
    from datetime import date

    assert services.last_month(date(2026, 1, 15)) == date(2025, 12, 1)
