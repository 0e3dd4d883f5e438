from types import SimpleNamespace

import pytest

from qbwc_soap import qbxml

from .simulator import SAMPLES, validate


def org(**overrides):
    values = dict(
        name="Acme Corporation",
        autotask_id=4711,
        address1="1 Main Street",
        address2="",
        city="Springfield",
        state="IL",
        postal_code="62701",
        country="USA",
        phone="555-0100",
        email="billing@acme.example",
    )
    values.update(overrides)
    return SimpleNamespace(**values)


def test_short_name_is_sent_unchanged():
    customer = qbxml.customer_from(org())
    assert customer.name == "Acme Corporation"
    assert customer.company_name == "Acme Corporation"
    assert customer.adjustments == ()


def test_long_name_is_shortened_with_autotask_id_and_full_name_kept_in_notes():
    full = "The Extremely Long Organization Name Incorporated Of Springfield"
    customer = qbxml.customer_from(org(name=full))
    assert len(customer.name) <= 41
    assert customer.name.endswith(" #4711")
    assert customer.company_name == full[:41].rstrip()
    assert customer.notes == f"Full name: {full}"
    assert any("Name shortened" in note for note in customer.adjustments)


def test_shortened_names_of_two_organizations_sharing_a_prefix_differ():
    prefix = "Springfield Regional Medical Center Department of "
    a = qbxml.customer_from(org(name=prefix + "Cardiology", autotask_id=1))
    b = qbxml.customer_from(org(name=prefix + "Radiology", autotask_id=2))
    assert a.name != b.name


def test_shortening_is_deterministic():
    long = org(name="X" * 100, address1="Y" * 80)
    assert qbxml.customer_from(long) == qbxml.customer_from(long)
    assert qbxml.customer_from(long).fingerprint() == qbxml.customer_from(long).fingerprint()


def test_no_field_exceeds_its_quickbooks_limit():
    customer = qbxml.customer_from(
        org(
            name="N" * 300,
            address1="A" * 300,
            address2="B" * 300,
            city="C" * 300,
            state="S" * 300,
            postal_code="P" * 300,
            country="K" * 300,
            phone="9" * 300,
        )
    )
    for attr, element in [
        ("name", "Name"),
        ("company_name", "CompanyName"),
        ("addr1", "Addr1"),
        ("addr2", "Addr2"),
        ("city", "City"),
        ("state", "State"),
        ("postal_code", "PostalCode"),
        ("country", "Country"),
        ("phone", "Phone"),
    ]:
        assert len(getattr(customer, attr)) <= qbxml.LIMITS[element], attr


def test_colons_and_control_characters_never_reach_quickbooks():
    customer = qbxml.customer_from(org(name="Parent: Child\x07 Ltd"))
    assert customer.name == "Parent- Child Ltd"


def test_fingerprint_changes_with_any_sent_value():
    assert (
        qbxml.customer_from(org()).fingerprint()
        != qbxml.customer_from(org(city="Shelbyville")).fingerprint()
    )


@pytest.mark.parametrize(
    ("major", "minor", "setting", "expected"),
    [
        (16, 0, "13.0", (13, 0)),  # never above what we produce / the connector's setting
        (12, 0, "13.0", (12, 0)),  # never above what QuickBooks supports
        (13, 0, "8.0", (8, 0)),  # the connector's setting caps it
        (0, 0, "11.0", (11, 0)),  # QuickBooks said nothing: the setting
    ],
)
def test_agreed_version(major, minor, setting, expected):
    assert qbxml.agreed_version(major, minor, setting) == expected


def test_batch_with_every_request_kind_validates_against_the_schema():
    builder = qbxml.RequestBuilder((13, 0))
    customer = qbxml.customer_from(org(name='Ampersand & <Angle> "Quotes"'))
    builder.customer_add("1-add", customer)
    builder.customer_mod("2-mod", "80000001-1785964190", "1785964190", customer)
    builder.customer_query_by_name("3-query_name", customer.name)
    builder.customer_query_by_id("4-query_id", "80000001-1785964190")
    builder.host_query("noop")
    doc = validate(builder.tostring())
    assert doc.find("QBXMLMsgsRq").get("onError") == "continueOnError"
    assert [rq.get("requestID") for rq in doc.find("QBXMLMsgsRq")] == [
        "1-add",
        "2-mod",
        "3-query_name",
        "4-query_id",
        "noop",
    ]


def test_parses_the_real_batch_response_with_mixed_statuses():
    responses = qbxml.parse_response(
        (SAMPLES / "customer_add_batch_rs_3100_3130_3250.xml").read_text()
    )
    assert [(r.request_id, r.status_code) for r in responses] == [
        ("ext-mix-1", 0),
        ("ext-mix-2", 3100),
        ("ext-mix-3", 3250),
        ("ext-mix-4", 3130),
        ("ext-mix-5", 0),
    ]
    assert responses[0].rets[0].list_id == "8000274C-1785964190"
    assert responses[0].rets[0].edit_sequence == "1785964190"


@pytest.mark.parametrize(
    ("sample", "code"),
    [
        ("customer_add_rs.xml", 0),
        ("customer_query_rs_500_warn.xml", 500),
        ("customer_query_rs_3120_error.xml", 3120),
        ("customer_query_iterator_rs.xml", 0),
    ],
)
def test_parses_real_single_responses(sample, code):
    [response] = qbxml.parse_response((SAMPLES / sample).read_text())
    assert response.status_code == code


def test_unreadable_response_raises():
    with pytest.raises(qbxml.QbxmlError):
        qbxml.parse_response("<QBXML><oops")
    with pytest.raises(qbxml.QbxmlError):
        qbxml.parse_response("")
    with pytest.raises(qbxml.QbxmlError):
        qbxml.parse_response('<!DOCTYPE x [<!ENTITY a "b">]><QBXML><QBXMLMsgsRs/></QBXML>')


def test_parse_hcp_reads_product_version_and_company(quickbooks):
    info = qbxml.parse_hcp(quickbooks.hcp_response())
    assert info.product == "QuickBooks Enterprise Solutions 23.0"
    assert info.version == "33.0"
    assert info.company_name == "Simulated Company"
    assert "13.0" in info.supported_versions


def test_parse_hcp_tolerates_garbage():
    assert qbxml.parse_hcp("not xml at all") == qbxml.HostInfo()


def test_letters_outside_ascii_travel_as_character_references():
    """QuickBooks rejects raw accented letters in a request; references mean the same."""
    builder = qbxml.RequestBuilder((13, 0))
    builder.customer_add("1-add", qbxml.customer_from(org(name="Müller Zahnärzte", city="Zürich")))
    text = builder.tostring()
    assert text.isascii()
    assert "M&#252;ller Zahn&#228;rzte" in text and "Z&#252;rich" in text
    doc = validate(text)
    assert doc.findtext(".//CustomerAdd/Name") == "Müller Zahnärzte"
    assert doc.findtext(".//BillAddress/City") == "Zürich"
