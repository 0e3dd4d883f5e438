"""Two admins approving at once never draw the same invoice number."""

import threading

import pytest
from django.db import connection

from billing import services
from billing.models import Invoice
from tests.organizations.factories import OrganizationFactory

from .factories import PERIOD, module_org, synced_module, usage

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="SQLite serialises writers; the race needs PostgreSQL (CI runs it there)",
    ),
    pytest.mark.django_db(transaction=True),
]


def test_two_approvals_at_once_get_distinct_numbers():
    # given four drafts and no invoice number drawn yet
    module = synced_module(billing_types=[{"code": "users", "name": "Users", "unit": "count"}])
    services.set_price(module, "users", "1")
    for i in range(4):
        usage(module_org(module, f"Org {i}", organization=OrganizationFactory()), "users", 1)
    services.create_invoices(PERIOD)
    drafts = list(Invoice.objects.order_by("pk").values_list("pk", flat=True))
    barrier = threading.Barrier(2)
    errors = []

    def approve(pks):
        try:
            barrier.wait(timeout=10)
            services.approve(pks)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    # when two admins approve two each at the same moment
    threads = [threading.Thread(target=approve, args=(part,)) for part in (drafts[:2], drafts[2:])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # then all four are approved with four different numbers
    assert errors == []
    refs = sorted(Invoice.objects.values_list("ref_number", flat=True))
    assert refs == [f"MP00000000{n}" for n in range(1, 5)]
