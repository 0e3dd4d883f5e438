"""A QuickBooks Desktop simulator: it validates every qbXML message the server sends against
Intuit's qbXML 13.0 schema and answers the way QuickBooks does, building its answers from the
real captured responses in ../shared/qbwc/samples/."""

import copy
import itertools
from decimal import Decimal
from pathlib import Path

from lxml import etree

SHARED = Path(__file__).resolve().parents[3] / "shared" / "qbwc"
if not SHARED.exists():
    SHARED = Path("/work/shared/qbwc")
SAMPLES = SHARED / "samples"
WSDL = SHARED / "QBWebConnectorSvc.wsdl"

_schema = None


def schema() -> etree.XMLSchema:
    global _schema
    if _schema is None:
        _schema = etree.XMLSchema(etree.parse(str(SHARED / "schema" / "qbxmlops130.xsd")))
    return _schema


def sample(name: str) -> etree._Element:
    return etree.parse(str(SAMPLES / name)).getroot()


def validate(qbxml_text: str) -> etree._Element:
    """Parse a qbXML request and assert it is valid against qbxmlops130.xsd, with both
    processing instructions."""
    assert qbxml_text.startswith('<?xml version="1.0" encoding="utf-8"?>'), qbxml_text[:80]
    assert '<?qbxml version="' in qbxml_text.splitlines()[1]
    doc = etree.fromstring(qbxml_text.encode())
    assert schema().validate(doc), schema().error_log
    return doc


def _rs_from_sample(file_name, kind, code):
    """The first …Rs element in a sample with this status code."""
    root = sample(file_name)
    for rs in root.iter(kind):
        if rs.get("statusCode") == str(code):
            return copy.deepcopy(rs)
    raise LookupError(f"{kind} {code} not in {file_name}")


# Real status lines, from the captured responses.
ADD_OK = ("customer_add_rs.xml", "CustomerAddRs", 0)
ADD_3100 = ("customer_add_batch_rs_3100_3130_3250.xml", "CustomerAddRs", 3100)
ADD_3250 = ("customer_add_batch_rs_3100_3130_3250.xml", "CustomerAddRs", 3250)
QUERY_500 = ("customer_query_rs_500_warn.xml", "CustomerQueryRs", 500)
QUERY_3120 = ("customer_query_rs_3120_error.xml", "CustomerQueryRs", 3120)


def _batch_sample():
    # The captured batch answer is inside a SOAP body, escaped as text.
    envelope = sample("batch_rs_status1_no_match_and_salesorderadd_in_soap.xml")
    text = envelope.find(".//{http://developer.intuit.com/}response").text
    return etree.fromstring(text.encode())


def _status_1():
    return dict(_batch_sample().find(".//ItemInventoryQueryRs").attrib)


def _status_3140(list_name, reference):
    """QuickBooks' 3140 for an InvoiceAdd naming a record that is not in a list, worded like the
    captured SalesOrderAdd answer."""
    for rs in _batch_sample().iter("SalesOrderAddRs"):
        if rs.get("statusCode") == "3140":
            message = rs.get("statusMessage")
            before, _, rest = message.partition('"')
            message = before + '"' + reference + '"' + rest.partition('"')[2]
            message = message.replace("QuickBooks Customer", f"QuickBooks {list_name}")
            return dict(rs.attrib, statusMessage=message.replace("SalesOrder", "Invoice"))
    raise LookupError("3140 not in the batch sample")


# Errors a test can make QuickBooks answer (status code → message), from Intuit's status-code
# page.
INVOICE_ERRORS = {
    3180: "There was an error when saving a Invoice.  QuickBooks error message: This "
    "transaction is in a closed period.",
    3200: "The provided edit sequence is out-of-date.",
    3250: "This feature is not enabled or not available in this version of QuickBooks.",
}

ITEM_RETS = {
    "service": ("ItemServiceQueryRq", "ItemServiceRet"),
    "noninventory": ("ItemNonInventoryQueryRq", "ItemNonInventoryRet"),
    "othercharge": ("ItemOtherChargeQueryRq", "ItemOtherChargeRet"),
}
_ITEM_KIND_BY_QUERY = {query: kind for kind, (query, _) in ITEM_RETS.items()}


class AnswerLost(Exception):
    """The conversation died after QuickBooks processed the message: QuickBooks did the work,
    the server never hears the answer (QBWC crashed, the network went away…)."""


class QuickBooks:
    """One company file's customer list, answering qbXML like QuickBooks Desktop."""

    def __init__(self, company_name="Simulated Company"):
        self.company_name = company_name
        self.customers = {}  # ListID → dict
        self._by_name = {}  # lower-case Name → ListID (QuickBooks names are case-insensitive)
        self.requests = []  # every validated request document
        self.fail_names = {}  # customer Name → status code to answer with (e.g. 3250)
        self.vendor_names = set()  # names another list (vendors…) uses: no customer may take them
        self._ids = itertools.count(0x80000001)
        self._seq = itertools.count(1785964190)
        # What a ListID query finds nothing with: QuickBooks answers 500 (or 3120 in older files).
        self.missing_list_id_status = 500
        self.items = {}  # ListID → dict (kind, Name, FullName, IsActive, Desc)
        # RefNumber (lower case: QuickBooks matches numbers regardless of case) → the invoices
        # with that number, in the order they were created. QuickBooks allows duplicates.
        self.invoices = {}
        self._txn_ids = itertools.count(0x1000)
        self.fail_invoices = {}  # RefNumber → status code to answer its InvoiceAdd with
        self.fail_invoice_queries = {}  # RefNumber → status code to answer its InvoiceQuery with
        self.item_query_status = {}  # item kind → status code to answer its query with
        # How many coming messages holding an InvoiceAdd lose their answer (AnswerLost).
        self.lose_invoice_add_answers = 0

    # --- the customer list, as a user editing QuickBooks would change it ----------------------

    def add_customer(self, name, **fields):
        list_id = f"{next(self._ids):X}-1785964190"
        self.customers[list_id] = {
            "ListID": list_id,
            "EditSequence": str(next(self._seq)),
            "Name": name,
            **fields,
        }
        self._by_name[name.lower()] = list_id
        return self.customers[list_id]

    def delete(self, list_id):
        """Someone deleted the customer in QuickBooks."""
        customer = self.customers.pop(list_id)
        self._by_name.pop(customer["Name"].lower(), None)

    def touch(self, list_id):
        """Someone edited the customer in QuickBooks: its EditSequence moves on."""
        self.customers[list_id]["EditSequence"] = str(next(self._seq))

    def by_name(self, name):
        return self.customers.get(self._by_name.get(name.lower()))

    # --- items and invoices, as a user of the company file would change them --------------------

    def add_item(
        self, full_name, kind="service", active=True, description="", sales_and_purchase=False
    ):
        """An item of this company file. `sales_and_purchase`: bought and sold, so QuickBooks
        reports its description as SalesAndPurchase/SalesDesc."""
        assert kind in ITEM_RETS, kind
        list_id = f"{next(self._ids):X}-1785964190"
        self.items[list_id] = {
            "ListID": list_id,
            "EditSequence": str(next(self._seq)),
            "kind": kind,
            "Name": full_name.rpartition(":")[2],
            "FullName": full_name,
            "IsActive": active,
            "Desc": description,
            "sales_and_purchase": sales_and_purchase,
        }
        return self.items[list_id]

    def invoices_numbered(self, ref_number):
        """Every invoice QuickBooks has with this RefNumber (a list: duplicates are allowed)."""
        return self.invoices.get(ref_number.lower(), [])

    def add_invoice(self, ref_number, customer_list_id, txn_date="2026-10-31", lines=()):
        """An invoice someone made in QuickBooks (or an InvoiceAdd that was processed)."""
        invoice = {
            "TxnID": f"{next(self._txn_ids):X}-1785964190",
            "EditSequence": str(next(self._seq)),
            "RefNumber": ref_number,
            "CustomerListID": customer_list_id,
            "TxnDate": txn_date,
            "lines": list(lines),  # (item ListID, Desc, Quantity, Rate) as sent
        }
        self.invoices.setdefault(ref_number.lower(), []).append(invoice)
        return invoice

    @property
    def invoice_count(self):
        return sum(len(found) for found in self.invoices.values())

    # --- answering ------------------------------------------------------------------------------

    def hcp_response(self) -> str:
        return (
            '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs>'
            '<HostQueryRs statusCode="0" statusSeverity="Info" statusMessage="Status OK"><HostRet>'
            "<ProductName>QuickBooks Enterprise Solutions 23.0</ProductName>"
            "<MajorVersion>33</MajorVersion><MinorVersion>0</MinorVersion><Country>US</Country>"
            "<SupportedQBXMLVersion>1.0</SupportedQBXMLVersion>"
            "<SupportedQBXMLVersion>13.0</SupportedQBXMLVersion>"
            "<SupportedQBXMLVersion>16.0</SupportedQBXMLVersion>"
            "<IsAutomaticLogin>false</IsAutomaticLogin><QBFileMode>SingleUser</QBFileMode>"
            "</HostRet></HostQueryRs>"
            '<CompanyQueryRs statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
            f"<CompanyRet><IsSampleCompany>false</IsSampleCompany><CompanyName>{self.company_name}"
            "</CompanyName></CompanyRet></CompanyQueryRs>"
            "</QBXMLMsgsRs></QBXML>"
        )

    def _ret(self, customer):
        template = sample(ADD_OK[0]).find(".//CustomerRet")
        ret = etree.Element("CustomerRet")
        for tag in ("ListID", "TimeCreated", "TimeModified", "EditSequence", "Name", "FullName"):
            el = etree.SubElement(ret, tag)
            el.text = template.findtext(tag)
        ret.find("ListID").text = customer["ListID"]
        ret.find("EditSequence").text = customer["EditSequence"]
        ret.find("Name").text = customer["Name"]
        ret.find("FullName").text = customer["Name"]
        for tag in ("CompanyName", "Email", "Phone"):
            if customer.get(tag):
                etree.SubElement(ret, tag).text = customer[tag]
        return ret

    def _status(self, kind, request_id, source, name=None):
        rs = _rs_from_sample(*source)
        rs.tag = kind
        rs.attrib.pop("requestID", None)
        rs.set("requestID", request_id)
        for child in list(rs):
            rs.remove(child)
        if name is not None and '"' in (rs.get("statusMessage") or ""):
            before, _, rest = rs.get("statusMessage").partition('"')
            rs.set("statusMessage", before + '"' + name + '"' + rest.partition('"')[2])
        return rs

    def _ok(self, kind, request_id, customer):
        rs = etree.Element(kind, requestID=request_id, statusCode="0", statusSeverity="Info")
        rs.set("statusMessage", "Status OK")
        rs.append(self._ret(customer))
        return rs

    @staticmethod
    def _fields(element):
        values = {child.tag: child.text for child in element if child.text and len(child) == 0}
        bill = element.find("BillAddress")
        if bill is not None:
            values.update({f"Bill{child.tag}": child.text for child in bill})
        return values

    def answer(self, qbxml_text: str) -> str:
        """QuickBooks' qbXML response to one request message."""
        doc = validate(qbxml_text)
        self.requests.append(doc)
        msgs = doc.find("QBXMLMsgsRq")
        assert msgs.get("onError") == "continueOnError"
        out = etree.Element("QBXML")
        rs_parent = etree.SubElement(out, "QBXMLMsgsRs")
        for rq in msgs:
            rs_parent.append(self._answer_one(rq))
        if self.lose_invoice_add_answers and msgs.find("InvoiceAddRq") is not None:
            self.lose_invoice_add_answers -= 1
            raise AnswerLost("QuickBooks processed the message; its answer never arrives")
        return '<?xml version="1.0" ?>\n' + etree.tostring(out, encoding="unicode")

    def _answer_one(self, rq):
        rid = rq.get("requestID")
        assert rid, "every request carries a requestID"
        kind = rq.tag[:-2] + "Rs"
        if rq.tag == "HostQueryRq":
            return etree.Element(
                kind, requestID=rid, statusCode="0", statusSeverity="Info", statusMessage="OK"
            )
        if rq.tag == "CustomerAddRq":
            fields = self._fields(rq.find("CustomerAdd"))
            name = fields["Name"]
            if name in self.fail_names:
                return self._status(kind, rid, self.fail_names[name])
            if self.by_name(name) or name in self.vendor_names:
                return self._status(kind, rid, ADD_3100, name)
            fields.pop("Name")
            return self._ok(kind, rid, self.add_customer(name, **fields))
        if rq.tag == "CustomerModRq":
            fields = self._fields(rq.find("CustomerMod"))
            customer = self.customers.get(fields["ListID"])
            if customer is None:
                return self._status(kind, rid, QUERY_3120, fields["ListID"])
            if customer["EditSequence"] != fields["EditSequence"]:
                rs = etree.Element(kind, requestID=rid, statusCode="3200", statusSeverity="Error")
                rs.set("statusMessage", "The provided edit sequence is out-of-date.")
                return rs
            self._by_name.pop(customer["Name"].lower(), None)
            customer.update({k: v for k, v in fields.items() if k not in ("EditSequence",)})
            self._by_name[customer["Name"].lower()] = customer["ListID"]
            self.touch(customer["ListID"])
            return self._ok(kind, rid, customer)
        if rq.tag == "CustomerQueryRq":
            name = rq.findtext("FullName")
            list_id = rq.findtext("ListID")
            customer = self.by_name(name) if name else self.customers.get(list_id)
            if customer is not None:
                return self._ok(kind, rid, customer)
            if name:
                rs = etree.Element(kind, requestID=rid, **_status_1())
                return rs
            source = QUERY_500 if self.missing_list_id_status == 500 else QUERY_3120
            return self._status(kind, rid, source, list_id)
        if rq.tag in _ITEM_KIND_BY_QUERY:
            return self._answer_item_query(rq, kind, rid, _ITEM_KIND_BY_QUERY[rq.tag])
        if rq.tag == "InvoiceAddRq":
            return self._answer_invoice_add(rq.find("InvoiceAdd"), kind, rid)
        if rq.tag == "InvoiceQueryRq":
            ref_number = rq.findtext("RefNumber")
            assert ref_number, "invoices are looked up by RefNumber"
            if ref_number in self.fail_invoice_queries:
                code = self.fail_invoice_queries[ref_number]
                rs = etree.Element(
                    kind, requestID=rid, statusCode=str(code), statusSeverity="Error"
                )
                rs.set("statusMessage", INVOICE_ERRORS.get(code, f"Simulated error {code}"))
                return rs
            found = self.invoices_numbered(ref_number)
            if not found:
                return etree.Element(kind, requestID=rid, **_status_1())
            rs = self._ok_status(kind, rid)
            rs.extend(self._invoice_ret(invoice) for invoice in found)
            return rs
        raise AssertionError(f"unexpected request {rq.tag}")

    @staticmethod
    def _ok_status(kind, request_id):
        rs = etree.Element(kind, requestID=request_id, statusCode="0", statusSeverity="Info")
        rs.set("statusMessage", "Status OK")
        return rs

    def _answer_item_query(self, rq, kind, rid, item_kind):
        status = self.item_query_status.get(item_kind)
        if status is not None:
            rs = etree.Element(kind, requestID=rid, statusCode=str(status), statusSeverity="Error")
            rs.set("statusMessage", INVOICE_ERRORS.get(status, f"Simulated error {status}"))
            return rs
        wanted = rq.findtext("ActiveStatus") or "ActiveOnly"
        found = [
            item
            for item in self.items.values()
            if item["kind"] == item_kind
            and (wanted == "All" or item["IsActive"] == (wanted == "ActiveOnly"))
        ]
        if not found:
            return etree.Element(kind, requestID=rid, **_status_1())
        rs = self._ok_status(kind, rid)
        rs.extend(self._item_ret(item) for item in found)
        return rs

    def _item_ret(self, item):
        template = sample(ADD_OK[0]).find(".//CustomerRet")
        ret = etree.Element(ITEM_RETS[item["kind"]][1])
        for tag in ("ListID", "TimeCreated", "TimeModified", "EditSequence", "Name", "FullName"):
            etree.SubElement(ret, tag).text = item.get(tag) or template.findtext(tag)
        etree.SubElement(ret, "IsActive").text = "true" if item["IsActive"] else "false"
        etree.SubElement(ret, "Sublevel").text = str(item["FullName"].count(":"))
        if item["sales_and_purchase"]:
            both = etree.SubElement(ret, "SalesAndPurchase")
            if item["Desc"]:
                etree.SubElement(both, "SalesDesc").text = item["Desc"]
            etree.SubElement(both, "SalesPrice").text = "0.00"
        else:
            one = etree.SubElement(ret, "SalesOrPurchase")
            if item["Desc"]:
                etree.SubElement(one, "Desc").text = item["Desc"]
            etree.SubElement(one, "Price").text = "0.00"
        return ret

    def _answer_invoice_add(self, add, kind, rid):
        ref_number = add.findtext("RefNumber")
        if ref_number in self.fail_invoices:
            code = self.fail_invoices[ref_number]
            rs = etree.Element(kind, requestID=rid, statusCode=str(code), statusSeverity="Error")
            rs.set("statusMessage", INVOICE_ERRORS.get(code, f"Simulated error {code}"))
            return rs
        customer_list_id = add.findtext("CustomerRef/ListID")
        if customer_list_id not in self.customers:
            return etree.Element(kind, requestID=rid, **_status_3140("Customer", customer_list_id))
        lines = []
        for line in add.iter("InvoiceLineAdd"):
            item_list_id = line.findtext("ItemRef/ListID")
            if item_list_id not in self.items:
                return etree.Element(kind, requestID=rid, **_status_3140("Item", item_list_id))
            lines.append(
                (
                    item_list_id,
                    line.findtext("Desc") or "",
                    line.findtext("Quantity"),
                    line.findtext("Rate"),
                )
            )
        invoice = self.add_invoice(ref_number, customer_list_id, add.findtext("TxnDate"), lines)
        rs = self._ok_status(kind, rid)
        rs.append(self._invoice_ret(invoice))
        return rs

    def _invoice_ret(self, invoice):
        customer = self.customers.get(invoice["CustomerListID"], {})
        subtotal = sum(
            (Decimal(qty or "0") * Decimal(rate or "0")).quantize(Decimal("0.01"))
            for _, _, qty, rate in invoice["lines"]
        )
        ret = etree.Element("InvoiceRet")
        etree.SubElement(ret, "TxnID").text = invoice["TxnID"]
        etree.SubElement(ret, "TimeCreated").text = "2026-11-01T08:00:00-05:00"
        etree.SubElement(ret, "TimeModified").text = "2026-11-01T08:00:00-05:00"
        etree.SubElement(ret, "EditSequence").text = invoice["EditSequence"]
        etree.SubElement(ret, "TxnNumber").text = invoice["TxnID"].split("-")[0]
        ref = etree.SubElement(ret, "CustomerRef")
        etree.SubElement(ref, "ListID").text = invoice["CustomerListID"]
        etree.SubElement(ref, "FullName").text = customer.get("Name", "")
        etree.SubElement(ret, "TxnDate").text = invoice["TxnDate"]
        etree.SubElement(ret, "RefNumber").text = invoice["RefNumber"]
        etree.SubElement(ret, "IsPending").text = "false"
        etree.SubElement(ret, "Subtotal").text = f"{subtotal:.2f}"
        etree.SubElement(ret, "SalesTaxPercentage").text = "0.00"
        etree.SubElement(ret, "SalesTaxTotal").text = "0.00"
        etree.SubElement(ret, "AppliedAmount").text = "0.00"
        etree.SubElement(ret, "BalanceRemaining").text = f"{subtotal:.2f}"
        return ret
