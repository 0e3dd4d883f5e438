import pytest
from django.test import Client
from django.urls import reverse
from lxml import etree

from connectors.models import MappingChange, OrganizationConnectorMapping, WebConnector
from connectors.services import map_organization
from organizations.models import OrganizationType, PortalSettings
from tests.connectors.factories import MappingFactory, WebConnectorFactory, connector_form_data
from tests.organizations.factories import OrganizationFactory
from tests.permission_matrix import check

pytestmark = pytest.mark.django_db

MOVED_FILE = r"C:\Moved\Second company.QBW"


@pytest.fixture
def mapping(other_connector):
    return MappingFactory(connector=other_connector, organization__name="Mapped Co")


def urls(default_connector, other_connector, mapping):
    """Every URL of the QuickBooks Extension pages: (method, url, status when permitted). The
    other connector gets a reported company file waiting to be accepted."""
    d, o = default_connector.pk, other_connector.pk
    WebConnector.objects.filter(pk=o).update(pending_company_file=MOVED_FILE)
    return [
        ("get", reverse("connectors:list"), 200),
        ("get", reverse("connectors:add"), 200),
        ("get", reverse("connectors:detail", args=[d]), 200),
        ("get", reverse("connectors:edit", args=[d]), 200),
        ("get", reverse("connectors:qwc", args=[d]), 200),
        ("get", reverse("connectors:make_default", args=[o]), 200),
        ("get", reverse("connectors:delete", args=[o]), 200),
        ("post", reverse("connectors:reset_password", args=[o]), 200),
        ("get", reverse("connectors:accept_company_file", args=[o]), 200),
        ("post", reverse("connectors:accept_company_file", args=[o]), 302),
        ("get", reverse("connectors:mapping_list"), 200),
        ("get", reverse("connectors:mapping_new"), 200),
        ("get", reverse("connectors:mapping_edit", args=[mapping.pk]), 200),
        ("post", reverse("connectors:mapping_remove", args=[mapping.pk]), 302),
        ("get", reverse("connectors:organization_mapping", args=[mapping.organization_id]), 302),
    ]


@pytest.mark.parametrize("htmx", [False, True])
def test_anonymous_users_are_sent_to_login(
    client, default_connector, other_connector, mapping, htmx
):
    for method, url, _ in urls(default_connector, other_connector, mapping):
        check(client, method, url, "login", htmx=htmx)


@pytest.mark.parametrize("htmx", [False, True])
def test_users_without_the_quickbooks_permission_get_403(
    plain_client, viewer_client, default_connector, other_connector, mapping, htmx
):
    for method, url, _ in urls(default_connector, other_connector, mapping):
        check(plain_client, method, url, 403, htmx=htmx)
        check(viewer_client, method, url, 403, htmx=htmx)


def test_quickbooks_administrators_get_in(qb_client, default_connector, other_connector, mapping):
    for method, url, status in urls(default_connector, other_connector, mapping):
        check(qb_client, method, url, status)


def test_forms_require_a_csrf_token(qb_admin, default_connector, other_connector):
    client = Client(enforce_csrf_checks=True)
    client.force_login(qb_admin)
    org = OrganizationFactory()
    response = client.post(
        reverse("connectors:mapping_new"),
        {"organization": org.pk, "connector": other_connector.pk},
    )
    assert response.status_code == 403
    assert not OrganizationConnectorMapping.objects.exists()
    response = client.post(reverse("connectors:add"), {"name": "X", "username": "x"})
    assert response.status_code == 403


def test_adding_a_connector_shows_its_password_once_and_stores_a_hash(qb_client):
    response = qb_client.post(
        reverse("connectors:add"),
        connector_form_data(),
    )
    assert response.status_code == 200
    raw = response.context["password"]
    assert len(raw) >= 20 and raw in response.content.decode()
    connector = WebConnector.objects.get(username="books")
    assert connector.is_default  # the first one
    assert connector.check_password(raw)
    assert raw not in connector.password
    assert connector.password.startswith("hmac_sha256$")
    detail = qb_client.get(reverse("connectors:detail", args=[connector.pk]))
    assert raw not in detail.content.decode()
    assert "no-store" in response["Cache-Control"]


def test_resetting_the_password_replaces_it(qb_client, default_connector):
    response = qb_client.post(reverse("connectors:reset_password", args=[default_connector.pk]))
    default_connector.refresh_from_db()
    assert default_connector.check_password(response.context["password"])
    assert not default_connector.check_password("correct horse battery staple")


def test_connector_usernames_are_unique(qb_client, default_connector):
    response = qb_client.post(
        reverse("connectors:add"),
        {
            "name": "Other",
            "username": default_connector.username,
            "run_every_minutes": 60,
            "qbxml_version": "13.0",
        },
    )
    assert response.status_code == 200
    assert "username" in response.context["form"].errors


def test_default_connector_cannot_be_deactivated(qb_client, default_connector):
    response = qb_client.post(
        reverse("connectors:edit", args=[default_connector.pk]),
        {
            "name": default_connector.name,
            "username": default_connector.username,
            "run_every_minutes": 60,
            "qbxml_version": "13.0",
        },
    )
    assert response.status_code == 200
    assert "cannot be deactivated" in response.content.decode()
    default_connector.refresh_from_db()
    assert default_connector.active


def test_qwc_file_is_xml_with_the_connector_fields(qb_client, default_connector, settings):
    settings.SITE_URL = "https://portal.example.com"
    response = qb_client.get(reverse("connectors:qwc", args=[default_connector.pk]))
    assert response["Content-Disposition"].endswith('.qwc"')
    root = etree.fromstring(response.content)
    assert root.tag == "QBWCXML"
    assert root.findtext("AppURL") == "https://portal.example.com/qbwc/"
    assert root.findtext("AppSupport").startswith("https://portal.example.com/")
    assert root.findtext("UserName") == default_connector.username
    assert root.findtext("OwnerID") == default_connector.owner_id
    assert root.findtext("FileID") == default_connector.file_id
    assert root.findtext("QBType") == "QBFS"
    assert root.findtext("Scheduler/RunEveryNMinutes") == str(default_connector.run_every_minutes)
    assert root.findtext("AppName") and len(root.findtext("AppDescription")) <= 80
    assert b"<?xml" in response.content[:10]
    assert b"password" not in response.content.lower()


def test_qwc_ids_are_stable_across_downloads(qb_client, default_connector):
    first = qb_client.get(reverse("connectors:qwc", args=[default_connector.pk])).content
    second = qb_client.get(reverse("connectors:qwc", args=[default_connector.pk])).content
    assert first == second


def test_qwc_allows_http_on_localhost(qb_client, default_connector, settings):
    settings.SITE_URL = "http://localhost:8000"
    response = qb_client.get(reverse("connectors:qwc", args=[default_connector.pk]))
    assert etree.fromstring(response.content).findtext("AppURL") == "http://localhost:8000/qbwc/"


def test_qwc_refuses_plain_http_on_a_public_host(qb_client, default_connector, settings):
    settings.SITE_URL = "http://portal.example.com"
    response = qb_client.get(reverse("connectors:qwc", args=[default_connector.pk]), follow=True)
    assert "https" in response.content.decode()
    assert response.redirect_chain[-1][0] == reverse(
        "connectors:detail", args=[default_connector.pk]
    )


def test_make_default_confirmation_says_how_many_move(
    qb_client, default_connector, other_connector
):
    OrganizationFactory.create_batch(3)
    OrganizationFactory(org_type=OrganizationType.DEAD)
    response = qb_client.get(reverse("connectors:make_default", args=[other_connector.pk]))
    assert "3 organizations" in response.content.decode()
    response = qb_client.post(reverse("connectors:make_default", args=[other_connector.pk]))
    assert response.status_code == 302
    assert WebConnector.objects.default() == other_connector


def test_delete_page_lists_mapped_organizations_and_refuses(qb_client, other_connector, mapping):
    response = qb_client.post(reverse("connectors:delete", args=[other_connector.pk]))
    assert response.status_code == 409
    assert "Mapped Co" in response.content.decode()
    assert WebConnector.objects.filter(pk=other_connector.pk).exists()


def test_default_connector_delete_is_refused(qb_client, default_connector):
    response = qb_client.post(reverse("connectors:delete", args=[default_connector.pk]))
    assert response.status_code == 409
    assert WebConnector.objects.filter(pk=default_connector.pk).exists()


def test_unmapped_connector_is_deleted(qb_client, default_connector, other_connector):
    response = qb_client.post(reverse("connectors:delete", args=[other_connector.pk]))
    assert response.status_code == 302
    assert not WebConnector.objects.filter(pk=other_connector.pk).exists()


# --- The mapping page and dialog ------------------------------------------------------------


def post_dialog(client, data):
    return client.post(reverse("connectors:mapping_new"), data, headers={"HX-Request": "true"})


def test_mapping_page_explains_the_default(qb_client, default_connector, other_connector):
    response = qb_client.get(reverse("connectors:mapping_list"))
    body = response.content.decode()
    assert "All organizations go to the default web connector" in body
    assert default_connector.name in body
    assert "Map Another Organization" in body


def test_dialog_offers_only_active_non_default_connectors(
    qb_client, default_connector, other_connector
):
    inactive = WebConnectorFactory(name="Old file", active=False)
    response = qb_client.get(reverse("connectors:mapping_new"), headers={"HX-Request": "true"})
    body = response.content.decode()
    assert f'value="{other_connector.pk}"' in body
    assert f'value="{default_connector.pk}"' not in body
    assert f'value="{inactive.pk}"' not in body
    assert "<dialog" in body


def test_valid_dialog_submission_closes_it_and_refreshes_the_list(
    qb_client, qb_admin, default_connector, other_connector
):
    org = OrganizationFactory()
    response = post_dialog(qb_client, {"organization": org.pk, "connector": other_connector.pk})
    assert response.status_code == 204
    assert "closeModal" in response["HX-Trigger"] and "mappingsChanged" in response["HX-Trigger"]
    mapping = OrganizationConnectorMapping.objects.get(organization=org)
    assert mapping.connector == other_connector and mapping.changed_by == qb_admin


@pytest.mark.parametrize("org_type", [OrganizationType.DEAD, OrganizationType.CANCELATION])
def test_dialog_refuses_dead_and_cancelation(qb_client, other_connector, org_type):
    org = OrganizationFactory(org_type=org_type)
    response = post_dialog(qb_client, {"organization": org.pk, "connector": other_connector.pk})
    assert response.status_code == 200
    assert "cannot be mapped" in response.content.decode()
    assert not OrganizationConnectorMapping.objects.exists()


def test_dialog_refuses_the_default_connector(qb_client, default_connector, other_connector):
    org = OrganizationFactory()
    response = post_dialog(qb_client, {"organization": org.pk, "connector": default_connector.pk})
    assert "leave the organization unmapped to use the default" in response.content.decode()
    assert not OrganizationConnectorMapping.objects.exists()


def test_dialog_refuses_an_already_mapped_organization_and_offers_edit(qb_client, mapping):
    third = WebConnectorFactory()
    response = post_dialog(
        qb_client, {"organization": mapping.organization_id, "connector": third.pk}
    )
    body = response.content.decode()
    assert "already mapped" in body
    assert reverse("connectors:mapping_edit", args=[mapping.pk]) in body
    mapping.refresh_from_db()
    assert mapping.connector != third


def test_dialog_requires_both_fields(qb_client, other_connector):
    response = post_dialog(qb_client, {})
    body = response.content.decode()
    assert "Choose an organization from the list." in body
    assert "Choose a QuickBooks Web Connector" in body


def test_without_htmx_the_dialog_is_a_page_and_redirects(qb_client, other_connector):
    org = OrganizationFactory()
    assert "<dialog" not in qb_client.get(reverse("connectors:mapping_new")).content.decode()
    response = qb_client.post(
        reverse("connectors:mapping_new"), {"organization": org.pk, "connector": other_connector.pk}
    )
    assert response.status_code == 302


def test_editing_a_mapping_changes_its_connector(qb_client, mapping):
    third = WebConnectorFactory()
    response = qb_client.post(
        reverse("connectors:mapping_edit", args=[mapping.pk]),
        {"connector": third.pk},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 204
    mapping.refresh_from_db()
    assert mapping.connector == third


def test_removing_a_mapping_sends_the_organization_to_the_default(qb_client, mapping):
    response = qb_client.post(
        reverse("connectors:mapping_remove", args=[mapping.pk]), headers={"HX-Request": "true"}
    )
    assert response.status_code == 204
    assert not OrganizationConnectorMapping.objects.exists()
    assert MappingChange.objects.filter(organization=mapping.organization).exists()


def test_mapping_list_search_and_htmx_partial(qb_client, other_connector):
    MappingFactory(connector=other_connector, organization__name="Findable Dental")
    MappingFactory(connector=other_connector, organization__name="Hidden Law")
    response = qb_client.get(
        reverse("connectors:mapping_list"), {"q": "dental"}, headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    assert "Findable Dental" in body and "Hidden Law" not in body
    assert "<html" not in body


@pytest.mark.parametrize("rows", [3, 40])
def test_mapping_list_query_count_is_constant(
    qb_client, other_connector, rows, django_assert_max_num_queries
):
    for _ in range(rows):
        MappingFactory(connector=other_connector)
    with django_assert_max_num_queries(11):
        response = qb_client.get(reverse("connectors:mapping_list"))
    assert response.status_code == 200


def test_organization_page_shows_connector_and_history(
    qb_client, qb_admin, default_connector, other_connector
):
    org = OrganizationFactory(name="Historic Inc.")
    map_organization(org, other_connector, qb_admin)
    body = qb_client.get(reverse("organizations:detail", args=[org.pk])).content.decode()
    assert "Web connector history" in body
    assert other_connector.name in body
    assert f"{default_connector.name} (default)" in body
    assert "qbadmin" in body


def test_chosen_term_appears_on_mapping_pages(qb_client, default_connector, other_connector):
    PortalSettings.objects.update_or_create(pk=1, defaults={"organization_term": "Client Company"})
    body = qb_client.get(reverse("connectors:mapping_list")).content.decode()
    assert "Client Company / Web Connector Mapping" in body
    assert "Map Another Client Company" in body
    assert "All client companies go to the default" in body
    assert "Organization" not in body.replace("organizations:", "")


def test_admin_path_refuses_dead_organizations(admin_client, default_connector, other_connector):
    dead = OrganizationFactory(org_type=OrganizationType.DEAD)
    response = admin_client.post(
        reverse("admin:connectors_organizationconnectormapping_add"),
        {"organization": dead.pk, "connector": other_connector.pk},
    )
    assert response.status_code == 200
    assert "cannot be mapped" in response.content.decode()
    assert not OrganizationConnectorMapping.objects.exists()


def test_organization_tools_menu_opens_its_mapping(qb_client, mapping, other_connector):
    org = mapping.organization
    body = qb_client.get(reverse("organizations:detail", args=[org.pk])).content.decode()
    tool_url = reverse("connectors:organization_mapping", args=[org.pk])
    assert "Tools" in body and tool_url in body
    assert qb_client.get(tool_url)["Location"] == reverse(
        "connectors:mapping_edit", args=[mapping.pk]
    )
    unmapped = OrganizationFactory()
    location = qb_client.get(reverse("connectors:organization_mapping", args=[unmapped.pk]))[
        "Location"
    ]
    assert location == reverse("connectors:mapping_new") + f"?organization={unmapped.pk}"


def test_tools_menu_hides_what_the_user_may_not_open(viewer_client, organization):
    body = viewer_client.get(reverse("organizations:detail", args=[organization.pk])).content
    assert reverse("connectors:organization_mapping", args=[organization.pk]).encode() not in body


def test_new_mapping_dialog_can_start_with_the_organization_chosen(qb_client, other_connector):
    org = OrganizationFactory(name="Preselected Ltd")
    response = qb_client.get(
        reverse("connectors:mapping_new"), {"organization": org.pk}, headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    assert 'value="Preselected Ltd"' in body and f'value="{org.pk}"' in body


def test_two_connectors_may_not_name_the_same_company_file(qb_client, default_connector):
    response = qb_client.post(
        reverse("connectors:add"),
        connector_form_data(company_file=default_connector.company_file.upper()),
    )
    assert response.status_code == 200
    assert "different QuickBooks company file" in response.content.decode()
    assert not WebConnector.objects.filter(username="books").exists()


def test_connector_page_offers_the_reported_company_file(qb_client, other_connector):
    WebConnector.objects.filter(pk=other_connector.pk).update(pending_company_file=MOVED_FILE)
    response = qb_client.get(reverse("connectors:detail", args=[other_connector.pk]))
    content = response.content.decode()
    assert MOVED_FILE in content
    assert reverse("connectors:accept_company_file", args=[other_connector.pk]) in content


def test_accept_company_file_confirmation_says_what_it_does(qb_client, other_connector):
    WebConnector.objects.filter(pk=other_connector.pk).update(pending_company_file=MOVED_FILE)
    response = qb_client.get(reverse("connectors:accept_company_file", args=[other_connector.pk]))
    content = response.content.decode()
    assert MOVED_FILE in content and other_connector.company_file in content
    assert "moved or renamed" in content
    other_connector.refresh_from_db()
    assert other_connector.pending_company_file == MOVED_FILE  # a GET changes nothing


def test_accepting_the_reported_company_file_makes_it_the_connectors(qb_client, other_connector):
    WebConnector.objects.filter(pk=other_connector.pk).update(pending_company_file=MOVED_FILE)
    response = qb_client.post(reverse("connectors:accept_company_file", args=[other_connector.pk]))
    assert response.status_code == 302
    other_connector.refresh_from_db()
    assert (other_connector.company_file, other_connector.pending_company_file) == (MOVED_FILE, "")


def test_accepting_a_company_file_another_connector_uses_is_refused(
    qb_client, default_connector, other_connector
):
    taken = default_connector.company_file
    WebConnector.objects.filter(pk=other_connector.pk).update(pending_company_file=taken)
    response = qb_client.post(
        reverse("connectors:accept_company_file", args=[other_connector.pk]), follow=True
    )
    assert "different QuickBooks company file" in response.content.decode()
    other_connector.refresh_from_db()
    assert other_connector.company_file != taken


def test_accepting_a_company_file_requires_a_csrf_token(qb_admin, other_connector):
    WebConnector.objects.filter(pk=other_connector.pk).update(pending_company_file=MOVED_FILE)
    client = Client(enforce_csrf_checks=True)
    client.force_login(qb_admin)
    response = client.post(reverse("connectors:accept_company_file", args=[other_connector.pk]))
    assert response.status_code == 403
    other_connector.refresh_from_db()
    assert other_connector.company_file != MOVED_FILE
