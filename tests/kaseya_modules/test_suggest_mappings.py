"""`manage.py suggest_mappings`: its JSON shape (other tooling relies on it), CSV and table."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from kaseya_modules.mapping import map_module_organization
from kaseya_modules.models import MappingSuggestion
from tests.organizations.factories import OrganizationFactory

from .mapping_support import module_org, synced_module

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("suggest_mappings", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def module():
    module = synced_module(code="graphus_test")
    OrganizationFactory(autotask_id=501, name="Café Olé Bakery Ltd")
    OrganizationFactory(autotask_id=502, name="Cyberdyne Realty PLC")
    module_org(module, "Café Olé Bakery", external_id="g-1")
    module_org(module, "Nothing Like Anyone", external_id="g-2")
    return module


def test_json_is_one_array_with_exactly_the_agreed_keys_and_types(module):
    items = json.loads(run("--module", "graphus_test", "--format", "json"))

    assert isinstance(items, list) and len(items) == 2
    for item in items:
        assert set(item) == {"module", "external_id", "name", "suggestions"}
        assert isinstance(item["module"], str)
        assert isinstance(item["external_id"], str)
        assert isinstance(item["name"], str)
        assert isinstance(item["suggestions"], list)
        for suggestion in item["suggestions"]:
            assert set(suggestion) == {
                "autotask_id", "organization", "score", "confidence", "reasons"
            }  # fmt: skip
            assert type(suggestion["autotask_id"]) is int
            assert isinstance(suggestion["organization"], str)
            assert isinstance(suggestion["score"], int | float)
            assert 0 <= suggestion["score"] <= 100
            assert suggestion["confidence"] in ("high", "medium", "low")
            assert all(isinstance(reason, str) for reason in suggestion["reasons"])
    bakery = next(item for item in items if item["external_id"] == "g-1")
    assert bakery == {
        "module": "graphus_test",
        "external_id": "g-1",
        "name": "Café Olé Bakery",
        "suggestions": [
            {
                "autotask_id": 501,
                "organization": "Café Olé Bakery Ltd",
                "score": 97,
                "confidence": "high",
                "reasons": ["Same name once 'Ltd' is set aside"],
            }
        ],
    }


def test_json_gives_an_empty_list_when_nothing_is_worth_suggesting(module):
    items = json.loads(run("--module", "graphus_test", "--format", "json"))

    nobody = next(item for item in items if item["external_id"] == "g-2")
    assert nobody["suggestions"] == []


def test_json_leaves_out_mapped_and_ignored_module_organizations(module):
    mapped = module_org(module, "Cyberdyne Realty", external_id="g-3")
    map_module_organization(mapped, OrganizationFactory(name="Cyberdyne Realty"))
    module_org(module, "Cyberdyne Realty", external_id="g-4", ignored=True)

    items = json.loads(run("--module", "graphus_test", "--format", "json"))

    assert {item["external_id"] for item in items} == {"g-1", "g-2"}


def test_suggestions_are_computed_first_for_a_module_with_none_stored(module):
    assert not MappingSuggestion.objects.exists()

    run("--module", "graphus_test", "--format", "json")

    assert MappingSuggestion.objects.filter(module=module).exists()


def test_without_module_every_enabled_module_is_listed(module):
    other = synced_module(code="passly_test")
    module_org(other, "Cyberdyne Realty", external_id="p-1")
    disabled = synced_module(code="off_test", icb_enabled=False)
    module_org(disabled, "Cyberdyne Realty", external_id="x-1")

    items = json.loads(run("--format", "json"))

    assert {item["module"] for item in items} >= {"graphus_test", "passly_test"}
    assert "off_test" not in {item["module"] for item in items}


def test_unknown_module_fails_with_a_clear_message(db):
    with pytest.raises(CommandError, match="No module 'nope'"):
        run("--module", "nope")


def test_csv_has_one_row_per_suggestion_and_neutralizes_formulas(module):
    OrganizationFactory(autotask_id=503, name="=HYPERLINK(1)")
    module_org(module, "=HYPERLINK(1)", external_id="+g-5")

    rows = list(csv.reader(io.StringIO(run("--module", "graphus_test", "--format", "csv"))))

    assert rows[0][:4] == ["module", "external_id", "name", "rank"]
    formula = next(row for row in rows if row[1] == "'+g-5")
    assert formula[2] == "'=HYPERLINK(1)" and formula[5] == "'=HYPERLINK(1)"
    assert len([row for row in rows[1:] if row[1] == "g-1"]) == 1


def test_table_shows_the_suggestion_and_its_reason(module):
    output = run("--module", "graphus_test")

    assert "Café Olé Bakery Ltd (501)" in output
    assert "Same name once 'Ltd' is set aside" in output
    assert "(no suggestion)" in output
