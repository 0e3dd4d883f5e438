"""Names as suggestions compare them: each kind of drift set aside, and said in words."""

import pytest

from kaseya_modules.names import all_words, describe_set_aside, normalize, parse, set_aside


@pytest.mark.parametrize(
    "module_name, organization_name",
    [
        ("ACME DENTAL", "Acme Dental"),  # case
        ("Cafe Ole Bakery", "Café Olé Bakery"),  # accents
        ("Muller and Sohne", "Müller & Söhne"),  # letters NFKD keeps, and "&"
        ("OBriens Pub", "O'Brien's Pub"),  # apostrophes
        ("ABC Dental PC", "A.B.C. Dental, P.C."),  # dots and commas
        ("Smith and Wesson", "Smith & Wesson"),  # "&"/"and"
        ("Acme Group", "The Acme Group"),  # a leading "The"
        ("Cyberdyne Realty", "Cyberdyne Realty PLC"),  # legal suffix
        ("Globex", "Globex Co., Ltd."),  # legal suffixes stacked
        ("Hooli Assoc.", "Hooli Associates"),  # abbreviation
        ("Initech Intl Mfg", "Initech International Manufacturing"),
        ("St. Mary's Clinic", "Saint Mary's Clinic"),
        ("Wayne Corp.", "Wayne Corporation"),
    ],
)
def test_drift_is_set_aside(module_name, organization_name):
    assert normalize(module_name) == normalize(organization_name)


def test_different_companies_keep_different_keys():
    assert normalize("Summit Dental") != normalize("Summit Dental Group")
    assert normalize("Acme - North Office") != normalize("Acme")


@pytest.mark.parametrize(
    "name, site_key, site",
    [
        ("Acme - Denver", "acme", "- Denver"),
        ("Acme Dental (HQ)", "acme dental", "(HQ)"),
        ("Acme Dental - Main Office", "acme dental", "- Main Office"),
        ("Acme Dental HQ", "acme dental", "HQ"),
    ],
)
def test_site_suffix_is_set_aside_for_the_site_key(name, site_key, site):
    parsed = parse(name)
    assert (parsed.site_key, parsed.site) == (site_key, site)


def test_nested_site_suffixes_offer_the_longer_head_first():
    parsed = parse("Acme - East Office - Boulder")
    assert parsed.inner_sites == [("acme east office", "- Boulder")]
    assert parsed.site_key == "acme"


@pytest.mark.parametrize(
    "name",
    ["_NotBillable_", "Test Company", "Internal IT", "Sandbox", "~Spare devices", "DNU Acme"],
)
def test_internal_and_test_records_are_recognised(name):
    assert parse(name).internal


@pytest.mark.parametrize("name", ["Acme Dental", "Testa Rossa Imports", "Contest Designs"])
def test_ordinary_names_are_not_internal(name):
    assert not parse(name).internal


@pytest.mark.parametrize(
    "module_name, organization_name, site, reason",
    [
        ("Café Olé Bakery", "Café Olé Bakery Ltd", "", "Same name once 'Ltd' is set aside"),
        (
            "CYBERDYNE Realty",
            "Cyberdyne Realty PLC",
            "",
            "Same name once case and 'PLC' are set aside",
        ),
        ("Cafe Ole Bakery", "Café Olé Bakery", "", "Same name once accents are set aside"),
        ("Acme Inc", "Acme Inc.", "", "Same name once punctuation is set aside"),
        ("Smith & Wesson", "Smith and Wesson", "", "Same name once '&'/'and' is set aside"),
        ("Acme Group", "The Acme Group", "", "Same name once 'The' is set aside"),
        ("Hooli Assoc.", "Hooli Associates", "", "Same name once 'Assoc.' is set aside"),
        (
            "Acme - Denver",
            "Acme Inc.",
            "- Denver",
            "Same name once 'Inc.' and the site '- Denver' are set aside",
        ),
    ],
)
def test_reasons_name_what_differed(module_name, organization_name, site, reason):
    assert describe_set_aside(set_aside(module_name, organization_name, site=site)) == reason


def test_all_words_keep_legal_forms_and_set_aside_case_punctuation_and_a_leading_the():
    assert all_words("The ACME & Co., Inc.") == ("acme", "and", "company", "inc")
