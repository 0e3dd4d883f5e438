"""Every qbXML message the portal can send validates against Intuit's qbXML 13.0 schema, and the
item and invoice answers QuickBooks sends back are read correctly."""

import inspect
from datetime import date
from decimal import Decimal

import pytest
from lxml import etree

from qbwc_soap import qbxml

from .simulator import SAMPLES, QuickBooks, validate
from .test_qbxml import org

CUSTOMER = qbxml.customer_from(org(name='Ampersand & <Angle> "Quotes"'))
LIST_ID = "80000001-1785964190"
ITEM_ID = "80000002-1785964190"


def _lines(count):
    return [
        (ITEM_ID, f"Graphus Users: Acme Site {n}", Decimal("12.0000"), Decimal("3.5000"))
        for n in range(count)
    ]


# One call per message kind RequestBuilder has; test_every_builder_method_is_covered keeps this
# list complete.
MESSAGES = {
    "customer_add": lambda b: b.customer_add("1", CUSTOMER),
    "customer_mod": lambda b: b.customer_mod("1", LIST_ID, "1785964190", CUSTOMER),
    "customer_query_by_name": lambda b: b.customer_query_by_name("1", CUSTOMER.name),
    "customer_query_by_id": lambda b: b.customer_query_by_id("1", LIST_ID),
    "host_query": lambda b: b.host_query("1"),
    "item_query": lambda b: b.item_query("1", "service"),
    "item_query_non_inventory": lambda b: b.item_query("1", "noninventory"),
    "item_query_other_charge": lambda b: b.item_query("1", "othercharge"),
    "invoice_add": lambda b: b.invoice_add(
        "1", LIST_ID, "2026100001", date(2026, 10, 31), _lines(1)
    ),
    "invoice_add_many_lines": lambda b: b.invoice_add(
        "1", LIST_ID, "2026100001", date(2026, 10, 31), _lines(40), memo="October 2026"
    ),
    "invoice_query_by_ref_number": lambda b: b.invoice_query_by_ref_number("1", "2026100001"),
}


def test_every_builder_method_is_covered():
    methods = {
        name
        for name, _ in inspect.getmembers(qbxml.RequestBuilder, inspect.isfunction)
        if not name.startswith("_") and name != "tostring"
    }
    assert methods <= set(MESSAGES)


@pytest.mark.parametrize("version", [(13, 0), (8, 0)])
@pytest.mark.parametrize("message", sorted(MESSAGES))
def test_message_validates_against_the_qbxml_13_schema(message, version):
    builder = qbxml.RequestBuilder(version)
    MESSAGES[message](builder)
    doc = validate(builder.tostring())
    [rq] = doc.find("QBXMLMsgsRq")
    assert rq.get("requestID") == "1"


def test_one_message_with_every_kind_validates():
    builder = qbxml.RequestBuilder()
    for make in MESSAGES.values():
        make(builder)
    doc = validate(builder.tostring())
    assert len(doc.find("QBXMLMsgsRq")) == len(MESSAGES)


@pytest.mark.parametrize(
    ("kind", "tag"),
    [
        ("service", "ItemServiceQueryRq"),
        ("noninventory", "ItemNonInventoryQueryRq"),
        ("othercharge", "ItemOtherChargeQueryRq"),
    ],
)
def test_item_queries_ask_for_active_and_inactive_items(kind, tag):
    builder = qbxml.RequestBuilder()
    builder.item_query("items-1", kind)
    rq = validate(builder.tostring()).find(f"QBXMLMsgsRq/{tag}")
    assert rq.get("requestID") == "items-1"
    assert rq.findtext("ActiveStatus") == "All"


def test_invoice_add_carries_customer_date_number_and_lines_in_schema_order():
    builder = qbxml.RequestBuilder()
    builder.invoice_add(
        "inv-7",
        LIST_ID,
        "2026100007",
        date(2026, 10, 31),
        [
            (ITEM_ID, "Graphus Users", Decimal("12.0000"), Decimal("3.5000")),
            ("80000003-1785964190", "Passly Enabled", Decimal("1"), Decimal("100")),
        ],
        memo="Kaseya modules, October 2026",
    )
    add = validate(builder.tostring()).find(".//InvoiceAddRq/InvoiceAdd")
    assert [child.tag for child in add] == [
        "CustomerRef",
        "TxnDate",
        "RefNumber",
        "Memo",
        "InvoiceLineAdd",
        "InvoiceLineAdd",
    ]
    assert add.findtext("CustomerRef/ListID") == LIST_ID
    assert add.findtext("TxnDate") == "2026-10-31"
    assert add.findtext("RefNumber") == "2026100007"
    first, second = add.findall("InvoiceLineAdd")
    assert [child.tag for child in first] == ["ItemRef", "Desc", "Quantity", "Rate"]
    assert (first.findtext("ItemRef/ListID"), first.findtext("Quantity")) == (ITEM_ID, "12")
    assert first.findtext("Rate") == "3.5"
    assert (second.findtext("Quantity"), second.findtext("Rate")) == ("1", "100")


def test_line_description_is_cleaned_and_fitted_to_4095_characters():
    builder = qbxml.RequestBuilder()
    builder.invoice_add(
        "1", LIST_ID, "1", date(2026, 1, 31), [(ITEM_ID, "\x07" + "d" * 5000, 1, 1)]
    )
    desc = validate(builder.tostring()).findtext(".//InvoiceLineAdd/Desc")
    assert desc == "d" * 4095


def test_a_line_without_description_leaves_desc_out():
    builder = qbxml.RequestBuilder()
    builder.invoice_add("1", LIST_ID, "1", date(2026, 1, 31), [(ITEM_ID, "  ", 1, 1)])
    line = validate(builder.tostring()).find(".//InvoiceLineAdd")
    assert [child.tag for child in line] == ["ItemRef", "Quantity", "Rate"]


@pytest.mark.parametrize("number", ["", "123456789012"])
def test_an_invoice_number_that_does_not_fit_is_refused_not_cut(number):
    builder = qbxml.RequestBuilder()
    with pytest.raises(qbxml.QbxmlValueError, match="1 to 11 characters"):
        builder.invoice_add("1", LIST_ID, number, date(2026, 1, 31), _lines(1))
    assert len(builder) == 0


def test_an_invoice_without_lines_is_refused():
    with pytest.raises(qbxml.QbxmlValueError, match="no lines"):
        qbxml.RequestBuilder().invoice_add("1", LIST_ID, "7", date(2026, 1, 31), [])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("12.0000"), "12"),
        (Decimal("0.1250"), "0.125"),
        (Decimal("3.123456"), "3.12346"),  # five decimals at most, rounded half up
        (Decimal("-0.000001"), "0"),
        (Decimal("9999999999.5"), "9999999999.5"),
        (7, "7"),
    ],
)
def test_quantities_and_rates_match_quantype_and_pricetype(value, expected):
    assert qbxml.quantity(value) == expected
    assert qbxml.price(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(Decimal("206"), "206.00"), (Decimal("0.005"), "0.01"), (0, "0.00")]
)
def test_amounts_have_two_decimals(value, expected):
    assert qbxml.amount(value) == expected


@pytest.mark.parametrize("value", [Decimal("12345678901"), Decimal("NaN"), "lots"])
def test_a_quantity_quickbooks_cannot_hold_is_refused(value):
    with pytest.raises(qbxml.QbxmlValueError):
        qbxml.quantity(value)


def test_an_over_large_line_adds_nothing_to_the_message():
    builder = qbxml.RequestBuilder()
    with pytest.raises(qbxml.QbxmlValueError, match="Quantity"):
        builder.invoice_add(
            "1", LIST_ID, "7", date(2026, 1, 31), [(ITEM_ID, "x", Decimal("1e12"), 1)]
        )
    assert len(builder) == 0


# --- reading answers ------------------------------------------------------------------------


def test_reads_the_real_invoice_add_answer():
    envelope = etree.parse(str(SAMPLES / "invoice_add_rs_in_receiveResponseXML_soap.xml"))
    text = envelope.find(".//{http://developer.intuit.com/}response").text
    [rs] = qbxml.parse_response(text)
    assert (rs.kind, rs.status_code, rs.ok) == ("InvoiceAddRs", 0, True)
    [ret] = rs.rets
    assert isinstance(ret, qbxml.InvoiceRet)
    assert ret.txn_id == "C5-1417118624"
    assert ret.edit_sequence == "1417118624"
    assert ret.ref_number == "R1TT46883"
    assert ret.customer_list_id == "80000013-1416570432"
    assert ret.subtotal == Decimal("206.00")
    assert ret.total == Decimal("206.00")


def test_reads_status_1_as_no_match_and_3140_as_an_error():
    envelope = etree.parse(str(SAMPLES / "batch_rs_status1_no_match_and_salesorderadd_in_soap.xml"))
    text = envelope.find(".//{http://developer.intuit.com/}response").text
    responses = qbxml.parse_response(text)
    assert [(r.status_code, r.no_match, r.ok) for r in responses] == [
        (1, True, False),
        (1, True, False),
        (0, False, True),
        (3140, False, False),
    ]
    assert "invalid reference to QuickBooks Customer" in responses[3].message


def test_reads_item_rets_of_every_kind_with_their_descriptions():
    quickbooks = QuickBooks()
    quickbooks.add_item("Services:Managed Users", "service", description="Per user")
    quickbooks.add_item("Licence", "noninventory", description="Sold", sales_and_purchase=True)
    quickbooks.add_item("Setup fee", "othercharge", active=False)
    builder = qbxml.RequestBuilder()
    for kind in qbxml.ITEM_KINDS:
        builder.item_query(kind, kind)
    responses = qbxml.parse_response(quickbooks.answer(builder.tostring()))
    rets = {rs.request_id: rs.rets for rs in responses}
    [service] = rets["service"]
    assert isinstance(service, qbxml.ItemRet)
    assert (service.full_name, service.name, service.kind) == (
        "Services:Managed Users",
        "Managed Users",
        "service",
    )
    assert (service.active, service.description) == (True, "Per user")
    [licence] = rets["noninventory"]
    assert (licence.kind, licence.description) == ("noninventory", "Sold")
    [setup] = rets["othercharge"]
    assert (setup.kind, setup.active, setup.description) == ("othercharge", False, "")


def test_customer_rets_are_read_as_before():
    [rs] = qbxml.parse_response((SAMPLES / "customer_add_rs.xml").read_text())
    assert isinstance(rs.rets[0], qbxml.Ret)
    assert rs.rets[0].list_id and rs.rets[0].edit_sequence
