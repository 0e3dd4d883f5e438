import pytest
from django.test import Client

from tests.connectors.factories import CONNECTOR_PASSWORD

from .simulator import QuickBooks
from .soap import Conversation, RawQbwc


@pytest.fixture
def qbwc(db):
    """QBWC's side of the wire: its own HTTP client, never logged in to the portal."""
    return RawQbwc(Client())


@pytest.fixture
def quickbooks():
    return QuickBooks()


@pytest.fixture
def converse(qbwc):
    def make(connector, quickbooks, password=CONNECTOR_PASSWORD, **kwargs):
        return Conversation(qbwc, quickbooks, connector.username, password, **kwargs)

    return make


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Portal users made for these tests (and connector hashes from before keyed hashing) would
    # otherwise cost a production PBKDF2 run each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
