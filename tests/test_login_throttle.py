"""Log-in throttling: per user name + address, per address, on the web and the admin log-in."""

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from tests.conftest import make_user

PASSWORD = "pw-for-tests-1"
HERE = "192.0.2.10"
ELSEWHERE = "198.51.100.20"


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    # Every attempt hashes a password; the production hasher's cost only slows these tests.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def staff(db):
    user = make_user("boss")
    User.objects.filter(pk=user.pk).update(is_staff=True, is_superuser=True)
    return user


def log_in(path, username, password, address=HERE):
    return Client().post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def fail(times, path="/login/", username="alice", address=HERE):
    for _ in range(times):
        log_in(path, username, "wrong-password", address)


def test_right_password_is_refused_after_too_many_failures(alice):
    # given
    fail(settings.LOGIN_FAILURE_LIMIT)
    # when
    response = log_in("/login/", "alice", PASSWORD)
    # then
    assert response.status_code == 429
    assert "_auth_user_id" not in response.wsgi_request.session
    assert b"Too many failed log-in attempts for this user name" in response.content
    assert f"Try again in {settings.LOGIN_LOCKOUT_MINUTES} minutes".encode() in response.content


def test_failures_below_the_limit_do_not_lock_out(alice):
    fail(settings.LOGIN_FAILURE_LIMIT - 1)
    assert log_in("/login/", "alice", PASSWORD).status_code == 302


def test_the_same_user_logs_in_from_another_address(alice):
    fail(settings.LOGIN_FAILURE_LIMIT)
    response = log_in("/login/", "alice", PASSWORD, address=ELSEWHERE)
    assert response.status_code == 302


def test_another_user_logs_in_from_the_locked_address(alice):
    make_user("bob")
    fail(settings.LOGIN_FAILURE_LIMIT)
    assert log_in("/login/", "bob", PASSWORD).status_code == 302


def test_one_address_trying_many_user_names_is_locked_out(alice, settings):
    # given failures spread over user names, none reaching the per-user limit
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 6
    for name in ["u1", "u2", "u3", "u4", "u5", "u6"]:
        fail(1, username=name)
    # when the real user tries from that address
    response = log_in("/login/", "alice", PASSWORD)
    # then
    assert response.status_code == 429
    assert b"Too many failed log-in attempts from your network address" in response.content
    assert log_in("/login/", "alice", PASSWORD, address=ELSEWHERE).status_code == 302


def test_admin_login_is_throttled(staff):
    fail(settings.LOGIN_FAILURE_LIMIT, path="/django-admin/login/", username="boss")
    response = log_in("/django-admin/login/", "boss", PASSWORD)
    assert response.status_code == 429
    assert b"Too many failed log-in attempts" in response.content
    assert "_auth_user_id" not in response.wsgi_request.session


def test_admin_and_web_failures_count_together(staff):
    fail(settings.LOGIN_FAILURE_LIMIT, path="/django-admin/login/", username="boss")
    assert log_in("/login/", "boss", PASSWORD).status_code == 429


def test_successful_login_resets_the_users_count(alice):
    # given failures one short of the limit, then a successful log-in
    fail(settings.LOGIN_FAILURE_LIMIT - 1)
    assert log_in("/login/", "alice", PASSWORD).status_code == 302
    # when as many failures again
    fail(settings.LOGIN_FAILURE_LIMIT - 1)
    # then the count started again from zero
    assert log_in("/login/", "alice", PASSWORD).status_code == 302


def test_successful_login_does_not_reset_the_address_count(alice, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 4
    fail(3, username="someone-else")
    assert log_in("/login/", "alice", PASSWORD).status_code == 302
    fail(1, username="another")
    assert log_in("/login/", "alice", PASSWORD).status_code == 429


def test_address_comes_from_the_trusted_proxy_header(alice, settings):
    # given one trusted proxy: the client is the address it appended, not REMOTE_ADDR
    settings.TRUSTED_PROXIES = 1
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        Client().post(
            "/login/",
            {"username": "alice", "password": "wrong"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=HERE,
        )
    # when alice logs in through the same proxy from another client address
    response = Client().post(
        "/login/",
        {"username": "alice", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR=ELSEWHERE,
    )
    # then she is not locked out by the other client's failures
    assert response.status_code == 302


def test_lockout_page_is_the_login_page(alice):
    fail(settings.LOGIN_FAILURE_LIMIT)
    response = log_in("/login/", "alice", PASSWORD)
    assert b'name="password"' in response.content
    assert b'id="lockout"' in response.content
