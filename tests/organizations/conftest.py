import pytest

from organizations.models import PsaSettings
from tests.kaseya_modules.conftest import celery_eager  # noqa: F401  (a fixture)

from .autotask_fake import INTEGRATION_CODE, SECRET, USERNAME, FakeAutotask


@pytest.fixture
def fast_retries(settings):
    settings.AUTOTASK_BACKOFF_SECONDS = 0.01
    settings.AUTOTASK_BACKOFF_CAP_SECONDS = 1.0
    settings.AUTOTASK_TIMEOUT_SECONDS = 5.0


@pytest.fixture
def autotask(db, httpserver, fast_retries):
    """A loopback Autotask with no companies yet, and the portal configured to reach it."""
    fake = FakeAutotask(httpserver)
    PsaSettings.objects.update_or_create(
        pk=1,
        defaults={
            "base_url": fake.base_url,
            "username": USERNAME,
            "secret": SECRET,
            "integration_code": INTEGRATION_CODE,
        },
    )
    return fake
