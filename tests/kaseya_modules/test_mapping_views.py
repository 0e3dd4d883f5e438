"""The mapping pages and their htmx endpoints: permissions, CSRF, the rules on every path, the
conflict message, the term, and constant query counts."""

import pytest
from django.test import Client
from django.urls import reverse

from kaseya_modules.mapping import CellState
from kaseya_modules.models import (
    ModuleColumnPreference,
    ModuleMappingChange,
    ModuleOrganization,
    OrganizationModuleIgnore,
)
from organizations.models import Organization, OrganizationType, PortalSettings
from tests.conftest import make_user
from tests.organizations.factories import OrganizationFactory
from tests.permission_matrix import check

from .mapping_support import (
    HTMX,
    icb_client,
    icb_user,
    module_org,
    row_post,
    synced_module,
    usage,
    waiting_module,
    world,
)

__all__ = ["icb_client", "icb_user", "world"]  # fixtures used below

pytestmark = pytest.mark.django_db


def endpoints(w):
    acme, graphus, mo = w["acme"], w["graphus"], w["mo"]
    return [
        ("get", reverse("kaseya_modules:mapping"), {}, 302),
        ("get", reverse("kaseya_modules:map_by_organization"), {}, 200),
        ("get", reverse("kaseya_modules:map_by_module_organization"), {}, 200),
        ("get", reverse("kaseya_modules:map_cell", args=[acme.pk, graphus.code]), {}, 200),
        (
            "post",
            reverse("kaseya_modules:map_cell", args=[acme.pk, graphus.code]),
            {"module_organization": mo.pk, "expected": ""},
            200,
        ),
        ("post", reverse("kaseya_modules:map_columns"), {"order": "", "move": ""}, 200),
        ("get", reverse("kaseya_modules:module_org_typeahead", args=[graphus.code]), {"q": "ac"},
         200),
        ("post", reverse("kaseya_modules:module_org_row", args=[mo.pk]),
         {"op": "ignore", "expected_organization": "", "expected_ignored": "false"}, 200),
        ("post", reverse("kaseya_modules:module_org_bulk"),
         {"ids": [mo.pk], "organization": acme.pk}, 200),
        ("get", reverse("kaseya_modules:organization_mappings", args=[acme.pk]), {}, 200),
        ("post", reverse("kaseya_modules:organization_mappings", args=[acme.pk]), {}, 302),
    ]  # fmt: skip


ENDPOINTS = range(11)


@pytest.mark.parametrize("index", ENDPOINTS)
@pytest.mark.parametrize("htmx", [False, True])
def test_anonymous_is_sent_to_login(client, world, index, htmx):
    method, url, data, _ = endpoints(world)[index]
    check(client, method, url, "login", data, htmx=htmx)


@pytest.mark.parametrize("index", ENDPOINTS)
@pytest.mark.parametrize("htmx", [False, True])
def test_without_the_permission_is_forbidden(plain_client, world, index, htmx):
    method, url, data, _ = endpoints(world)[index]
    check(plain_client, method, url, 403, data, htmx=htmx)
    assert not ModuleMappingChange.objects.exists()


@pytest.mark.parametrize("index", ENDPOINTS)
def test_permitted_user_gets_each_endpoint(icb_client, world, index):
    method, url, data, expected = endpoints(world)[index]
    htmx = expected == 200 and "mappings" not in url
    check(icb_client, method, url, expected, data, htmx=htmx)


def test_every_post_needs_the_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("csrf", groups=["Integrated Customer Billing administrators"]))
    for method, url, data, _ in endpoints(world):
        if method == "post":
            assert client.post(url, data).status_code == 403, url
    assert not ModuleMappingChange.objects.exists()


def test_navigation_and_tools_entry(icb_client, world):
    page = icb_client.get(reverse("organizations:detail", args=[world["acme"].pk]))
    assert reverse("kaseya_modules:organization_mappings", args=[world["acme"].pk]) in (
        page.content.decode()
    )
    assert "Manage Integrated Customer Billing" in page.content.decode()
    assert "Kaseya Module Organization Mapping" in page.content.decode()


def test_a_dead_organization_offers_no_billing_tool_and_a_read_only_page(icb_client, world):
    dead = world["dead"]
    page = icb_client.get(reverse("organizations:detail", args=[dead.pk])).content.decode()
    assert "Manage Integrated Customer Billing" not in page
    url = reverse("kaseya_modules:organization_mappings", args=[dead.pk])
    html = icb_client.get(url).content.decode()
    assert 'id="mappings-form"' not in html and "nothing can be mapped to it" in html
    icb_client.post(url, {"graphus_m-ignore": "on", "graphus_m-expected": ""})
    assert not OrganizationModuleIgnore.objects.filter(organization=dead).exists()


# --- Map by Organization ----------------------------------------------------------------------


def test_map_by_organization_lists_billable_organizations_only(icb_client, world):
    html = icb_client.get(reverse("kaseya_modules:map_by_organization")).content.decode()
    assert "Acme Corporation" in html and "Globex" in html
    assert "Defunct Ltd" not in html
    assert html.index(">Graphus") < html.index(">Passly")


def test_a_waiting_module_says_so_in_its_column_header_and_is_offered_nowhere(icb_client, world):
    later = waiting_module(name="Later Module", code="later_m")
    module_org(later, "Early Bird")
    html = icb_client.get(reverse("kaseya_modules:map_by_organization")).content.decode()
    assert 'Later Module<br><small class="muted">Waiting for its first sync' in html
    url = reverse("kaseya_modules:module_org_typeahead", args=[later.code])
    assert icb_client.get(url, {"q": "early"}).status_code == 404
    tab = icb_client.get(reverse("kaseya_modules:map_by_module_organization")).content.decode()
    assert "Early Bird" not in tab


def test_picking_in_a_cell_maps_and_returns_the_cell(icb_client, world):
    acme, graphus, mo = world["acme"], world["graphus"], world["mo"]
    url = reverse("kaseya_modules:map_cell", args=[acme.pk, graphus.code])

    response = icb_client.post(url, {"module_organization": mo.pk, "expected": ""}, headers=HTMX)

    html = response.content.decode()
    assert f'id="cell-{acme.pk}-{graphus.code}"' in html
    assert 'value="ACME Corp"' in html
    assert 'id="counts" class="counts" hx-swap-oob="true"' in html
    assert ModuleOrganization.objects.get(pk=mo.pk).organization == acme


def test_a_cell_refuses_a_non_billable_organization(icb_client, world):
    dead, graphus, mo = world["dead"], world["graphus"], world["mo"]
    url = reverse("kaseya_modules:map_cell", args=[dead.pk, graphus.code])
    html = icb_client.post(
        url, {"module_organization": mo.pk, "expected": ""}, headers=HTMX
    ).content.decode()
    assert "cannot receive bills" in html
    assert ModuleOrganization.objects.get(pk=mo.pk).organization is None


def test_a_cell_refuses_an_inactive_module_organization(icb_client, world):
    gone = module_org(world["graphus"], "Gone", active=False)
    url = reverse("kaseya_modules:map_cell", args=[world["acme"].pk, world["graphus"].code])
    html = icb_client.post(url, {"module_organization": gone.pk, "expected": ""}, headers=HTMX)
    assert "no longer active" in html.content.decode()


def test_a_stale_cell_shows_the_conflict_and_the_current_value(icb_client, world):
    acme, graphus, mo = world["acme"], world["graphus"], world["mo"]
    other = module_org(graphus, "ACME Corporation HQ", organization=acme)  # saved by someone else
    url = reverse("kaseya_modules:map_cell", args=[acme.pk, graphus.code])

    html = icb_client.post(
        url, {"module_organization": mo.pk, "expected": ""}, headers=HTMX
    ).content.decode()

    assert "changed by someone else" in html and "ACME Corporation HQ" in html
    assert 'value="ACME Corporation HQ"' in html  # the cell now shows the current value
    assert ModuleOrganization.objects.get(pk=mo.pk).organization is None
    assert ModuleOrganization.objects.get(pk=other.pk).organization == acme


def test_ignore_and_unignore_a_cell(icb_client, world):
    acme, graphus = world["acme"], world["graphus"]
    url = reverse("kaseya_modules:map_cell", args=[acme.pk, graphus.code])
    html = icb_client.post(url, {"op": "ignore", "expected": ""}, headers=HTMX).content.decode()
    assert "Ignored" in html and "Un-ignore" in html
    assert OrganizationModuleIgnore.objects.filter(organization=acme, module=graphus).exists()
    icb_client.post(url, {"op": "clear", "expected": "ignored"}, headers=HTMX)
    assert not OrganizationModuleIgnore.objects.exists()


def test_a_cell_with_several_mappings_links_to_the_other_tab(icb_client, world):
    acme, graphus = world["acme"], world["graphus"]
    module_org(graphus, "Acme site 1", organization=acme)
    module_org(graphus, "Acme site 2", organization=acme)
    html = icb_client.get(reverse("kaseya_modules:map_by_organization")).content.decode()
    assert "2 module organizations" in html
    assert f"module={graphus.code}&amp;organization={acme.pk}" in html


def test_cell_without_htmx_redirects_back(icb_client, world):
    url = reverse("kaseya_modules:map_cell", args=[world["acme"].pk, world["graphus"].code])
    response = icb_client.post(url, {"module_organization": world["mo"].pk, "expected": ""})
    assert response.status_code == 302
    assert ModuleOrganization.objects.get(pk=world["mo"].pk).organization == world["acme"]


def test_filter_has_unmapped_modules_and_search(icb_client, world):
    acme, globex = world["acme"], world["globex"]
    OrganizationModuleIgnore.objects.create(organization=acme, module=world["graphus"])
    OrganizationModuleIgnore.objects.create(organization=acme, module=world["passly"])
    url = reverse("kaseya_modules:map_by_organization")
    html = icb_client.get(url, {"status": "unmapped"}).content.decode()
    assert "Globex" in html and "Acme Corporation" not in html
    html = icb_client.get(url, {"status": "ignored"}).content.decode()
    assert "Acme Corporation" in html and "Globex" not in html
    html = icb_client.get(url, {"q": "glob"}, headers={**HTMX, "HX-Target": "results"})
    assert "Globex" in html.content.decode() and "<h1>" not in html.content.decode()
    assert globex


def test_column_chooser_reorders_and_saves_per_user(icb_client, icb_user, world):
    url = reverse("kaseya_modules:map_columns")
    order = f"{world['graphus'].code},{world['passly'].code}"
    html = icb_client.post(
        url, {"order": order, "move": f"{world['passly'].code}:-1"}, headers=HTMX
    ).content.decode()
    assert html.index(">Passly") < html.index(">Graphus")
    pref = ModuleColumnPreference.objects.get(user=icb_user)
    assert pref.module_codes == [world["passly"].code, world["graphus"].code]
    page = icb_client.get(reverse("kaseya_modules:map_by_organization")).content.decode()
    assert page.index('data-code="passly_m">Passly') < page.index('data-code="graphus_m">Graphus')


def test_tab_switch_with_htmx_renders_only_the_tab(icb_client, world):
    response = icb_client.get(
        reverse("kaseya_modules:map_by_module_organization"), headers={**HTMX, "HX-Target": "tab"}
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="tab">')
    assert "ACME Corp" in html


def test_module_org_typeahead_matches_substrings_of_active_module_organizations(icb_client, world):
    module_org(world["graphus"], "Big ACME Holdings")
    module_org(world["graphus"], "ACME inactive", active=False)
    module_org(world["passly"], "ACME in Passly")
    url = reverse("kaseya_modules:module_org_typeahead", args=[world["graphus"].code])
    html = icb_client.get(url, {"q": "acme"}).content.decode()
    assert html.index("ACME Corp") < html.index("Big ACME Holdings")
    assert "inactive" not in html and "Passly" not in html


# --- Map by Module Organization ---------------------------------------------------------------


def test_a_row_maps_to_an_organization(icb_client, world):
    html = row_post(icb_client, world["mo"], organization=world["acme"].pk)
    # a mapped row shows its organization as text, with a Change action (not a search box)
    assert ">Acme Corporation</a>" in html and "<summary>Change</summary>" in html
    assert ModuleOrganization.objects.get(pk=world["mo"].pk).organization == world["acme"]


@pytest.mark.parametrize("org_type", [OrganizationType.DEAD, OrganizationType.CANCELATION])
def test_a_row_refuses_a_non_billable_organization(icb_client, world, org_type):
    target = OrganizationFactory(org_type=org_type)
    html = row_post(icb_client, world["mo"], organization=target.pk)
    assert "cannot receive bills" in html
    assert ModuleOrganization.objects.get(pk=world["mo"].pk).organization is None


def test_a_row_refuses_an_inactive_module_organization(icb_client, world):
    gone = module_org(world["graphus"], "Gone", active=False)
    html = row_post(icb_client, gone, organization=world["acme"].pk)
    assert "no longer active" in html


def test_a_stale_row_shows_the_conflict_and_the_current_value(icb_client, world):
    mo = world["mo"]
    stale = ModuleOrganization.objects.get(pk=mo.pk)
    ModuleOrganization.objects.filter(pk=mo.pk).update(organization=world["globex"])
    html = row_post(icb_client, stale, organization=world["acme"].pk)
    assert "changed by someone else" in html and "mapped to Globex" in html
    assert ">Globex</a>" in html
    assert ModuleOrganization.objects.get(pk=mo.pk).organization == world["globex"]


def test_ignore_unmap_and_unignore_rows(icb_client, world):
    mo = world["mo"]
    row_post(icb_client, mo, op="ignore")
    mo.refresh_from_db()
    assert mo.ignored
    html = icb_client.get(
        reverse("kaseya_modules:map_by_module_organization"), {"status": "ignored"}
    ).content.decode()
    assert "ACME Corp" in html and "Un-ignore" in html
    row_post(icb_client, mo, op="unignore")
    mo.refresh_from_db()
    assert not mo.ignored


def test_filters_by_module_status_and_search(icb_client, world):
    module_org(world["passly"], "Passly Person", organization=world["acme"])
    module_org(world["graphus"], "Old Co", active=False)
    url = reverse("kaseya_modules:map_by_module_organization")
    html = icb_client.get(url, {"module": world["passly"].code}).content.decode()
    assert "Passly Person" in html and "ACME Corp" not in html
    html = icb_client.get(url, {"status": "mapped"}).content.decode()
    assert "Passly Person" in html and "ACME Corp" not in html
    html = icb_client.get(url, {"status": "unmapped"}).content.decode()
    assert "ACME Corp" in html and "Passly Person" not in html
    html = icb_client.get(url, {"status": "inactive"}).content.decode()
    assert "Old Co" in html and "ACME Corp" not in html
    html = icb_client.get(url, {"q": "person"}).content.decode()
    assert "Passly Person" in html and "ACME Corp" not in html


def test_rows_show_parent_path_kind_and_latest_usage(icb_client, world):
    parent = module_org(world["graphus"], "Acme Parent")
    site = module_org(world["graphus"], "Acme Site", parent=parent, kind="site")
    usage(site, "users", 12)
    html = icb_client.get(
        reverse("kaseya_modules:map_by_module_organization"), {"q": "acme site"}
    ).content.decode()
    # Billing types are shown by their catalog names, not their codes.
    assert "Acme Parent" in html and "Site" in html and "Users: 12" in html


def test_unbilled_usage_is_shown_on_the_mapping_page(icb_client, world):
    usage(world["mo"], "users", 8)
    html = icb_client.get(reverse("kaseya_modules:map_by_module_organization")).content.decode()
    assert "Usage that currently bills to nobody" in html
    assert "<td>Users</td><td>8</td>" in html


# --- The Mappings page ---------------------------------------------------------------------------


def mappings_url(org):
    return reverse("kaseya_modules:organization_mappings", args=[org.pk])


def test_mappings_page_title_rows_and_counts(icb_client, world):
    html = icb_client.get(mappings_url(world["acme"])).content.decode()
    assert "<title>Mappings - Acme Corporation" in html
    assert 'id="module-graphus_m"' in html and 'id="module-passly_m"' in html
    assert "2</strong> modules yet to be mapped" in html


def test_mappings_page_sets_one_module_and_ignores_another(icb_client, world):
    acme, mo = world["acme"], world["mo"]
    data = {
        "graphus_m": str(mo.pk), "graphus_m-expected": "",
        "passly_m": "", "passly_m-expected": "", "passly_m-ignore": "on",
    }  # fmt: skip
    response = icb_client.post(mappings_url(acme), data)
    assert response.status_code == 302
    html = icb_client.get(mappings_url(acme)).content.decode()
    assert "No module is yet to be mapped" in html
    assert ModuleOrganization.objects.get(pk=mo.pk).organization == acme
    assert OrganizationModuleIgnore.objects.filter(organization=acme, module=world["passly"])
    history = html[html.index('id="history"') :]
    assert "Mapped ACME Corp: — → Acme Corporation" in history
    assert "Ignored the module for Acme Corporation" in history


def test_mappings_page_conflict_keeps_the_current_value(icb_client, world):
    acme, mo = world["acme"], world["mo"]
    other = module_org(world["graphus"], "ACME Other", organization=acme)
    data = {"graphus_m": str(mo.pk), "graphus_m-expected": "", "passly_m-expected": ""}
    response = icb_client.post(mappings_url(acme), data)
    html = response.content.decode()
    assert response.status_code == 200
    assert "changed by someone else" in html and 'value="ACME Other"' in html
    assert ModuleOrganization.objects.get(pk=other.pk).organization == acme
    assert ModuleOrganization.objects.get(pk=mo.pk).organization is None


@pytest.mark.parametrize("org_type", [OrganizationType.DEAD, OrganizationType.CANCELATION])
def test_mappings_page_refuses_a_non_billable_organization(icb_client, world, org_type):
    target = OrganizationFactory(org_type=org_type)
    data = {"graphus_m": str(world["mo"].pk), "graphus_m-expected": ""}
    html = icb_client.post(mappings_url(target), data).content.decode()
    assert "cannot receive bills" in html
    assert ModuleOrganization.objects.get(pk=world["mo"].pk).organization is None


def test_mappings_page_refuses_an_inactive_module_organization(icb_client, world):
    gone = module_org(world["graphus"], "Gone", active=False)
    html = icb_client.post(
        mappings_url(world["acme"]), {"graphus_m": str(gone.pk), "graphus_m-expected": ""}
    ).content.decode()
    assert "no longer active" in html


def test_mappings_page_lists_mapped_module_organizations(icb_client, world):
    acme = world["acme"]
    site = module_org(world["graphus"], "Acme Site", organization=acme, kind="site")
    module_org(world["passly"], "Acme Passly", organization=acme)
    usage(site, "users", 3)
    html = icb_client.get(mappings_url(acme)).content.decode()
    mapped = html[html.index('id="mapped-module-organizations"') :]
    assert "Acme Site" in mapped and "Acme Passly" in mapped


def test_the_chosen_term_is_used_on_the_pages(icb_client, world):
    PortalSettings.objects.update_or_create(pk=1, defaults={"organization_term": "Customer"})
    html = icb_client.get(reverse("kaseya_modules:map_by_organization")).content.decode()
    assert "Map by Customer" in html and "billable customer" in html
    assert "customers with unmapped modules" in html
    html = icb_client.get(reverse("kaseya_modules:map_by_module_organization")).content.decode()
    assert "<th>Customer</th>" in html
    html = icb_client.get(mappings_url(world["acme"])).content.decode()
    assert "yet to be mapped for this customer" in html


# --- Query counts ---------------------------------------------------------------------------------


def grow(world, organizations, module_orgs_each):
    modules = [world["graphus"], world["passly"]] + [
        synced_module(name=f"Extra {i}") for i in range(organizations // 10)
    ]
    orgs = [OrganizationFactory() for _ in range(organizations)]
    for index, org in enumerate(orgs):
        for module in modules:
            for k in range(module_orgs_each):
                mo = module_org(module, f"{org.name} {k}", organization=org if k else None)
                usage(mo, "users", index)
        if index % 3 == 0:
            OrganizationModuleIgnore.objects.create(organization=org, module=modules[-1])
    return orgs


@pytest.mark.parametrize("size", [(3, 1), (30, 2)])
def test_tabs_and_mappings_page_render_in_a_constant_number_of_queries(
    icb_client, world, size, django_assert_max_num_queries
):
    orgs = grow(world, *size)
    target = orgs[-1]
    for url in (
        reverse("kaseya_modules:map_by_organization"),
        reverse("kaseya_modules:map_by_module_organization"),
    ):
        with django_assert_max_num_queries(16):
            assert icb_client.get(url).status_code == 200
    # The Mappings page also carries billing's preview panel (a few queries of its own, however
    # many module organizations; see tests/billing).
    with django_assert_max_num_queries(21):
        assert icb_client.get(mappings_url(target)).status_code == 200
    with django_assert_max_num_queries(16):
        icb_client.get(reverse("kaseya_modules:map_by_organization"), {"status": "unmapped"})


def test_the_admin_maps_through_the_services(admin_client, world):
    mo = world["mo"]
    url = reverse("admin:kaseya_modules_moduleorganization_change", args=[mo.pk])
    form = {
        "module": mo.module_id, "external_id": mo.external_id, "name": mo.name, "parent": "",
        "kind": mo.kind, "active": "on", "organization": world["acme"].pk,
    }  # fmt: skip
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert ModuleOrganization.objects.get(pk=mo.pk).organization == world["acme"]
    [change] = ModuleMappingChange.objects.all()
    assert change.action == "map" and change.changed_by.username == "admin"


@pytest.mark.parametrize("org_type", [OrganizationType.DEAD, OrganizationType.CANCELATION])
def test_the_admin_refuses_a_non_billable_organization(admin_client, world, org_type):
    mo = world["mo"]
    target = Organization.objects.create(autotask_id=999, name="Nope", org_type=org_type)
    url = reverse("admin:kaseya_modules_moduleorganization_change", args=[mo.pk])
    form = {"module": mo.module_id, "external_id": mo.external_id, "name": mo.name,
            "kind": mo.kind, "active": "on", "organization": target.pk}  # fmt: skip
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert "cannot receive bills" in response.content.decode()
    assert ModuleOrganization.objects.get(pk=mo.pk).organization is None


def test_the_admin_refuses_an_inactive_module_organization(admin_client, world):
    mo = world["mo"]
    url = reverse("admin:kaseya_modules_moduleorganization_change", args=[mo.pk])
    form = {"module": mo.module_id, "external_id": mo.external_id, "name": mo.name,
            "kind": mo.kind, "organization": world["acme"].pk}  # active unticked  # fmt: skip
    response = admin_client.post(url, form)
    assert "no longer active" in response.content.decode()
    assert ModuleOrganization.objects.get(pk=mo.pk).organization is None


def test_the_admin_refuses_a_stale_form(admin_client, world):
    # given: the change form was rendered while the row was unmapped
    mo = world["mo"]
    url = reverse("admin:kaseya_modules_moduleorganization_change", args=[mo.pk])
    assert 'name="rendered_state" value=":0"' in admin_client.get(url).content.decode()
    # and someone else then mapped it to Globex
    ModuleOrganization.objects.filter(pk=mo.pk).update(organization=world["globex"])

    # when: the stale form maps it to Acme
    form = {"module": mo.module_id, "external_id": mo.external_id, "name": mo.name,
            "kind": mo.kind, "active": "on", "organization": world["acme"].pk,
            "rendered_state": ":0"}  # fmt: skip
    response = admin_client.post(url, form)

    # then
    assert response.status_code == 200
    assert "Someone else changed" in response.content.decode()
    assert ModuleOrganization.objects.get(pk=mo.pk).organization == world["globex"]
    assert not ModuleMappingChange.objects.exists()


def test_cell_state_is_posted_back_as_rendered(icb_client, world):
    acme, graphus = world["acme"], world["graphus"]
    module_org(graphus, "One", organization=acme)
    html = icb_client.get(reverse("kaseya_modules:map_cell", args=[acme.pk, graphus.code]))
    token = CellState(frozenset(ModuleOrganization.objects.filter(organization=acme)
                                .values_list("pk", flat=True))).token  # fmt: skip
    assert f'name="expected" value="{token}"' in html.content.decode()
