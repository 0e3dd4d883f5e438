import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from organizations.importing import import_organizations, parent_loops
from organizations.models import Organization
from tests.organizations.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

GOOD = """autotask_id,name,type,parent_autotask_id,active,city,email
1,Acme Corporation,Customer,,yes,Springfield,billing@acme.example
2,Acme - North Office,customer,1,,Springfield,
3,Müller & Söhne GmbH,Vendor,,no,München,
"""


def test_good_file_creates_organizations_with_parents():
    result = import_organizations(GOOD.encode())
    assert result.ok, result.errors
    assert result.created == 3
    north = Organization.objects.get(autotask_id=2)
    assert north.parent.autotask_id == 1
    assert Organization.objects.get(autotask_id=3).org_type == "vendor"
    assert not Organization.objects.get(autotask_id=3).active


def test_reimport_updates_and_counts_unchanged():
    import_organizations(GOOD.encode())
    changed = GOOD.replace("Acme Corporation", "Acme Corp.")
    result = import_organizations(changed.encode())
    assert (result.created, result.updated, result.unchanged) == (0, 1, 2)
    assert Organization.objects.get(autotask_id=1).name == "Acme Corp."


def test_every_bad_row_is_reported_with_its_line_and_nothing_changes():
    existing = OrganizationFactory(autotask_id=50, name="Keep Me")
    bad = (
        "autotask_id,name,type,parent_autotask_id,active,email\n"
        "10,Fine Row,Customer,,yes,\n"  # line 2 fine
        "abc,Bad Id,Customer,,yes,\n"  # line 3
        "11,,Customer,,yes,\n"  # line 4
        "12,Bad Type,Martian,,yes,\n"  # line 5
        "10,Duplicate,Customer,,yes,\n"  # line 6
        "13,Bad Parent,Customer,999,yes,\n"  # line 7
        "14,Bad Email,Customer,,yes,not-an-email\n"  # line 8
        "15,Bad Active,Customer,,maybe,\n"  # line 9
        "50,Renamed,Customer,,yes,\n"  # line 10 fine, but must not be applied
    )
    result = import_organizations(bad.encode())
    assert not result.ok
    lines = sorted({e.line for e in result.errors})
    assert lines == [3, 4, 5, 6, 7, 8, 9]
    messages = " ".join(str(e) for e in result.errors)
    assert "Line 6: Autotask ID 10 already appears on line 2" in messages
    assert "Martian" in messages and "999" in messages and "not-an-email" in messages
    assert Organization.objects.count() == 1
    existing.refresh_from_db()
    assert existing.name == "Keep Me"


def test_unknown_and_missing_columns_are_reported():
    result = import_organizations(b"id,title\n1,x\n")
    assert not result.ok
    assert "Unknown column" in str(result.errors[0])
    assert any("Missing required column" in str(e) for e in result.errors)


def test_parent_loop_is_refused():
    data = "autotask_id,name,parent_autotask_id\n1,A,2\n2,B,1\n"
    result = import_organizations(data.encode())
    assert not result.ok and "loop" in str(result.errors[0])


def test_non_utf8_file_is_refused_clearly():
    result = import_organizations("autotask_id,name\n1,Caf\xe9\n".encode("latin-1"))
    assert "not UTF-8" in str(result.errors[0])


def test_wrong_number_of_values_is_reported():
    result = import_organizations(b"autotask_id,name\n1,A,extra\n")
    assert str(result.errors[0]).startswith("Line 2: Expected 2 values")


def test_management_command_imports_and_fails_on_bad_rows(tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    call_command("import_organizations", str(good))
    assert Organization.objects.count() == 3
    bad = tmp_path / "bad.csv"
    bad.write_text("autotask_id,name\n4,\n", encoding="utf-8")
    with pytest.raises(CommandError, match="Nothing was imported"):
        call_command("import_organizations", str(bad))
    assert "Line 2: Name is empty." in capsys.readouterr().err
    assert Organization.objects.count() == 3


def test_upload_page_imports_and_reports(client):
    from tests.conftest import make_user

    client.force_login(make_user("importer", perms=["organizations.add_organization"]))
    upload = SimpleUploadedFile("orgs.csv", GOOD.encode(), content_type="text/csv")
    response = client.post(reverse("organizations:import"), {"file": upload}, follow=True)
    assert "3 organizations created" in response.content.decode()
    bad = SimpleUploadedFile("bad.csv", b"autotask_id,name\nx,Y\n", content_type="text/csv")
    response = client.post(reverse("organizations:import"), {"file": bad})
    body = response.content.decode()
    assert "Nothing was imported" in body and "Line 2" in body
    assert Organization.objects.count() == 3


def test_a_parent_loop_is_named_on_each_of_its_lines():
    data = "autotask_id,name,parent_autotask_id\n1,A,2\n2,B,3\n3,C,1\n4,D,1\n"

    result = import_organizations(data.encode())

    assert [str(e) for e in result.errors] == [
        f"Line {line}: Parent links form a loop: 1 → 2 → 3 → 1." for line in (2, 3, 4)
    ]
    assert not Organization.objects.exists()


class CountingDict(dict):
    """A dict that counts the look-ups made in it."""

    lookups = 0

    def __getitem__(self, key):
        CountingDict.lookups += 1
        return super().__getitem__(key)

    def __contains__(self, key):
        CountingDict.lookups += 1
        return super().__contains__(key)


def test_the_loop_check_looks_each_organization_up_a_bounded_number_of_times():
    # given: a 25,000-long parent chain (1 → 2 → … → 25,000), then a loop hanging off its end
    n = 25_000
    parent_of = CountingDict({i: i + 1 for i in range(1, n)})
    parent_of.update({n: n + 1, n + 1: n + 2, n + 2: n})
    CountingDict.lookups = 0

    # when
    loops = parent_loops(parent_of)

    # then: linear (the check this replaced walked the chain again from every row: n² / 2)
    assert loops == [[n, n + 1, n + 2]]
    assert CountingDict.lookups <= 4 * len(parent_of)


def test_a_nul_in_a_value_is_refused_naming_line_and_column():
    data = b"autotask_id,name,city\n1,Acme,Springfield\n2,Glo\x00bex,Shelbyville\n"

    result = import_organizations(data)

    assert [str(e) for e in result.errors] == [
        "Line 3: The name column contains a control character (U+0000); remove it and try again."
    ]
    assert not Organization.objects.exists()


def test_a_control_character_in_the_header_is_refused():
    result = import_organizations(b"autotask_id,na\x01me\n1,Acme\n")

    assert [str(e) for e in result.errors] == [
        "Line 1: The header row contains a control character."
    ]


def test_uploading_a_csv_with_a_nul_shows_the_line_rather_than_failing(client):
    from tests.conftest import make_user

    client.force_login(make_user("importer", perms=["organizations.add_organization"]))
    upload = SimpleUploadedFile(
        "nul.csv", b"autotask_id,name\n1,Ac\x00me\n", content_type="text/csv"
    )

    response = client.post(reverse("organizations:import"), {"file": upload})

    assert response.status_code == 200
    body = response.content.decode()
    assert "Nothing was imported" in body
    assert "Line 2: The name column contains a control character (U+0000)" in body
    assert not Organization.objects.exists()
