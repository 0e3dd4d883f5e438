"""Invoices from draft to approved: create, regenerate, approve, supplementary drafts, retry."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing import services
from billing.models import Invoice, InvoiceEvent, InvoiceStatus
from connectors.services import map_organization
from tests.conftest import make_user

from .factories import PERIOD, module_org, usage

pytestmark = pytest.mark.django_db


@pytest.fixture
def priced(graphus):
    services.set_price(graphus, "mailboxes", "2.00")
    services.set_price(graphus, "is_enabled", "10")
    return graphus


def drafts():
    return list(Invoice.objects.filter(status=InvoiceStatus.DRAFT))


def test_a_draft_is_created_for_each_organization_with_usage(priced, acme, globex, acme_hq):
    usage(acme_hq, "mailboxes", 10)
    usage(acme_hq, "is_enabled", 1)

    summary = services.create_invoices("2026-10")

    [invoice] = drafts()
    assert (summary.created, invoice.organization, invoice.period) == (1, acme, PERIOD)
    lines = list(invoice.lines.order_by("position"))
    assert [(ln.billing_type, ln.quantity, ln.rate, ln.amount) for ln in lines] == [
        ("mailboxes", 10, 2, Decimal("20.00")),
        ("is_enabled", 1, 10, Decimal("10.00")),
    ]
    assert invoice.total == Decimal("30.00")


def test_running_a_period_again_regenerates_the_draft_in_place(priced, acme, acme_hq):
    usage(acme_hq, "mailboxes", 10)
    services.create_invoices(PERIOD)
    [before] = drafts()
    usage(acme_hq, "mailboxes", 12, PERIOD + timedelta(days=20))

    summary = services.create_invoices(PERIOD)

    [after] = drafts()
    assert (summary.created, summary.regenerated) == (0, 1)
    assert after.pk == before.pk
    assert after.total == Decimal("24.00")
    assert after.lines.count() == 1


def test_a_draft_with_no_usage_any_more_is_deleted(priced, acme, acme_hq):
    usage(acme_hq, "mailboxes", 10)
    services.create_invoices(PERIOD)
    acme_hq.organization = None
    acme_hq.save()

    summary = services.create_invoices(PERIOD)

    assert summary.deleted == 1
    assert not Invoice.objects.exists()


def test_approving_gives_a_unique_ref_number_and_locks_the_invoice(
    priced, acme, globex, acme_hq, settings
):
    settings.INVOICE_REF_PREFIX = "MP"
    usage(acme_hq, "mailboxes", 10)
    usage(module_org(priced, "Globex", organization=globex), "mailboxes", 3)
    services.create_invoices(PERIOD)
    user = make_user("approver")

    result = services.approve(drafts(), user)

    refs = sorted(invoice.ref_number for invoice in result.approved)
    assert refs == ["MP000000001", "MP000000002"]
    invoice = Invoice.objects.get(organization=acme)
    assert (invoice.status, invoice.approved_by, invoice.is_locked) == ("approved", user, True)
    assert InvoiceEvent.objects.filter(invoice=invoice, action="approved").exists()


def test_approval_records_where_the_organization_goes_at_that_moment(
    priced, acme, acme_hq, default_connector, other_connector
):
    map_organization(acme, other_connector)
    usage(acme_hq, "mailboxes", 10)
    services.create_invoices(PERIOD)

    [invoice] = services.approve(drafts()).approved

    assert invoice.approved_connector_name == "Second company file"


def test_an_approved_invoice_never_changes_when_the_period_runs_again(priced, acme, acme_hq):
    usage(acme_hq, "mailboxes", 10)
    services.create_invoices(PERIOD, approve=True)
    services.set_price(priced, "mailboxes", "5")

    summary = services.create_invoices(PERIOD)

    [invoice] = Invoice.objects.all()
    assert (invoice.status, invoice.total) == ("approved", Decimal("20.00"))
    assert summary.unchanged_approved == 1


def test_a_rerun_adds_only_quantity_increases_and_new_lines_beyond_approved_invoices(
    priced, acme, acme_hq
):
    # given an approved invoice for 10 mailboxes
    usage(acme_hq, "mailboxes", 10)
    services.create_invoices(PERIOD, approve=True)
    approved = Invoice.objects.get()
    # when usage grows to 14 and a True/False billing type appears, and the period runs again
    usage(acme_hq, "mailboxes", 14, PERIOD + timedelta(days=25))
    usage(acme_hq, "is_enabled", 1, PERIOD + timedelta(days=25))
    summary = services.create_invoices(PERIOD)
    # then a supplementary draft holds only the 4 more mailboxes and the new line
    [extra] = drafts()
    assert summary.supplementary == 1 and extra.supplementary
    lines = {ln.billing_type: ln for ln in extra.lines.all()}
    assert lines["mailboxes"].quantity == 4
    assert f"beyond 10 on {approved.ref_number}" in lines["mailboxes"].description
    assert lines["is_enabled"].quantity == 1
    assert extra.total == Decimal("18.00")


def test_a_decrease_after_approval_is_never_credited(priced, acme, acme_hq):
    usage(acme_hq, "mailboxes", 10)
    services.create_invoices(PERIOD, approve=True)
    usage(acme_hq, "mailboxes", 4, PERIOD + timedelta(days=25))

    services.create_invoices(PERIOD)

    assert drafts() == []
    assert Invoice.objects.get().total == Decimal("20.00")


def test_a_draft_with_an_unpriced_line_is_not_approved(graphus, acme, acme_hq):
    usage(acme_hq, "mailboxes", 10)
    services.create_invoices(PERIOD)

    result = services.approve(drafts())

    assert result.approved == []
    [why] = result.refused.values()
    assert "no price for Graphus Mailboxes" in why


def test_an_explicit_price_of_zero_can_be_approved(graphus, acme, acme_hq):
    services.set_price(graphus, "mailboxes", "0")
    usage(acme_hq, "mailboxes", 10)
    services.create_invoices(PERIOD)

    assert len(services.approve(drafts()).approved) == 1


def test_approving_twice_gives_no_second_number(priced, acme, acme_hq):
    usage(acme_hq, "mailboxes", 10)
    services.create_invoices(PERIOD, approve=True)
    invoice = Invoice.objects.get()

    result = services.approve([invoice])

    assert result.approved == [] and result.refused == {}
    invoice.refresh_from_db()
    assert invoice.ref_number.endswith("1")


def test_regenerating_one_draft_leaves_the_others_alone(priced, acme, globex, acme_hq):
    usage(acme_hq, "mailboxes", 10)
    globex_org = module_org(priced, "Globex", organization=globex)
    usage(globex_org, "mailboxes", 3)
    services.create_invoices(PERIOD)
    usage(acme_hq, "mailboxes", 11, PERIOD + timedelta(days=20))
    usage(globex_org, "mailboxes", 30, PERIOD + timedelta(days=20))

    fresh = services.regenerate(Invoice.objects.get(organization=acme))

    assert fresh.total == Decimal("22.00")
    assert Invoice.objects.get(organization=globex).total == Decimal("6.00")


def test_an_approved_invoice_cannot_be_regenerated(priced, acme, acme_hq):
    usage(acme_hq, "mailboxes", 10)
    services.create_invoices(PERIOD, approve=True)

    with pytest.raises(ValidationError):
        services.regenerate(Invoice.objects.get())


def test_retry_puts_a_refused_invoice_back_to_approved_with_no_connector(
    priced, acme, acme_hq, default_connector
):
    usage(acme_hq, "mailboxes", 10)
    services.create_invoices(PERIOD, approve=True)
    Invoice.objects.update(
        status=InvoiceStatus.FAILED,
        error_code=3140,
        error="Invalid reference",
        connector=default_connector,
    )

    invoice = services.retry(Invoice.objects.get(), make_user("fixer"))

    invoice.refresh_from_db()
    assert (invoice.status, invoice.error_code, invoice.error) == ("approved", None, "")
    assert invoice.connector is None
    assert invoice.events.filter(action="retried", note__contains="3140").exists()


def test_only_a_refused_invoice_can_be_retried(priced, acme, acme_hq):
    usage(acme_hq, "mailboxes", 10)
    services.create_invoices(PERIOD, approve=True)

    with pytest.raises(ValidationError):
        services.retry(Invoice.objects.get())


def test_create_invoices_writes_in_a_constant_number_of_queries(
    priced, django_assert_max_num_queries
):
    from tests.organizations.factories import OrganizationFactory

    for i in range(12):
        usage(module_org(priced, f"Org {i}", organization=OrganizationFactory()), "mailboxes", 2)

    with django_assert_max_num_queries(20):
        summary = services.create_invoices(PERIOD)

    assert summary.created == 12
