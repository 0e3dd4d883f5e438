"""qbXML: building requests, parsing responses, and QuickBooks Desktop's field limits.

This is the one place that knows QuickBooks' length limits (qbxmlops130.xml comments, "for QBD").
QuickBooks rejects an over-long value instead of truncating it, so every value is fitted here
before it is queued, deterministically, so the same organization always produces the same request.
"""

import hashlib
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from lxml import etree

# Customer fields, QuickBooks Desktop (QBD|QBCA|QBUK|QBAU) maximum lengths.
LIMITS = {
    "Name": 41,
    "CompanyName": 41,
    "Addr1": 41,
    "Addr2": 41,
    "City": 31,
    "State": 21,
    "PostalCode": 13,
    "Country": 31,
    "Phone": 21,
    "Email": 1023,
    "Notes": 4095,
}

# Invoice fields (InvoiceAdd in qbxmlops130.xsd).
INVOICE_LIMITS = {"RefNumber": 11, "Memo": 4095, "Desc": 4095}

# Numbers as the schema's types allow them (qbxmltypes130.xsd): QUANTYPE and PRICETYPE are at most
# 10 digits before the point and 1-5 after it, AMTTYPE at most 13 before and exactly 2 after.
QUANTITY_DIGITS = (10, 5)
PRICE_DIGITS = (10, 5)
AMOUNT_DIGITS = (13, 2)

# The item types an invoice line may use for a billed service, by the key the rest of the
# portal uses for them (billing.models.QuickBooksItem.Kind values), with their query and Ret.
ITEM_KINDS = {
    "service": ("ItemServiceQueryRq", "ItemServiceRet"),
    "noninventory": ("ItemNonInventoryQueryRq", "ItemNonInventoryRet"),
    "othercharge": ("ItemOtherChargeQueryRq", "ItemOtherChargeRet"),
}
_ITEM_KIND_BY_RET = {ret: kind for kind, (_, ret) in ITEM_KINDS.items()}

# The qbXML versions we can produce; the request never announces more than QuickBooks supports.
NEWEST_VERSION = (13, 0)
OLDEST_VERSION = (2, 0)

# XML 1.0 forbids most control characters; QuickBooks rejects the whole message on one of them.
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# ':' separates levels in a QuickBooks FullName, so it cannot appear inside a Name.
_NAME_FORBIDDEN = re.compile("[:\t\r\n]")


def clean(value) -> str:
    """Text safe to put in qbXML: no XML-invalid characters, surrounding spaces removed."""
    if value.__class__ is not str:
        value = str(value or "")
    if value.isprintable():  # no control characters at all: the common case, checked in C
        return value.strip()
    return _INVALID_XML_CHARS.sub("", value).strip()


def fit(value: str, limit: int) -> str:
    return value[:limit].rstrip()


class QbxmlValueError(ValueError):
    """A value QuickBooks cannot accept and that cannot be fitted without changing its meaning
    (a quantity too large for QUANTYPE, an invoice number longer than RefNumber allows)."""


def _number(value, digits: tuple[int, int], what: str, exact_decimals=False) -> str:
    whole, decimals = digits
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise QbxmlValueError(f"{what} {value!r} is not a number") from None
    if not number.is_finite():
        raise QbxmlValueError(f"{what} {value!r} is not a number")
    number = number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    text = format(number, "f")
    if not exact_decimals and "." in text:
        # "5.00000" → "5": the schema's pattern takes either, QuickBooks shows them alike.
        text = text.rstrip("0").rstrip(".")
    if text.startswith("-") and not number:  # "-0.00"
        text = text[1:]
    if len(text.lstrip("-").split(".")[0]) > whole:
        raise QbxmlValueError(
            f"{what} {value} is too large for QuickBooks (at most {whole} digits before the "
            "decimal point)"
        )
    return text


def quantity(value) -> str:
    """A quantity as QUANTYPE allows it (rounded to 5 decimals); QbxmlValueError when too large."""
    return _number(value, QUANTITY_DIGITS, "Quantity")


def price(value) -> str:
    """A rate or price as PRICETYPE allows it (rounded to 5 decimals)."""
    return _number(value, PRICE_DIGITS, "Rate")


def amount(value) -> str:
    """A money amount as AMTTYPE allows it: cents, always two decimals."""
    return _number(value, AMOUNT_DIGITS, "Amount", exact_decimals=True)


def invoice_number(value) -> str:
    """An invoice number for RefNumber. Never cut: a shortened number could name another
    invoice, and the number is how a sent invoice is found again."""
    text = clean(value)
    limit = INVOICE_LIMITS["RefNumber"]
    if not text or len(text) > limit:
        raise QbxmlValueError(f"Invoice number {text!r} must be 1 to {limit} characters")
    return text


def customer_name(name: str, autotask_id: int) -> str:
    """The QuickBooks customer Name for an organization (max 41). A name that does not fit is cut
    and suffixed with " #<Autotask ID>", which keeps shortened names unique among themselves."""
    name = _NAME_FORBIDDEN.sub("-", clean(name)) or f"#{autotask_id}"
    limit = LIMITS["Name"]
    if len(name) <= limit:
        return name
    suffix = f" #{autotask_id}"
    return fit(name, limit - len(suffix)) + suffix


@dataclass(frozen=True)
class Customer:
    """The customer fields we send, already within QuickBooks' limits."""

    name: str
    company_name: str
    addr1: str = ""
    addr2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""
    phone: str = ""
    email: str = ""
    notes: str = ""
    # Human-readable notes on what had to be shortened, for the transfer log (not sent).
    adjustments: tuple[str, ...] = field(default=(), compare=False)

    def fingerprint(self) -> str:
        """Changes whenever anything we would send changes (computed once per instance)."""
        try:
            return self.__dict__["_fingerprint"]
        except KeyError:
            pass
        values = (
            self.name,
            self.company_name,
            self.addr1,
            self.addr2,
            self.city,
            self.state,
            self.postal_code,
            self.country,
            self.phone,
            self.email,
            self.notes,
        )
        digest = hashlib.sha256("\x1f".join(values).encode()).hexdigest()
        self.__dict__["_fingerprint"] = digest  # frozen: bypasses __setattr__, not compared
        return digest


_ORG_FIELDS = (
    ("addr1", "address1", "Addr1"),
    ("addr2", "address2", "Addr2"),
    ("city", "city", "City"),
    ("state", "state", "State"),
    ("postal_code", "postal_code", "PostalCode"),
    ("country", "country", "Country"),
    ("phone", "phone", "Phone"),
    ("email", "email", "Email"),
)


# customer_from's results by the values they depend on: sendRequestXML and receiveResponseXML
# both need an organization's Customer within one round trip. Customer is immutable.
_customers: dict = {}
_CUSTOMERS_LIMIT = 4096


def customer_from(org) -> Customer:
    """Fit an organization (anything with Organization's attributes) into QuickBooks' limits."""
    key = (org.name, org.autotask_id, *[getattr(org, source, "") for _, source, _ in _ORG_FIELDS])
    try:
        return _customers[key]
    except KeyError:
        pass
    customer = _build_customer(org)
    if len(_customers) >= _CUSTOMERS_LIMIT:
        _customers.clear()
    _customers[key] = customer
    return customer


def _build_customer(org) -> Customer:
    full_name = clean(org.name)
    name = customer_name(org.name, org.autotask_id)
    adjustments = []
    values = {}
    if name != full_name:
        adjustments.append(f"Name shortened to {name!r}")
    company_name = fit(full_name, LIMITS["CompanyName"])
    notes = ""
    if len(full_name) > LIMITS["CompanyName"]:
        # Neither Name nor CompanyName can hold it, so the full name goes to Notes.
        notes = fit(f"Full name: {full_name}", LIMITS["Notes"])
        adjustments.append("Company name shortened; full name kept in Notes")
    for attr, source, element in _ORG_FIELDS:
        value = clean(getattr(org, source, ""))
        limit = LIMITS[element]
        if len(value) > limit:
            adjustments.append(f"{element} cut to {limit} characters")
            value = fit(value, limit)
        values[attr] = value
    return Customer(
        name=name, company_name=company_name, notes=notes, adjustments=tuple(adjustments), **values
    )


def agreed_version(major: int, minor: int, connector_version: str) -> tuple[int, int]:
    """The qbXML version to announce: the lowest of QuickBooks' highest, the connector's setting
    and the newest we produce."""
    try:
        setting = tuple(int(part) for part in connector_version.split(".", 1))
    except (AttributeError, ValueError):
        setting = NEWEST_VERSION
    candidates = [NEWEST_VERSION, setting]
    if major and major > 0:
        candidates.append((major, max(minor or 0, 0)))
    return max(min(candidates), OLDEST_VERSION)


# --- building requests ---------------------------------------------------------------------


def _sub(parent, tag, text=None):
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _customer_fields(element, customer: Customer) -> None:
    # Element order follows the CustomerAdd/CustomerMod sequence in qbxmlops130.xsd.
    _sub(element, "Name", customer.name)
    if customer.company_name:
        _sub(element, "CompanyName", customer.company_name)
    address = [
        ("Addr1", customer.addr1),
        ("Addr2", customer.addr2),
        ("City", customer.city),
        ("State", customer.state),
        ("PostalCode", customer.postal_code),
        ("Country", customer.country),
    ]
    if any(value for _, value in address):
        bill = _sub(element, "BillAddress")
        for tag, value in address:
            if value:
                _sub(bill, tag, value)
    if customer.phone:
        _sub(element, "Phone", customer.phone)
    if customer.email:
        _sub(element, "Email", customer.email)
    if customer.notes:
        _sub(element, "Notes", customer.notes)


class RequestBuilder:
    """One qbXML message holding several requests, each with its own requestID."""

    def __init__(self, version: tuple[int, int] = NEWEST_VERSION):
        self.version = version
        self.root = etree.Element("QBXML")
        self.msgs = _sub(self.root, "QBXMLMsgsRq")
        # One failed customer must not stop the rest of the batch.
        self.msgs.set("onError", "continueOnError")

    def __len__(self):
        return len(self.msgs)

    def customer_add(self, request_id: str, customer: Customer) -> None:
        rq = _sub(self.msgs, "CustomerAddRq")
        rq.set("requestID", request_id)
        _customer_fields(_sub(rq, "CustomerAdd"), customer)

    def customer_mod(self, request_id: str, list_id: str, edit_sequence: str, customer: Customer):
        rq = _sub(self.msgs, "CustomerModRq")
        rq.set("requestID", request_id)
        mod = _sub(rq, "CustomerMod")
        _sub(mod, "ListID", list_id)
        _sub(mod, "EditSequence", edit_sequence)
        _customer_fields(mod, customer)

    def customer_query_by_name(self, request_id: str, name: str) -> None:
        rq = _sub(self.msgs, "CustomerQueryRq")
        rq.set("requestID", request_id)
        _sub(rq, "FullName", name)

    def customer_query_by_id(self, request_id: str, list_id: str) -> None:
        rq = _sub(self.msgs, "CustomerQueryRq")
        rq.set("requestID", request_id)
        _sub(rq, "ListID", list_id)

    def host_query(self, request_id: str) -> None:
        rq = _sub(self.msgs, "HostQueryRq")
        rq.set("requestID", request_id)

    def item_query(self, request_id: str, kind: str) -> None:
        """Every item of one ITEM_KINDS kind, active or not (an item made inactive in
        QuickBooks must become inactive here too)."""
        rq = _sub(self.msgs, ITEM_KINDS[kind][0])
        rq.set("requestID", request_id)
        _sub(rq, "ActiveStatus", "All")

    def invoice_add(
        self,
        request_id: str,
        customer_list_id: str,
        ref_number: str,
        txn_date,
        lines,
        memo: str = "",
    ) -> None:
        """One invoice. `lines`: (item ListID, description, quantity, rate) each; `txn_date` a
        date. Raises QbxmlValueError (and adds nothing) for a value QuickBooks cannot take."""
        number = invoice_number(ref_number)
        fitted = [
            (clean(item), fit(clean(desc), INVOICE_LIMITS["Desc"]), quantity(qty), price(rate))
            for item, desc, qty, rate in lines
        ]
        if not fitted:
            raise QbxmlValueError(f"Invoice {number} has no lines")
        rq = _sub(self.msgs, "InvoiceAddRq")
        rq.set("requestID", request_id)
        add = _sub(rq, "InvoiceAdd")
        # Element order follows the InvoiceAdd and InvoiceLineAdd sequences in qbxml130.xsd.
        _sub(_sub(add, "CustomerRef"), "ListID", clean(customer_list_id))
        _sub(add, "TxnDate", txn_date.isoformat())
        _sub(add, "RefNumber", number)
        memo = fit(clean(memo), INVOICE_LIMITS["Memo"])
        if memo:
            _sub(add, "Memo", memo)
        for item, desc, qty, rate in fitted:
            line = _sub(add, "InvoiceLineAdd")
            _sub(_sub(line, "ItemRef"), "ListID", item)
            if desc:
                _sub(line, "Desc", desc)
            _sub(line, "Quantity", qty)
            _sub(line, "Rate", rate)

    def invoice_query_by_ref_number(self, request_id: str, ref_number: str) -> None:
        """The invoices with this number. InvoiceQuery's filter is a choice of TxnID, RefNumber,
        RefNumberCaseSensitive or a filter group (qbxml130.xsd, group InvoiceQuery). RefNumber
        ignores case, so it can only find more than the exact number, never miss it; whoever
        applies the answer checks each invoice found by its customer."""
        rq = _sub(self.msgs, "InvoiceQueryRq")
        rq.set("requestID", request_id)
        _sub(rq, "RefNumber", invoice_number(ref_number))

    def tostring(self) -> str:
        # Every character outside ASCII as a character reference (é → &#233;): QuickBooks'
        # request processor is known to reject raw accented letters with "QuickBooks found an
        # error when parsing the provided XML text stream" and to accept the references, which
        # mean exactly the same to any XML parser.
        body = etree.tostring(self.root, encoding="unicode")
        if not body.isascii():
            body = body.encode("ascii", "xmlcharrefreplace").decode("ascii")
        major, minor = self.version
        return (
            f'<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="{major}.{minor}"?>\n' + body
        )


# --- parsing responses ---------------------------------------------------------------------


class QbxmlError(ValueError):
    """The text QuickBooks sent back is not a qbXML response we can read."""


def _parser():
    # QuickBooks never sends a DTD; refusing entities and the network is the safe default.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _parse(text: str):
    if not text or not text.strip():
        raise QbxmlError("empty qbXML response")
    data = text.strip().encode("utf-8")
    if b"<!DOCTYPE" in data.upper():
        raise QbxmlError("qbXML response carries a DOCTYPE")
    # QuickBooks declares version="1.0" without encoding; drop the declaration so lxml reads
    # the bytes as UTF-8 whatever it says.
    data = re.sub(rb"^<\?xml[^>]*\?>", b"", data)
    try:
        return etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise QbxmlError(f"unreadable qbXML response: {exc}") from None


@dataclass(slots=True)
class Ret:
    """A CustomerRet's identity."""

    list_id: str
    edit_sequence: str
    name: str = ""


@dataclass(slots=True)
class ItemRet:
    """An ItemServiceRet, ItemNonInventoryRet or ItemOtherChargeRet."""

    list_id: str
    edit_sequence: str
    name: str
    full_name: str
    kind: str  # an ITEM_KINDS key
    active: bool
    # SalesOrPurchase/Desc, else SalesAndPurchase/SalesDesc: what an invoice line shows.
    description: str = ""


@dataclass(slots=True)
class InvoiceRet:
    """An InvoiceRet's identity, its customer and its amounts."""

    txn_id: str
    edit_sequence: str
    ref_number: str
    customer_list_id: str
    customer_full_name: str = ""
    txn_date: str = ""
    subtotal: Decimal | None = None
    sales_tax_total: Decimal | None = None

    @property
    def total(self) -> Decimal | None:
        if self.subtotal is None:
            return None
        return self.subtotal + (self.sales_tax_total or Decimal(0))


@dataclass(slots=True)
class Response:
    """One …Rs element of a qbXML response. `rets` holds a Ret per CustomerRet (and any other
    …Ret), an ItemRet per item Ret, an InvoiceRet per InvoiceRet."""

    kind: str  # e.g. "CustomerAddRs"
    request_id: str
    status_code: int
    severity: str
    message: str
    rets: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """QuickBooks did it (status 0, or an Info/Warn status below 1000 with a result)."""
        return self.status_code == 0 or (0 < self.status_code < 1000 and bool(self.rets))

    @property
    def no_match(self) -> bool:
        """A query that found nothing: status 1, not an error."""
        return self.status_code == 1


def _text(element, tag) -> str:
    return (element.findtext(tag) or "").strip()


_RET_FIELDS = {"ListID": 0, "EditSequence": 1, "Name": 2}


def _ret(element) -> Ret:
    # One pass over the children, stopping once the three are found (they come first in a
    # CustomerRet; findtext would scan the whole element for each).
    values = ["", "", ""]
    found = 0
    for child in element.iterchildren(tag=etree.Element):
        index = _RET_FIELDS.get(child.tag)
        if index is not None:
            values[index] = (child.text or "").strip()
            found += 1
            if found == 3:
                break
    return Ret(*values)


def _decimal(element, tag) -> Decimal | None:
    text = _text(element, tag)
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


def _item_ret(element, kind: str) -> ItemRet:
    description = _text(element, "SalesOrPurchase/Desc") or _text(
        element, "SalesAndPurchase/SalesDesc"
    )
    return ItemRet(
        list_id=_text(element, "ListID"),
        edit_sequence=_text(element, "EditSequence"),
        name=_text(element, "Name"),
        full_name=_text(element, "FullName") or _text(element, "Name"),
        kind=kind,
        # IsActive is optional in a Ret; QuickBooks leaves it out only when asked to.
        active=_text(element, "IsActive").lower() != "false",
        description=description,
    )


def _invoice_ret(element) -> InvoiceRet:
    return InvoiceRet(
        txn_id=_text(element, "TxnID"),
        edit_sequence=_text(element, "EditSequence"),
        ref_number=_text(element, "RefNumber"),
        customer_list_id=_text(element, "CustomerRef/ListID"),
        customer_full_name=_text(element, "CustomerRef/FullName"),
        txn_date=_text(element, "TxnDate"),
        subtotal=_decimal(element, "Subtotal"),
        sales_tax_total=_decimal(element, "SalesTaxTotal"),
    )


def _any_ret(element):
    tag = element.tag
    kind = _ITEM_KIND_BY_RET.get(tag)
    if kind is not None:
        return _item_ret(element, kind)
    if tag == "InvoiceRet":
        return _invoice_ret(element)
    return _ret(element)


def parse_response(text: str) -> list[Response]:
    """Every …Rs in a qbXML response, in order."""
    root = _parse(text)
    msgs = root.find("QBXMLMsgsRs")
    if root.tag != "QBXML" or msgs is None:
        raise QbxmlError("not a qbXML response (no QBXML/QBXMLMsgsRs)")
    responses = []
    for rs in msgs.iterchildren(tag=etree.Element):
        attrib = rs.attrib
        try:
            code = int(attrib.get("statusCode", ""))
        except ValueError:
            code = -1
        rets = [
            _any_ret(ret) for ret in rs.iterchildren(tag=etree.Element) if ret.tag.endswith("Ret")
        ]
        responses.append(
            Response(
                kind=rs.tag,
                request_id=attrib.get("requestID", ""),
                status_code=code,
                severity=attrib.get("statusSeverity", ""),
                message=attrib.get("statusMessage", ""),
                rets=rets,
            )
        )
    return responses


@dataclass
class HostInfo:
    """What QuickBooks reports in strHCPResponse on the first sendRequestXML."""

    product: str = ""
    version: str = ""
    company_name: str = ""
    supported_versions: tuple[str, ...] = ()


def parse_hcp(text: str) -> HostInfo:
    """Product, version and company name from strHCPResponse; empty values when unreadable,
    since this is informational and must never stop a session."""
    try:
        root = _parse(text)
    except QbxmlError:
        return HostInfo()
    info = HostInfo()
    host = root.find(".//HostRet")
    if host is not None:
        info.product = _text(host, "ProductName")[:255]
        major, minor = _text(host, "MajorVersion"), _text(host, "MinorVersion")
        info.version = ".".join(part for part in (major, minor) if part)[:20]
        info.supported_versions = tuple(
            (el.text or "").strip() for el in host.findall("SupportedQBXMLVersion")
        )
    company = root.find(".//CompanyRet")
    if company is not None:
        info.company_name = _text(company, "CompanyName")[:255]
    return info
