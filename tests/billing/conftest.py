import pytest

from billing.apps import BILLING_GROUP
from tests.conftest import make_user
from tests.organizations.factories import OrganizationFactory

from .factories import module_org, synced_module

PERM = "billing.manage_billing"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def biller(db):
    return make_user("biller", groups=[BILLING_GROUP])


@pytest.fixture
def billing_client(client, biller):
    client.force_login(biller)
    return client


@pytest.fixture
def graphus(db):
    return synced_module(
        name="Graphus",
        code="graphus_b",
        billing_types=[
            {"code": "mailboxes", "name": "Mailboxes", "unit": "count"},
            {"code": "is_enabled", "name": "Is Enabled", "unit": "boolean"},
        ],
    )


@pytest.fixture
def acme(db):
    return OrganizationFactory(name="Acme Corporation")


@pytest.fixture
def globex(db):
    return OrganizationFactory(name="Globex")


@pytest.fixture
def acme_hq(graphus, acme):
    return module_org(graphus, "ACME HQ", organization=acme)
