"""Reading a page of Autotask companies: a usual page, checked a column at a time, gives exactly
what reading it item by item gives; any page that check cannot vouch for is read item by item,
which names the company and field at fault."""

import pytest

from organizations.autotask import PsaError, companies_from, company_from, parse_page

from .autotask_fake import company

WHERE = "Companies page 1"
TYPES = {1: ("Customer", "customer"), 4: ("Dead", "dead"), 9: ("Reseller", None)}


def item_by_item(items):
    return [found for item in items if (found := company_from(item, TYPES, WHERE))]


def usual_page():
    return [
        company(
            1,
            "  Acme Ltd ",
            address1="1 High St",
            city="Leeds",
            postalCode="LS1",
            phone="0113",
            taxID="GB1",
            isTaxExempt=True,
        ),
        company(2, "Beta", 4, parentCompanyID=1, isActive=False, address2="  Unit 2 "),
        company(3, "Sample Co", isSample=True),
        company(4, "Nulls", isActive=None, isTaxExempt=None, isSample=None),
    ]


def test_a_usual_page_gives_what_reading_it_item_by_item_gives():
    items = usual_page()

    companies = companies_from(items, TYPES, WHERE)

    assert companies == item_by_item(items)
    assert [c.autotask_id for c in companies] == [1, 2, 4]  # the sample company left out
    assert (companies[0].name, companies[0].tax_exempt) == ("Acme Ltd", True)
    assert (companies[1].org_type, companies[1].parent_id) == ("dead", 1)
    assert not companies[1].active
    assert companies[1].address2 == "Unit 2"
    assert (companies[2].active, companies[2].tax_exempt, companies[2].city) == (True, False, "")


def test_a_type_given_as_text_and_an_item_without_some_fields_are_read_item_by_item():
    items = usual_page()
    items[0]["companyType"] = " 4 "
    del items[1]["address1"], items[1]["isSample"]

    companies = companies_from(items, TYPES, WHERE)

    assert companies == item_by_item(items)
    assert (companies[0].org_type, companies[1].address1) == ("dead", "")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"city": "Lee\x07ds"}, "company id 2: city contains a control character (U+0007)"),
        ({"companyName": "  "}, "company id 2: companyName is empty"),
        ({"companyName": "x" * 256}, "company id 2: companyName is longer than 255 characters"),
        ({"phone": 113}, "company id 2: phone is not text"),
        ({"companyType": 9}, "company id 2: company type 'Reseller' has no portal type"),
        ({"companyType": 5}, "company id 2: companyType 5 is not in the companyType picklist"),
        ({"companyType": True}, "company id 2: companyType True is not in the companyType"),
        ({"parentCompanyID": 0}, "company id 2: parentCompanyID 0 is not a company id"),
        ({"parentCompanyID": -3}, "company id 2: parentCompanyID -3 is not a company id"),
        ({"parentCompanyID": True}, "company id 2: parentCompanyID True is not a company id"),
        ({"isActive": "yes"}, "company id 2: isActive is not true or false"),
        ({"isTaxExempt": 1}, "company id 2: isTaxExempt is not true or false"),
    ],
)
def test_a_bad_field_fails_the_page_naming_the_company_and_field(change, message):
    items = usual_page()
    items[1].update(change)

    with pytest.raises(PsaError) as failure:
        companies_from(items, TYPES, WHERE)

    assert f"{WHERE}, {message}" in str(failure.value)


def test_a_sample_company_is_left_out_whatever_its_fields_say():
    items = usual_page()
    items[2]["companyName"] = "Bad\x00Sample"

    assert [c.autotask_id for c in companies_from(items, TYPES, WHERE)] == [1, 2, 4]


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda items: items.__setitem__(2, ["not", "an", "object"]), "item #3: not an object"),
        (lambda items: items[2].__setitem__("id", 2), "item #3: id 2 is not a whole number above"),
        (lambda items: items[2].__setitem__("id", "7"), "item #3: id '7' is not a whole number"),
        (lambda items: items[2].pop("id"), "item #3: id None is not a whole number"),
    ],
)
def test_a_page_whose_item_is_no_company_above_the_cursor_fails_naming_the_item(spoil, message):
    items = [company(n, f"Company {n}") for n in range(3, 7)]
    spoil(items)

    with pytest.raises(PsaError) as failure:
        parse_page({"items": items, "pageDetails": {"nextPageUrl": None}}, 2, WHERE)

    assert f"Malformed {WHERE}, {message}" in str(failure.value)


def test_a_page_of_companies_above_the_cursor_is_taken_whole():
    items = [company(n, f"Company {n}") for n in range(3, 7)]

    assert parse_page({"items": items, "pageDetails": {"nextPageUrl": "x"}}, 2, WHERE) == (
        items,
        True,
    )
