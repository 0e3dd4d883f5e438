"""The one HTTP client under every module adapter (kaseya_modules/sources/http.py), met by real
servers on loopback: retries and Retry-After, redirects, the body cap, gzip, refused tokens, and
what reaches the logs."""

import gzip
import json
import logging
import re
from email.utils import format_datetime

import pytest
from django.utils import timezone
from werkzeug import Response

from kaseya_modules.models import SyncLimit
from kaseya_modules.sources import SourceError
from kaseya_modules.sources import http as source_http
from kaseya_modules.sources.datto_rmm import DattoRmmSource
from kaseya_modules.sources.feed import FeedSource
from kaseya_modules.sources.http import get_json

SECRET = "s3cret-token-value"
PAGE = {"organizations": [{"id": "1", "name": "Acme"}], "next_cursor": None}


def feed(httpserver):
    return FeedSource(base_url=httpserver.url_for("/feed"), credentials=SECRET)


def waits(caplog) -> list[float]:
    return [float(m) for m in re.findall(r"retrying in ([\d.]+)s", caplog.text)]


def test_retry_after_in_seconds_is_honoured(httpserver, caplog):
    httpserver.expect_oneshot_request("/feed/organizations").respond_with_data(
        "busy", status=503, headers={"Retry-After": "1"}
    )
    httpserver.expect_request("/feed/organizations").respond_with_json(PAGE)

    organizations = feed(httpserver).fetch_all()

    assert [o.external_id for o in organizations] == ["1"]
    assert waits(caplog) == [1.0]


def test_retry_after_as_an_http_date_is_honoured(httpserver, caplog):
    # given: the server asks to come back two seconds from now (HTTP dates have whole seconds)
    later = format_datetime(timezone.now() + timezone.timedelta(seconds=2), usegmt=True)
    httpserver.expect_oneshot_request("/feed/organizations").respond_with_data(
        "slow down", status=429, headers={"Retry-After": later}
    )
    httpserver.expect_request("/feed/organizations").respond_with_json(PAGE)

    # when
    organizations = feed(httpserver).fetch_all()

    # then
    assert len(organizations) == 1
    [wait] = waits(caplog)
    assert 0.9 <= wait <= 2.0


def test_a_retry_after_beyond_the_sync_deadline_ends_the_fetch_without_waiting(
    httpserver, settings
):
    settings.MODULE_SYNC_DEADLINE_SECONDS = 5
    httpserver.expect_request("/feed/organizations").respond_with_data(
        "busy", status=503, headers={"Retry-After": "30"}
    )

    with pytest.raises(SourceError, match="sync deadline") as caught:
        feed(httpserver).fetch_all()

    assert caught.value.limit == SyncLimit.SYNC_DEADLINE
    assert len(httpserver.log) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504, 520])
def test_a_server_error_then_success(httpserver, status):
    httpserver.expect_oneshot_request("/feed/organizations").respond_with_data(
        "oops", status=status
    )
    httpserver.expect_request("/feed/organizations").respond_with_json(PAGE)

    assert len(feed(httpserver).fetch_all()) == 1
    assert [response.status_code for _, response in httpserver.log] == [status, 200]


@pytest.mark.parametrize("status", [400, 404, 410, 501])
def test_other_client_errors_are_permanent_and_not_retried(httpserver, status):
    httpserver.expect_request("/feed/organizations").respond_with_data("no", status=status)

    with pytest.raises(SourceError, match=rf"^HTTP {status} on page 1 \(") as caught:
        feed(httpserver).fetch_all()

    assert caught.value.permanent
    assert len(httpserver.log) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_says_so_and_is_not_retried(httpserver, status):
    httpserver.expect_request("/feed/organizations").respond_with_data("", status=status)

    with pytest.raises(SourceError) as caught:
        feed(httpserver).fetch_all()

    assert str(caught.value).startswith(
        f"The module API refused the credentials (HTTP {status}) on page 1"
    )
    assert "check the token in the source settings" in str(caught.value)
    assert caught.value.permanent
    assert len(httpserver.log) == 1


def test_a_redirect_to_another_host_is_refused_before_the_token_is_sent_there(httpserver):
    # given: 127.0.0.1 is the same server under another name, so following would succeed
    assert httpserver.url_for("/").startswith("http://localhost:")
    elsewhere = httpserver.url_for("/feed/organizations").replace("localhost", "127.0.0.1")
    httpserver.expect_request("/feed/organizations").respond_with_data(
        "", status=307, headers={"Location": elsewhere + "?key=hidden"}
    )

    # when
    with pytest.raises(SourceError) as caught:
        feed(httpserver).fetch_all()

    # then
    assert "HTTP 307 on page 1" in str(caught.value)
    assert f"redirect to {elsewhere} refused" in str(caught.value)
    assert "hidden" not in str(caught.value)
    assert caught.value.permanent
    assert len(httpserver.log) == 1


def test_a_redirect_that_changes_the_scheme_is_refused(httpserver):
    # The origin is scheme and host together: the rule that keeps http -> https off also keeps
    # https -> http off (no TLS server here whose certificate the client would trust).
    https = httpserver.url_for("/new").replace("http://", "https://")
    httpserver.expect_request("/feed/organizations").respond_with_data(
        "", status=301, headers={"Location": https}
    )

    with pytest.raises(SourceError, match="HTTP 301 on page 1.*refused"):
        feed(httpserver).fetch_all()
    assert len(httpserver.log) == 1


def test_too_many_redirects_are_refused(httpserver):
    httpserver.expect_request("/loop").respond_with_data(
        "", status=302, headers={"Location": "/loop"}
    )

    with pytest.raises(SourceError, match="HTTP 302 on the loop: too many redirects"):
        get_json(httpserver.url_for("/loop"), headers={}, where="the loop")
    assert len(httpserver.log) == source_http.MAX_REDIRECTS + 1


def endless(chunk: bytes):
    """A body with no length that would run to gigabytes if the client kept reading."""

    def respond(request):
        return Response((chunk for _ in range(100_000)), content_type="application/json")

    return respond


@pytest.mark.parametrize(
    "respond",
    [
        endless(b" " * 65536),
        lambda request: Response(
            gzip.compress(b" " * 10_000_000),
            headers={"Content-Encoding": "gzip"},
            content_type="application/json",
        ),
        lambda request: Response(b" " * 5000, content_type="application/json"),
    ],
    ids=["streamed without a length", "gzip that inflates past the cap", "content-length"],
)
def test_an_oversized_body_is_refused_while_it_streams(httpserver, monkeypatch, respond):
    monkeypatch.setattr(source_http, "MAX_BODY_BYTES", 1000)
    httpserver.expect_request("/feed/organizations").respond_with_handler(respond)

    with pytest.raises(SourceError, match=r"^page 1 \(.*\) is larger than 1000 bytes") as caught:
        feed(httpserver).fetch_all()

    assert caught.value.permanent


def test_a_gzipped_body_is_asked_for_and_decoded(httpserver):
    httpserver.expect_request("/feed/organizations").respond_with_data(
        gzip.compress(json.dumps(PAGE).encode()),
        headers={"Content-Encoding": "gzip"},
        content_type="application/json",
    )

    assert [o.name for o in feed(httpserver).fetch_all()] == ["Acme"]
    request, _ = httpserver.log[0]
    assert "gzip" in request.headers["Accept-Encoding"]


def test_a_malformed_gzip_body_is_a_permanent_error(httpserver):
    httpserver.expect_request("/feed/organizations").respond_with_data(
        b"not gzip at all", headers={"Content-Encoding": "gzip"}
    )

    with pytest.raises(SourceError, match="Malformed gzip body on page 1") as caught:
        feed(httpserver).fetch_all()
    assert caught.value.permanent
    assert len(httpserver.log) == 1


def test_the_token_never_reaches_the_logs(httpserver, caplog):
    # given: every record of every logger, httpx's and httpcore's debug lines included
    caplog.set_level(logging.DEBUG)
    httpserver.expect_request("/feed/organizations").respond_with_data("down", status=503)

    # when
    with pytest.raises(SourceError) as caught:
        feed(httpserver).fetch_all()

    # then
    assert "retrying" in caplog.text
    assert any(record.name.startswith("httpcore") for record in caplog.records)
    assert SECRET not in caplog.text
    assert SECRET not in str(caught.value)
    request, _ = httpserver.log[0]
    assert request.headers["Authorization"] == f"Bearer {SECRET}"  # it was sent, not logged


def test_the_datto_key_and_secret_never_reach_the_logs(httpserver, caplog):
    caplog.set_level(logging.DEBUG)
    httpserver.expect_request("/auth/oauth/token", method="POST").respond_with_data(
        "down", status=500
    )
    source = DattoRmmSource(base_url=httpserver.url_for(""), credentials="KEY-1234:SECRET-5678")

    with pytest.raises(SourceError, match="HTTP 500 on the token request"):
        source.fetch_all()

    assert "retrying" in caplog.text
    assert "KEY-1234" not in caplog.text and "SECRET-5678" not in caplog.text


def test_request_urls_and_their_queries_stay_out_of_the_info_log(httpserver, caplog):
    caplog.set_level(logging.INFO)
    httpserver.expect_request("/feed/organizations", query_string="").respond_with_json(
        {**PAGE, "next_cursor": "private-cursor"}
    )
    httpserver.expect_request(
        "/feed/organizations", query_string="cursor=private-cursor"
    ).respond_with_json({"organizations": [], "next_cursor": None})

    assert len(feed(httpserver).fetch_all()) == 1

    assert [r.message for r in caplog.records if r.name.startswith("httpx")] == []
