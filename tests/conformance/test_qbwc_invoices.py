"""Invoices over real HTTP, zeep speaking Intuit's WSDL to the live server and the simulator
validating every qbXML message against the 13.0 schema: the item list is read from QuickBooks,
an admin maps a billing type to one of its items, and the next conversation sends the invoice,
to its own connector's company file only."""

from billing.models import Invoice, InvoiceStatus, ItemMapping, QuickBooksItem
from connectors.services import map_organization
from tests.connectors.factories import CONNECTOR_PASSWORD
from tests.organizations.factories import OrganizationFactory
from tests.qbwc_soap.invoice_support import approved_invoice, module
from tests.qbwc_soap.simulator import QuickBooks
from tests.qbwc_soap.soap import Conversation

from .test_qbwc_conformance import ZeepQbwc


def _map_read_item(connector, mod, full_name):
    """What an admin does on the Billing Item Mapping page, with an item QuickBooks listed."""
    item = QuickBooksItem.objects.get(connector=connector, full_name=full_name)
    ItemMapping.objects.create(connector=connector, module=mod, billing_type="users", item=item)


def test_invoices_over_http_reach_only_their_connectors_company_file(
    intuit, default_connector, other_connector
):
    # given two company files with an item each, and an organization on each connector
    main_file, second_file = QuickBooks("Main"), QuickBooks("Second")
    main_file.add_item("Monitoring", "service")
    second_file.add_item("Monitoring fee", "othercharge")
    stays, moved = OrganizationFactory(), OrganizationFactory()
    map_organization(moved, other_connector)
    mod = module()

    def converse(quickbooks, username):
        return Conversation(ZeepQbwc(intuit), quickbooks, username, CONNECTOR_PASSWORD).run()

    # when the first conversations read the items (and add the customers)
    assert converse(main_file, "main").startswith("3 item lists read, 1 customer added")
    assert converse(second_file, "second").startswith("3 item lists read, 1 customer added")
    # and an admin maps the billing type to each file's item, then invoices are approved
    _map_read_item(default_connector, mod, "Monitoring")
    _map_read_item(other_connector, mod, "Monitoring fee")
    stays_invoice, moved_invoice = approved_invoice(stays, mod), approved_invoice(moved, mod)
    # then the next conversations send each invoice to its own file
    assert converse(main_file, "main") == "0 customers added, 0 updated, 1 invoice sent, 0 errors"
    assert (
        converse(second_file, "second") == "0 customers added, 0 updated, 1 invoice sent, 0 errors"
    )
    assert [i["RefNumber"] for i in main_file.invoices_numbered(stays_invoice.ref_number)] == [
        stays_invoice.ref_number
    ]
    assert main_file.invoice_count == second_file.invoice_count == 1
    assert second_file.invoices_numbered(moved_invoice.ref_number)
    assert set(Invoice.objects.values_list("status", flat=True)) == {InvoiceStatus.IN_QUICKBOOKS}
