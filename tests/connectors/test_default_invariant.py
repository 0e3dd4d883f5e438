import threading

import pytest
from django.db import IntegrityError, connection, transaction

from connectors.models import WebConnector
from tests.connectors.factories import WebConnectorFactory

pytestmark = pytest.mark.django_db


def test_first_connector_created_is_the_default():
    first = WebConnectorFactory()
    second = WebConnectorFactory()
    assert first.is_default
    assert not second.is_default
    assert WebConnector.objects.default() == first


def test_database_refuses_a_second_default(default_connector):
    other = WebConnectorFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        WebConnector.objects.filter(pk=other.pk).update(is_default=True)


def test_first_connector_created_through_a_plain_create_is_default():
    connector = WebConnector.objects.create(name="Scripted", username="scripted")
    assert connector.is_default


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite serialises writers; the race needs PostgreSQL (CI runs it there)",
)
@pytest.mark.django_db(transaction=True)
def test_two_first_connectors_created_at_once_leave_exactly_one_default():
    barrier = threading.Barrier(2)
    errors = []

    def create(n):
        try:
            barrier.wait(timeout=10)
            WebConnector.objects.create(name=f"Racer {n}", username=f"racer{n}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert WebConnector.objects.count() == 2
    assert WebConnector.objects.filter(is_default=True).count() == 1
