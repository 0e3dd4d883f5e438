"""The home dashboard: each side's progress, for the users who may see it, in few queries."""

import pytest
from django.urls import reverse
from django.utils import timezone

from kaseya_modules.models import (
    MappingSuggestion,
    ModuleOrganization,
    SyncRun,
    SyncStatus,
    SyncTrigger,
)
from tests.conftest import make_user
from tests.connectors.factories import MappingFactory
from tests.kaseya_modules.mapping_support import module_org, synced_module
from tests.organizations.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(default_connector, other_connector):
    graphus = synced_module(name="Graphus", code="gdash")
    acme = OrganizationFactory(name="Acme")
    module_org(graphus, "Acme Corp", organization=acme)
    module_org(graphus, "Test tenant", ignored=True)
    module_org(graphus, "Loose 1")
    module_org(graphus, "Loose 2")
    module_org(graphus, "Gone", active=False)
    SyncRun.objects.create(
        module=graphus, trigger=SyncTrigger.NIGHTLY, status=SyncStatus.SUCCEEDED, new_count=3
    )
    MappingFactory(connector=other_connector)
    OrganizationFactory.create_batch(2)
    return {"graphus": graphus}


def test_dashboard_counts_each_module_and_each_connector(client, world, default_connector):
    # given someone who administers both sides
    client.force_login(
        make_user(
            "both",
            groups=["Integrated Customer Billing administrators", "QuickBooks administrators"],
        )
    )
    # when they open the home page
    html = client.get(reverse("home")).content.decode()
    # then the module row counts active module organizations only
    row = html[html.index('data-module="gdash"') :]
    row = row[: row.index("</tr>")]
    assert 'data-count="mapped">1<' in row and 'data-count="ignored">1<' in row
    assert ">2</a>" in row and 'data-count="new">3<' in row
    # and the connectors split the billable organizations between them
    assert "dashboard-quickbooks" in html
    assert f'data-connector="{default_connector.pk}"' in html


def test_each_panel_needs_its_permission(client, world):
    client.force_login(make_user("qbonly", groups=["QuickBooks administrators"]))
    html = client.get(reverse("home")).content.decode()
    assert "dashboard-quickbooks" in html and "dashboard-kaseya" not in html


def test_anonymous_users_log_in_first(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_dashboard_queries_do_not_grow_with_modules(client, world, django_assert_max_num_queries):
    client.force_login(
        make_user(
            "both2",
            groups=["Integrated Customer Billing administrators", "QuickBooks administrators"],
        )
    )
    for index in range(5):
        synced_module(name=f"Extra {index}", code=f"extra{index}")
    with django_assert_max_num_queries(14):
        assert client.get(reverse("home")).status_code == 200


def test_each_module_shows_the_suggestions_waiting_with_a_link_to_review_them(client, world):
    # given two suggestions waiting in Graphus, one of them high confidence
    for name, confidence in [("Loose 1", "high"), ("Loose 2", "low")]:
        MappingSuggestion.objects.create(
            module_organization=ModuleOrganization.objects.get(name=name),
            module=world["graphus"],
            rank=1,
            organization=OrganizationFactory(),
            score=90,
            confidence=confidence,
            computed_at=timezone.now(),
        )
    client.force_login(make_user("sugg", groups=["Integrated Customer Billing administrators"]))
    # when the home page is opened
    html = client.get(reverse("home")).content.decode()
    # then the row counts them and links to Review suggestions for that module
    row = html[html.index('data-module="gdash"') :]
    row = row[: row.index("</tr>")]
    review = reverse("kaseya_modules:review_suggestions")
    assert f'<a href="{review}?module=gdash">1 high, 1 other</a>' in row
