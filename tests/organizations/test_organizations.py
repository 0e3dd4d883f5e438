import pytest
from django.urls import reverse

from organizations.models import Organization, OrganizationType, PortalSettings
from tests.organizations.factories import OrganizationFactory
from tests.permission_matrix import check

pytestmark = pytest.mark.django_db


def test_billable_excludes_dead_and_cancelation():
    kept = [
        OrganizationFactory(org_type=t)
        for t in OrganizationType
        if t not in ("dead", "cancelation")
    ]
    OrganizationFactory(org_type=OrganizationType.DEAD)
    OrganizationFactory(org_type=OrganizationType.CANCELATION)
    assert set(Organization.objects.billable()) == set(kept)


def test_organization_needs_only_autotask_id_name_and_type():
    org = Organization.objects.create(autotask_id=1, name="Minimal", org_type="customer")
    assert org.active and org.parent is None


def org_urls(org):
    return [
        ("get", reverse("organizations:list"), 200, "organizations.view_organization"),
        (
            "get",
            reverse("organizations:detail", args=[org.pk]),
            200,
            "organizations.view_organization",
        ),
        (
            "get",
            reverse("organizations:typeahead") + "?q=a",
            200,
            "organizations.view_organization",
        ),
        ("get", reverse("organizations:browse"), 200, "organizations.view_organization"),
        ("get", reverse("organizations:import"), 200, "organizations.add_organization"),
        ("get", reverse("organizations:term"), 200, "organizations.change_organization_term"),
    ]


@pytest.mark.parametrize("htmx", [False, True])
def test_organization_urls_permission_matrix(plain_client, organization, htmx):
    from django.test import Client

    from tests.conftest import make_user

    for method, url, status, perm in org_urls(organization):
        check(Client(), method, url, "login", htmx=htmx)
        check(plain_client, method, url, 403, htmx=htmx)
        permitted = make_user(f"u{abs(hash((url, htmx))) % 10**8}", perms=[perm])
        other = Client()
        other.force_login(permitted)
        check(other, method, url, status, htmx=htmx)


def test_list_searches_by_name_and_autotask_id(viewer_client):
    OrganizationFactory(name="Wonka Chocolate", autotask_id=777)
    OrganizationFactory(name="Globex")
    body = viewer_client.get(reverse("organizations:list"), {"q": "wonka"}).content.decode()
    assert "Wonka Chocolate" in body and "Globex" not in body
    body = viewer_client.get(reverse("organizations:list"), {"q": "777"}).content.decode()
    assert "Wonka Chocolate" in body


def test_list_paginates(viewer_client):
    OrganizationFactory.create_batch(60)
    response = viewer_client.get(reverse("organizations:list"), {"page": 2})
    assert len(response.context["page"].object_list) == 10
    assert "Page 2 of 2" in response.content.decode()


def test_list_ignores_bad_filters_instead_of_failing(viewer_client):
    OrganizationFactory()
    response = viewer_client.get(reverse("organizations:list"), {"page": "x", "type": "nope"})
    assert response.status_code == 200


@pytest.mark.parametrize("rows", [5, 80])
def test_list_query_count_is_constant(viewer_client, rows, django_assert_max_num_queries):
    parent = OrganizationFactory()
    OrganizationFactory.create_batch(rows, parent=parent)
    with django_assert_max_num_queries(7):
        viewer_client.get(reverse("organizations:list"))


def test_typeahead_is_case_insensitive_substring_billable_and_prefix_first(viewer_client):
    OrganizationFactory(name="The ACME Group")
    OrganizationFactory(name="Acme Corporation")
    OrganizationFactory(name="acme dead", org_type=OrganizationType.DEAD)
    OrganizationFactory(name="Acme Cancelled", org_type=OrganizationType.CANCELATION)
    OrganizationFactory(name="Unrelated")
    response = viewer_client.get(reverse("organizations:typeahead"), {"q": "aCmE"})
    names = [o.name for o in response.context["results"]]
    assert names == ["Acme Corporation", "The ACME Group"]
    assert 'data-value="' in response.content.decode()


def test_typeahead_limits_results(viewer_client):
    OrganizationFactory.create_batch(30, name="Same Name")
    response = viewer_client.get(reverse("organizations:typeahead"), {"q": "same"})
    assert len(response.context["results"]) == 15
    response = viewer_client.get(reverse("organizations:typeahead"), {"q": "same", "limit": 5})
    assert len(response.context["results"]) == 5


def test_typeahead_with_empty_query_returns_nothing(viewer_client):
    OrganizationFactory()
    response = viewer_client.get(reverse("organizations:typeahead"), {"q": " "})
    assert response.context["results"] == []


def test_typeahead_is_a_bounded_number_of_queries(viewer_client, django_assert_max_num_queries):
    OrganizationFactory.create_batch(40, name="Busy Name")
    # session, user, two permission look-ups, the term, the results
    with django_assert_max_num_queries(6):
        viewer_client.get(reverse("organizations:typeahead"), {"q": "busy"})


def test_browse_lists_billable_only(viewer_client):
    OrganizationFactory(name="Alive")
    OrganizationFactory(name="Gone", org_type=OrganizationType.DEAD)
    body = viewer_client.get(reverse("organizations:browse")).content.decode()
    assert "Alive" in body and "Gone" not in body


def test_detail_page_has_a_tools_menu_for_later_items(viewer_client, organization):
    from mapping_portal.lib.navigation import Link, organization_tools

    link = Link("Example tool", "organizations:detail")
    organization_tools.add(link)
    try:
        body = viewer_client.get(reverse("organizations:detail", args=[organization.pk])).content
    finally:
        organization_tools.links.remove(link)
    assert b"Tools" in body and b"Example tool" in body


@pytest.mark.parametrize(
    "term,plural",
    [
        ("Account", "Accounts"),
        ("Business Unit", "Business Units"),
        ("Client Company", "Client Companies"),
        ("Customer", "Customers"),
        ("Site", "Sites"),
    ],
)
def test_chosen_term_appears_on_rendered_pages(viewer_client, organization, term, plural):
    PortalSettings.objects.update_or_create(pk=1, defaults={"organization_term": term})
    body = viewer_client.get(reverse("organizations:list")).content.decode()
    assert f"<h1>{plural}</h1>" in body
    assert f"Search {plural.lower()}" in body
    detail = viewer_client.get(reverse("organizations:detail", args=[organization.pk]))
    assert plural in detail.content.decode()


def test_the_sidebar_group_follows_the_organization_term(client, db):
    from tests.conftest import make_user

    client.force_login(
        make_user(
            "importer", perms=["organizations.add_organization", "organizations.view_organization"]
        )
    )
    PortalSettings.objects.update_or_create(pk=1, defaults={"organization_term": "Account"})
    body = client.get(reverse("organizations:list")).content.decode()
    assert "<summary>Accounts</summary>" in body
    assert "<summary>Organizations</summary>" not in body


def test_term_setting_page_changes_the_term(client):
    from tests.conftest import make_user

    admin = make_user(
        "termadmin",
        perms=["organizations.change_organization_term", "organizations.view_organization"],
    )
    client.force_login(admin)
    response = client.post(
        reverse("organizations:term"), {"organization_term": "Site"}, follow=True
    )
    assert "The portal now calls organizations “Sites”" in response.content.decode()
    assert PortalSettings.load().organization_term == "Site"
    response = client.post(reverse("organizations:term"), {"organization_term": "Planet"})
    assert response.status_code == 200
    assert PortalSettings.load().organization_term == "Site"
