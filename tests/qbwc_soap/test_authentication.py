"""QBWC logins: how connector passwords are stored and checked, and how failed logins are
throttled per client address and per (address, user name)."""

import threading

import pytest
import requests
from django.contrib.auth.hashers import make_password
from django.test import Client
from django.urls import reverse

from connectors.models import WebConnector
from tests.connectors.factories import CONNECTOR_PASSWORD, WebConnectorFactory, connector_form_data

from .hashers import PATH as COUNTING_HASHER
from .hashers import CountingPBKDF2Hasher
from .soap import RawQbwc, envelope

STRANGER = "198.51.100.7"
OFFICE = "203.0.113.20"


@pytest.fixture
def counting_hasher(settings):
    settings.PASSWORD_HASHERS = [COUNTING_HASHER]
    CountingPBKDF2Hasher.reset()
    return CountingPBKDF2Hasher


@pytest.fixture
def legacy_connector(counting_hasher, default_connector):
    """A connector whose password was stored before keyed hashing (a slow PBKDF2 hash)."""
    WebConnector.objects.filter(pk=default_connector.pk).update(
        password=make_password(CONNECTOR_PASSWORD)
    )
    default_connector.refresh_from_db()
    return default_connector


def qbwc_from(address):
    return RawQbwc(Client(REMOTE_ADDR=address))


def test_connector_password_is_stored_as_a_keyed_hash(db):
    connector = WebConnectorFactory()
    assert connector.password.startswith("hmac_sha256$")
    assert CONNECTOR_PASSWORD not in connector.password
    assert connector.check_password(CONNECTOR_PASSWORD)
    assert not connector.check_password(CONNECTOR_PASSWORD + "x")


def test_keyed_hash_depends_on_the_server_key(db, settings):
    connector = WebConnectorFactory()
    settings.QBWC_PASSWORD_KEY = "another-server-key"
    assert not connector.check_password(CONNECTOR_PASSWORD)


def test_unknown_user_name_runs_no_slow_password_hash(counting_hasher, db):
    assert qbwc_from(STRANGER).authenticate("nobody-here", "guess")[1] == "nvu"
    assert counting_hasher.checks == 0


def test_known_user_name_runs_no_slow_password_hash(counting_hasher, default_connector):
    assert qbwc_from(OFFICE).authenticate(default_connector.username, "guess")[1] == "nvu"
    assert counting_hasher.checks == 0


def test_old_hash_is_upgraded_to_a_keyed_hash_on_the_next_successful_login(
    legacy_connector, organization
):
    # when the Web Connector logs in with its password
    assert qbwc_from(OFFICE).authenticate(legacy_connector.username, CONNECTOR_PASSWORD)[1] != "nvu"
    # then the password is re-stored keyed, and the next login checks only that
    legacy_connector.refresh_from_db()
    assert legacy_connector.password.startswith("hmac_sha256$")
    CountingPBKDF2Hasher.reset()
    assert qbwc_from(OFFICE).authenticate(legacy_connector.username, CONNECTOR_PASSWORD)[1] != "nvu"
    assert CountingPBKDF2Hasher.checks == 0


def test_old_hash_is_kept_after_a_wrong_password(legacy_connector):
    stored = legacy_connector.password
    assert qbwc_from(OFFICE).authenticate(legacy_connector.username, "guess")[1] == "nvu"
    legacy_connector.refresh_from_db()
    assert legacy_connector.password == stored


def test_password_shown_when_a_connector_is_added_logs_in_over_soap(qb_client, organization):
    response = qb_client.post(
        reverse("connectors:add"),
        connector_form_data(),
    )
    raw = response.context["password"]
    assert qbwc_from(OFFICE).authenticate("books", raw)[1] != "nvu"


def test_password_shown_after_a_reset_logs_in_over_soap(qb_client, default_connector, organization):
    response = qb_client.post(reverse("connectors:reset_password", args=[default_connector.pk]))
    raw = response.context["password"]
    office = qbwc_from(OFFICE)
    assert office.authenticate(default_connector.username, raw)[1] != "nvu"
    assert office.authenticate(default_connector.username, CONNECTOR_PASSWORD)[1] == "nvu"


def test_a_strangers_failures_do_not_lock_out_the_real_client(
    default_connector, organization, settings
):
    # given a stranger who has guessed the printed user name's password until refused
    stranger = qbwc_from(STRANGER)
    for _ in range(settings.QBWC_AUTH_FAILURES_PER_ADDRESS + 1):
        assert stranger.authenticate(default_connector.username, "guess")[1] == "nvu"
    assert stranger.authenticate(default_connector.username, CONNECTOR_PASSWORD)[1] == "nvu"
    # when the real Web Connector logs in from its own address
    status = qbwc_from(OFFICE).authenticate(default_connector.username, CONNECTOR_PASSWORD)[1]
    # then
    assert status != "nvu"


def test_spraying_user_names_from_one_address_is_throttled(default_connector, settings):
    settings.QBWC_AUTH_FAILURES_PER_ADDRESS = 3
    stranger = qbwc_from(STRANGER)
    for n in range(3):
        assert stranger.authenticate(f"name-{n}", "guess")[1] == "nvu"
    # the address is now refused, even the real user name with the right password
    assert stranger.authenticate(default_connector.username, CONNECTOR_PASSWORD)[1] == "nvu"


def test_throttled_address_gets_nvu_without_any_password_work(
    legacy_connector, settings, django_assert_num_queries
):
    # given an address that used up its failures
    settings.QBWC_AUTH_FAILURES_PER_USER_ADDRESS = 2
    stranger = qbwc_from(STRANGER)
    for _ in range(2):
        stranger.authenticate(legacy_connector.username, "guess")
    CountingPBKDF2Hasher.reset()
    # when it tries again, with the right password
    with django_assert_num_queries(0):
        status = stranger.authenticate(legacy_connector.username, CONNECTOR_PASSWORD)[1]
    # then it is refused without the connector even being read, let alone its hash checked
    assert status == "nvu"
    assert CountingPBKDF2Hasher.checks == 0


def test_successful_logins_do_not_use_up_the_address_limit(
    default_connector, organization, settings
):
    settings.QBWC_AUTH_FAILURES_PER_ADDRESS = 2
    office = qbwc_from(OFFICE)
    for _ in range(5):
        assert office.authenticate(default_connector.username, CONNECTOR_PASSWORD)[1] != "nvu"


@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_get_no_more_checks_than_the_limit(live_server, settings):
    # given a connector with a slow (old) hash, so each checked guess takes a while
    settings.PASSWORD_HASHERS = [COUNTING_HASHER]
    settings.QBWC_AUTH_FAILURES_PER_USER_ADDRESS = 5
    connector = WebConnectorFactory(username="main")
    WebConnector.objects.filter(pk=connector.pk).update(password=make_password("the password"))
    CountingPBKDF2Hasher.reset()
    body = envelope("authenticate", strUserName="main", strPassword="guess")
    answers = []

    failures = []

    def guess():
        # A burst of 30 connections can overflow the test server's small listen backlog; a
        # connection the server never accepted checked no password, so it is simply tried again.
        for _ in range(5):
            try:
                with requests.Session() as http:
                    response = http.post(
                        live_server.url + "/qbwc/",
                        data=body,
                        headers={"Content-Type": "text/xml; charset=utf-8"},
                        timeout=60,
                    )
            except requests.ConnectionError as exc:
                failures.append(repr(exc))
                continue
            answers.append(response.content)
            return

    # when 30 guesses arrive at once from one address
    threads = [threading.Thread(target=guess) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then every one is refused and at most the limit had its password checked
    assert len(answers) == 30, failures
    assert all(b">nvu<" in answer for answer in answers)
    assert CountingPBKDF2Hasher.checks <= 5
