"""The mapping services: the rules of issue 5 item 4, the conflict check and the history."""

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from kaseya_modules import mapping, mapping_bulk, mapping_reads
from kaseya_modules.mapping import CellState, MappingConflict, ModuleOrgState
from kaseya_modules.models import (
    MappingAction,
    ModuleMappingChange,
    ModuleOrganization,
    OrganizationModuleIgnore,
)
from organizations.models import OrganizationType
from tests.conftest import make_user
from tests.organizations.factories import OrganizationFactory

from .factories import KaseyaModuleFactory
from .mapping_support import ICB_GROUP, module_org, synced_module, usage, waiting_module

pytestmark = pytest.mark.django_db

NOT_BILLABLE = [OrganizationType.DEAD, OrganizationType.CANCELATION]


@pytest.fixture
def user(db):
    return make_user("mapper")


@pytest.fixture
def module(db):
    return synced_module(name="Graphus", code="graphus_t")


@pytest.fixture
def acme(db):
    return OrganizationFactory(name="Acme Corporation")


@pytest.fixture
def globex(db):
    return OrganizationFactory(name="Globex")


def changes():
    return list(ModuleMappingChange.objects.order_by("pk"))


# --- map / unmap / ignore / un-ignore of one module organization ----------------------------


def test_mapping_a_module_organization_bills_it_to_the_organization(module, acme, user):
    mo = module_org(module, "ACME Corp")

    mapping.map_module_organization(mo, acme, user, expected=ModuleOrgState(None, False))

    mo.refresh_from_db()
    assert mo.organization == acme
    [change] = changes()
    assert (change.action, change.module_organization, change.changed_by) == ("map", mo, user)
    assert (change.old_organization, change.new_organization) == (None, acme)
    assert change.new_organization_name == "Acme Corporation"


@pytest.mark.parametrize("org_type", NOT_BILLABLE)
def test_a_non_billable_organization_never_receives_a_module_organization(module, user, org_type):
    dead = OrganizationFactory(name="Gone Ltd", org_type=org_type)
    mo = module_org(module, "Gone")

    with pytest.raises(ValidationError, match="cannot receive bills"):
        mapping.map_module_organization(mo, dead, user)

    mo.refresh_from_db()
    assert mo.organization is None
    assert not changes()


def test_an_inactive_module_organization_cannot_be_mapped(module, acme, user):
    mo = module_org(module, "Old site", active=False)
    with pytest.raises(ValidationError, match="no longer active"):
        mapping.map_module_organization(mo, acme, user)
    assert ModuleOrganization.objects.get(pk=mo.pk).organization is None


def test_a_module_without_icb_cannot_be_mapped(acme, user):
    module = KaseyaModuleFactory(icb_enabled=False)
    mo = module_org(module, "Somebody")
    with pytest.raises(ValidationError, match="not enabled"):
        mapping.map_module_organization(mo, acme, user)


def test_a_module_waiting_for_its_first_sync_cannot_be_mapped(acme, user):
    mo = module_org(waiting_module(), "Somebody")
    with pytest.raises(ValidationError, match="waiting for its first sync"):
        mapping.map_module_organization(mo, acme, user)


def test_remapping_records_old_and_new_organization(module, acme, globex, user):
    mo = module_org(module, "ACME Corp", organization=acme)

    mapping.map_module_organization(mo, globex, user, expected=ModuleOrgState(acme.pk, False))

    [change] = changes()
    assert (change.old_organization, change.new_organization) == (acme, globex)
    assert ModuleOrganization.objects.get(pk=mo.pk).organization == globex


def test_a_stale_save_is_refused_with_the_current_value(module, acme, globex, user):
    # given: the page was rendered while the row was unmapped; someone then mapped it to Acme
    mo = module_org(module, "ACME Corp")
    mapping.map_module_organization(mo, acme, user, expected=ModuleOrgState(None, False))

    # when: the stale page maps it to Globex
    with pytest.raises(MappingConflict) as caught:
        mapping.map_module_organization(mo, globex, user, expected=ModuleOrgState(None, False))

    # then: nothing is overwritten, and the error carries the current value
    assert caught.value.current == ModuleOrgState(acme.pk, False)
    assert "Acme Corporation" in caught.value.messages[0]
    assert ModuleOrganization.objects.get(pk=mo.pk).organization == acme
    assert len(changes()) == 1


def test_a_stale_unmap_is_refused(module, acme, globex, user):
    mo = module_org(module, "ACME Corp", organization=globex)
    with pytest.raises(MappingConflict):
        mapping.unmap_module_organization(mo, user, expected=ModuleOrgState(acme.pk, False))
    assert ModuleOrganization.objects.get(pk=mo.pk).organization == globex


def test_unmapping_is_recorded_and_allowed_for_an_inactive_module_organization(module, acme, user):
    mo = module_org(module, "Old site", organization=acme, active=False)

    mapping.unmap_module_organization(mo, user, expected=ModuleOrgState(acme.pk, False))

    assert ModuleOrganization.objects.get(pk=mo.pk).organization is None
    [change] = changes()
    assert (change.action, change.old_organization) == ("unmap", acme)


def test_ignoring_a_mapped_module_organization_unmaps_it(module, acme, user):
    mo = module_org(module, "Test tenant", organization=acme)

    mapping.ignore_module_organization(mo, user, expected=ModuleOrgState(acme.pk, False))

    mo.refresh_from_db()
    assert (mo.organization, mo.ignored) == (None, True)
    assert [c.action for c in changes()] == ["unmap", "ignore"]


def test_unignore_puts_it_back(module, user):
    mo = module_org(module, "Test tenant", ignored=True)
    mapping.unignore_module_organization(mo, user, expected=ModuleOrgState(None, True))
    assert not ModuleOrganization.objects.get(pk=mo.pk).ignored
    assert [c.action for c in changes()] == ["unignore"]


def test_a_stale_ignore_is_refused(module, acme, user):
    mo = module_org(module, "Test tenant", organization=acme)
    with pytest.raises(MappingConflict):
        mapping.ignore_module_organization(mo, user, expected=ModuleOrgState(None, False))
    assert not ModuleOrganization.objects.get(pk=mo.pk).ignored


def test_mapping_an_ignored_module_organization_unignores_it(module, acme, user):
    mo = module_org(module, "Tenant", ignored=True)
    mapping.map_module_organization(mo, acme, user, expected=ModuleOrgState(None, True))
    mo.refresh_from_db()
    assert (mo.organization, mo.ignored) == (acme, False)
    assert [c.action for c in changes()] == ["unignore", "map"]


def test_mapping_clears_the_organization_ignore_of_that_module(module, acme, user):
    OrganizationModuleIgnore.objects.create(organization=acme, module=module)
    mo = module_org(module, "ACME")
    mapping.map_module_organization(mo, acme, user)
    assert not OrganizationModuleIgnore.objects.exists()
    assert [c.action for c in changes()] == ["map", "unignore"]


def test_bulk_map_maps_every_selected_row(module, acme, user):
    rows = [module_org(module, "Acme HQ"), module_org(module, "Acme Branch")]
    items = [(mo, ModuleOrgState(None, False)) for mo in rows]

    assert mapping_bulk.bulk_map_module_organizations(items, acme, user) == 2

    assert set(ModuleOrganization.objects.filter(organization=acme)) == set(rows)
    assert [c.action for c in changes()] == ["map", "map"]


def test_bulk_map_is_all_or_nothing(module, acme, user):
    good, gone = module_org(module, "Acme HQ"), module_org(module, "Old", active=False)
    items = [(good, ModuleOrgState(None, False)), (gone, ModuleOrgState(None, False))]
    with pytest.raises(ValidationError, match="no longer active"):
        mapping_bulk.bulk_map_module_organizations(items, acme, user)
    assert not ModuleOrganization.objects.filter(organization=acme).exists()
    assert not changes()


@pytest.mark.parametrize("org_type", NOT_BILLABLE)
def test_bulk_map_refuses_a_non_billable_target(module, user, org_type):
    dead = OrganizationFactory(org_type=org_type)
    mo = module_org(module, "Acme HQ")
    with pytest.raises(ValidationError):
        mapping_bulk.bulk_map_module_organizations([(mo, ModuleOrgState(None, False))], dead, user)
    assert ModuleOrganization.objects.get(pk=mo.pk).organization is None


def test_bulk_map_with_a_stale_row_maps_nothing(module, acme, globex, user):
    first, second = module_org(module, "A"), module_org(module, "B", organization=globex)
    items = [(first, ModuleOrgState(None, False)), (second, ModuleOrgState(None, False))]
    with pytest.raises(MappingConflict):
        mapping_bulk.bulk_map_module_organizations(items, acme, user)
    assert ModuleOrganization.objects.get(pk=first.pk).organization is None


# --- one organization in one module (cells, Mappings page) ------------------------------------


def test_setting_a_cell_maps_the_one_module_organization(module, acme, user):
    old, new = module_org(module, "ACME old", organization=acme), module_org(module, "ACME")

    state = mapping.set_organization_module(
        acme, module, new, user, expected=CellState(frozenset({old.pk}))
    )

    assert state == CellState(frozenset({new.pk}))
    assert ModuleOrganization.objects.get(pk=old.pk).organization is None
    assert [(c.action, c.module_organization) for c in changes()] == [("unmap", old), ("map", new)]


def test_a_cell_refuses_a_module_organization_billing_to_another_organization(
    module, acme, globex, user
):
    mo = module_org(module, "Shared", organization=globex)
    with pytest.raises(ValidationError, match="already bills to Globex"):
        mapping.set_organization_module(acme, module, mo, user, expected=CellState())
    assert ModuleOrganization.objects.get(pk=mo.pk).organization == globex


def test_a_cell_refuses_a_module_organization_of_another_module(module, acme, user):
    other = synced_module()
    mo = module_org(other, "Elsewhere")
    with pytest.raises(ValidationError, match="is not in"):
        mapping.set_organization_module(acme, module, mo, user)


@pytest.mark.parametrize("org_type", NOT_BILLABLE)
def test_a_cell_refuses_a_non_billable_organization(module, user, org_type):
    dead = OrganizationFactory(org_type=org_type)
    mo = module_org(module, "X")
    with pytest.raises(ValidationError, match="cannot receive bills"):
        mapping.set_organization_module(dead, module, mo, user)
    with pytest.raises(ValidationError, match="cannot receive bills"):
        mapping.ignore_organization_module(dead, module, user)


def test_a_cell_refuses_an_inactive_module_organization(module, acme, user):
    mo = module_org(module, "Old", active=False)
    with pytest.raises(ValidationError, match="no longer active"):
        mapping.set_organization_module(acme, module, mo, user)


def test_a_cell_refuses_a_module_waiting_for_its_first_sync(acme, user):
    module = waiting_module()
    with pytest.raises(ValidationError, match="waiting for its first sync"):
        mapping.ignore_organization_module(acme, module, user)


def test_a_stale_cell_is_refused_with_the_current_value(module, acme, user):
    # given: Acme had nothing in the module when both admins opened the page
    first, second = module_org(module, "ACME 1"), module_org(module, "ACME 2")
    mapping.set_organization_module(acme, module, first, user, expected=CellState())

    # when: the second admin saves from the stale page
    with pytest.raises(MappingConflict) as caught:
        mapping.set_organization_module(acme, module, second, user, expected=CellState())

    # then
    assert caught.value.current == CellState(frozenset({first.pk}))
    assert "ACME 1" in caught.value.messages[0]
    assert ModuleOrganization.objects.get(pk=second.pk).organization is None


def test_ignoring_a_module_for_an_organization_unmaps_and_records(module, acme, user):
    mo = module_org(module, "ACME", organization=acme)

    state = mapping.ignore_organization_module(
        acme, module, user, expected=CellState(frozenset({mo.pk}))
    )

    assert state == CellState(frozenset(), True)
    assert ModuleOrganization.objects.get(pk=mo.pk).organization is None
    assert [c.action for c in changes()] == ["unmap", "ignore"]
    assert changes()[1].new_organization == acme


def test_clearing_an_ignored_cell_unignores(module, acme, user):
    mapping.ignore_organization_module(acme, module, user, expected=CellState())
    mapping.set_organization_module(acme, module, None, user, expected=CellState(ignored=True))
    assert not OrganizationModuleIgnore.objects.exists()
    assert [c.action for c in changes()] == ["ignore", "unignore"]


def test_a_stale_ignore_of_a_cell_is_refused(module, acme, user):
    module_org(module, "ACME", organization=acme)
    with pytest.raises(MappingConflict):
        mapping.ignore_organization_module(acme, module, user, expected=CellState())
    assert not OrganizationModuleIgnore.objects.exists()


def test_cell_state_token_round_trips():
    for state in (CellState(), CellState(frozenset({3, 1})), CellState(ignored=True)):
        assert CellState.parse(state.token) == state
    with pytest.raises(ValidationError):
        CellState.parse("1,x")


# --- counts and usage ---------------------------------------------------------------------------


def test_yet_to_be_mapped_counts_exclude_mapped_and_ignored(module, acme, globex, user):
    other = synced_module(name="Passly")
    waiting = waiting_module(name="Later")
    dead = OrganizationFactory(org_type=OrganizationType.DEAD)
    module_org(module, "A", organization=acme)
    module_org(module, "B")
    module_org(module, "C", ignored=True)
    module_org(module, "D", active=False)
    module_org(other, "E")
    # Acme: mapped in Graphus, ignores Passly → nothing left. Globex: both unmapped.
    OrganizationModuleIgnore.objects.create(organization=acme, module=other)

    counts = mapping_reads.yet_to_be_mapped([module, other, waiting])

    assert dict((m.code, n) for m, n in counts["per_module"]) == {
        module.code: 1,
        other.code: 1,
        waiting.code: None,
    }
    assert counts["module_organizations"] == 2
    assert counts["organizations"] == 1
    assert list(mapping_reads.organizations_with_unmapped_modules([module, other])) == [globex]
    assert dead not in mapping_reads.organizations_with_unmapped_modules([module, other])


def test_an_inactive_mapping_leaves_the_module_unmapped_for_the_organization(module, acme):
    module_org(module, "Gone", organization=acme, active=False)
    assert list(mapping_reads.organizations_with_unmapped_modules([module])) == [acme]


def test_unbilled_usage_is_the_usage_of_unmapped_unignored_module_organizations(module, acme):
    usage(module_org(module, "Mapped", organization=acme), "users", 7)
    usage(module_org(module, "Ignored", ignored=True), "users", 3)
    usage(module_org(module, "Nobody"), "users", 4)
    usage(module_org(module, "Nobody 2"), "users", 2)

    [row] = mapping_reads.unbilled_usage([module])

    assert (row["billing_type"], row["quantity"], row["sources"]) == ("Users", 6, 2)


# --- column order ---------------------------------------------------------------------------------


def test_column_order_is_kept_per_user_and_new_modules_are_appended(user):
    a, b, c = synced_module(name="A"), synced_module(name="B"), synced_module(name="C")
    mapping_reads.save_column_order(user, [c.code, a.code, "unknown"], [a, b, c])
    d = synced_module(name="D")

    assert mapping_reads.ordered_columns(user, [a, b, c, d]) == [c, a, b, d]
    assert mapping_reads.ordered_columns(make_user("other"), [a, b, c]) == [a, b, c]


def test_moving_a_column_stays_within_the_ends():
    assert mapping_reads.moved(["a", "b", "c"], "b", -1) == ["b", "a", "c"]
    assert mapping_reads.moved(["a", "b", "c"], "c", 1) == ["a", "b", "c"]


# --- model clean (the Django admin path) and the group -------------------------------------------


@pytest.mark.parametrize("org_type", NOT_BILLABLE)
def test_model_clean_refuses_a_non_billable_organization(module, org_type):
    mo = module_org(module, "X")
    mo.organization = OrganizationFactory(org_type=org_type)
    with pytest.raises(ValidationError) as caught:
        mo.full_clean()
    assert "organization" in caught.value.message_dict


def test_model_clean_refuses_an_inactive_or_unsynced_module_organization(acme):
    for mo in (
        module_org(synced_module(), "Old", active=False),
        module_org(waiting_module(), "Early"),
        module_org(KaseyaModuleFactory(), "Off"),
    ):
        mo.organization = acme
        with pytest.raises(ValidationError):
            mo.full_clean()


def test_model_clean_refuses_mapped_and_ignored_at_once(module, acme):
    mo = module_org(module, "X")
    mo.organization, mo.ignored = acme, True
    with pytest.raises(ValidationError, match="ignored"):
        mo.full_clean()


def test_icb_group_carries_the_permissions_the_pages_need(db):
    perms = set(Group.objects.get(name=ICB_GROUP).permissions.values_list("codename", flat=True))
    assert {"manage_icb", "view_organization"} <= perms


def test_history_lists_changes_for_the_organization(module, acme, globex, user):
    mo = module_org(module, "ACME")
    mapping.map_module_organization(mo, acme, user)
    mapping.map_module_organization(mo, globex, user)
    assert [c.action for c in mapping.history_for(acme)] == [MappingAction.MAP] * 2
    assert [c.action for c in mapping.history_for(globex)] == [MappingAction.MAP]


def test_demo_seed_maps_a_few_module_organizations_once(db):
    import io

    from kaseya_modules.demo import seed

    OrganizationFactory(name="Acme Corporation", autotask_id=1)
    OrganizationFactory(name="Globex Inc.", autotask_id=2)
    seed(io.StringIO())
    mapped = ModuleOrganization.objects.filter(organization__isnull=False).count()
    history = ModuleMappingChange.objects.count()
    seed(io.StringIO())

    assert mapped >= 1
    assert ModuleOrganization.objects.filter(organization__isnull=False).count() == mapped
    assert ModuleMappingChange.objects.count() == history == mapped
