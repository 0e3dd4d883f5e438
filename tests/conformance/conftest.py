import pytest
import requests
import zeep
from zeep.transports import Transport

from tests.qbwc_soap.simulator import WSDL

BINDING = "{http://developer.intuit.com/}TroubleshootWebServiceFSSoap"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Portal users made for these tests (and connector hashes from before keyed hashing) would
    # otherwise cost a production PBKDF2 run each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def transport():
    # Closed after each test, so no keep-alive connection outlives the live server's database.
    with requests.Session() as session:
        yield Transport(session=session, timeout=30)


@pytest.fixture
def intuit(live_server, transport):
    """zeep built from Intuit's own WSDL, pointed at our endpoint over real HTTP."""
    client = zeep.Client(str(WSDL), transport=transport)
    return client.create_service(BINDING, live_server.url + "/qbwc/")


@pytest.fixture
def ours(live_server, transport):
    """zeep built from the WSDL our endpoint serves (it adds the interactive-mode operations)."""
    return zeep.Client(live_server.url + "/qbwc/?wsdl", transport=transport).service
