import os

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission, User

from tests.connectors.factories import WebConnectorFactory
from tests.organizations.factories import OrganizationFactory

QB_GROUP = "QuickBooks administrators"


def pytest_sessionstart(session):
    """Under CI a missing PostgreSQL or Redis is a failure, never a skip."""
    if os.environ.get("CI", "").lower() != "true":
        return
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        pytest.exit("CI=true but DATABASE_URL does not point at PostgreSQL.", returncode=3)
    import psycopg

    db = settings.DATABASES["default"]
    try:
        psycopg.connect(
            host=db["HOST"],
            port=db["PORT"] or 5432,
            user=db["USER"] or None,
            password=db["PASSWORD"] or None,
            dbname=db["NAME"],
            connect_timeout=5,
        ).close()
    except psycopg.Error as exc:
        pytest.exit(f"CI=true but PostgreSQL is unreachable: {exc}", returncode=3)
    if not settings.REDIS_URL:
        pytest.exit("CI=true but REDIS_URL is not set.", returncode=3)
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        pytest.exit(f"CI=true but Redis is unreachable: {exc}", returncode=3)


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield


def make_user(username, *, perms=(), groups=()):
    user = User.objects.create_user(username, f"{username}@example.com", "pw-for-tests-1")
    for dotted in perms:
        app_label, codename = dotted.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    return user


@pytest.fixture
def qb_admin(db):
    """A member of the QuickBooks administrators group."""
    return make_user("qbadmin", groups=[QB_GROUP])


@pytest.fixture
def qb_client(client, qb_admin):
    client.force_login(qb_admin)
    return client


@pytest.fixture
def plain_user(db):
    """Logged in, no permissions at all."""
    return make_user("nobody")


@pytest.fixture
def plain_client(client, plain_user):
    client.force_login(plain_user)
    return client


@pytest.fixture
def viewer(db):
    return make_user("viewer", perms=["organizations.view_organization"])


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def default_connector(db):
    return WebConnectorFactory(name="Main company file", username="main")


@pytest.fixture
def other_connector(default_connector):
    return WebConnectorFactory(name="Second company file", username="second")


@pytest.fixture
def organization(db):
    return OrganizationFactory(name="Acme Corporation")


@pytest.fixture
def items_already_read(db):
    """Every connector made during the test starts with its QuickBooks items freshly read, so a
    conversation holds no item queries (for tests about the other request kinds)."""
    from django.db.models.signals import post_save
    from django.utils import timezone

    from billing.models import ItemCatalog
    from connectors.models import WebConnector

    def read(sender, instance, created, **kwargs):
        if created:
            ItemCatalog.objects.create(connector=instance, refreshed_at=timezone.now())

    post_save.connect(read, sender=WebConnector, dispatch_uid="items_already_read")
    yield
    post_save.disconnect(sender=WebConnector, dispatch_uid="items_already_read")
