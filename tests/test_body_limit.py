"""Request bodies over a route's limit are refused with 413 before anything reads them."""

import io

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from mapping_portal.lib.body_limit import LOGIN_MAX_BODY_BYTES
from organizations.importing import MAX_IMPORT_BYTES
from organizations.models import Organization
from tests.conftest import make_user


class MustNotBeRead(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = readinto = read


class ChunkedBody(io.RawIOBase):
    """A body of unknown length, as a server hands on a chunked upload; counts what was read."""

    def __init__(self, data: bytes):
        self.data = io.BytesIO(data)
        self.consumed = 0

    def read(self, size=-1):
        chunk = self.data.read(size)
        self.consumed += len(chunk)
        return chunk


def post_unread(client, path, length):
    return client.generic(
        "POST",
        path,
        b"",
        CONTENT_TYPE="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(length),
        **{"wsgi.input": MustNotBeRead()},
    )


def post_chunked(path, body):
    """A POST without Content-Length, as a server hands on a chunked upload."""
    return Client().generic(
        "POST",
        path,
        b"",
        CONTENT_TYPE="application/x-www-form-urlencoded",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": body},
    )


@pytest.fixture
def csrf_client():
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = "madeup" * 6
    return client


@pytest.mark.parametrize("path", ["/login/", "/django-admin/login/"])
def test_login_body_over_its_limit_is_refused_unread(db, csrf_client, path):
    response = post_unread(csrf_client, path, 300 * 1024 * 1024)
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/plain")
    assert b"Request body too large" in response.content


def test_login_limit_is_small(db, csrf_client):
    response = post_unread(csrf_client, "/login/", LOGIN_MAX_BODY_BYTES + 1)
    assert response.status_code == 413


def test_other_forms_are_capped_at_the_default_limit(db, csrf_client):
    path = reverse("connectors:mapping_new")
    response = post_unread(csrf_client, path, settings.REQUEST_MAX_BODY_BYTES + 1)
    assert response.status_code == 413


def test_login_within_the_limit_works(db):
    make_user("alice")
    response = Client().post("/login/", {"username": "alice", "password": "pw-for-tests-1"})
    assert response.status_code == 302


def test_csv_upload_over_its_cap_is_refused_unread(db):
    client = Client()
    client.force_login(make_user("importer", perms=["organizations.add_organization"]))
    response = post_unread(client, reverse("organizations:import"), MAX_IMPORT_BYTES + 65 * 1024)
    assert response.status_code == 413


def test_csv_upload_near_its_cap_is_accepted(db):
    # given a file just under the import cap
    client = Client()
    client.force_login(make_user("importer", perms=["organizations.add_organization"]))
    header = b"autotask_id,name\n1,Acme\n"
    data = header + b"2,Padding " + b"x" * (MAX_IMPORT_BYTES - len(header) - 20) + b"\n"
    upload = SimpleUploadedFile("orgs.csv", data, content_type="text/csv")
    # when
    response = client.post(reverse("organizations:import"), {"file": upload})
    # then it reaches the importer, which judges the rows
    assert response.status_code == 200
    assert b"Nothing was imported" in response.content
    assert not Organization.objects.exists()


def test_qbwc_body_over_its_limit_is_refused_unread(db, settings):
    settings.QBWC_MAX_BODY_BYTES = 1000
    response = Client().generic(
        "POST",
        "/qbwc/",
        b"",
        CONTENT_TYPE="text/xml",
        CONTENT_LENGTH="1001",
        **{"wsgi.input": MustNotBeRead()},
    )
    assert response.status_code == 413


def test_chunked_body_over_the_limit_is_refused_after_reading_just_past_it(db):
    body = ChunkedBody(b"username=a&password=" + b"x" * (10 * LOGIN_MAX_BODY_BYTES))
    response = post_chunked("/login/", body)
    assert response.status_code == 413
    assert body.consumed == LOGIN_MAX_BODY_BYTES + 1


def test_chunked_body_within_the_limit_is_read_whole(db):
    make_user("alice")
    body = ChunkedBody(b"username=alice&password=pw-for-tests-1")
    response = post_chunked("/login/", body)
    assert response.status_code == 302
