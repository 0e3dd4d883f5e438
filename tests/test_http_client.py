"""mapping_portal.lib.http: the guarantees every outbound JSON client relies on, over loopback."""

import json
import time

import pytest
from werkzeug import Response

from mapping_portal.lib.http import OVERALL, Deadline, HttpError, JsonClient


def client(**options):
    return JsonClient(backoff=0.01, backoff_cap=0.05, **options)


def test_a_redirect_to_another_host_is_refused(httpserver):
    httpserver.expect_request("/a").respond_with_data(
        "", status=302, headers={"Location": "http://127.0.0.2:9/steal"}
    )

    with client() as http, pytest.raises(HttpError, match="redirect to http://127.0.0.2:9/steal"):
        http.request_json("GET", httpserver.url_for("/a"), where="page 1", headers={"Secret": "x"})


def test_a_redirect_on_the_same_host_is_followed(httpserver):
    httpserver.expect_request("/a").respond_with_data("", status=302, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_json({"ok": True})

    with client() as http:
        assert http.request_json("GET", httpserver.url_for("/a"), where="page 1") == {"ok": True}


def test_a_body_over_the_cap_is_refused(httpserver):
    httpserver.expect_request("/big").respond_with_json({"items": ["x" * 2000]})

    with client(max_body_bytes=1000) as http, pytest.raises(HttpError, match="larger than 1000"):
        http.request_json("GET", httpserver.url_for("/big"), where="page 1")


def test_a_request_that_outlasts_its_deadline_ends(httpserver):
    def slow(request):
        time.sleep(1.5)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/slow").respond_with_handler(slow)

    with client(request_deadline=0.3, attempts=1) as http:
        with pytest.raises(HttpError, match=r"Took longer than 0.3s on page 1"):
            http.request_json("GET", httpserver.url_for("/slow"), where="page 1")


def test_a_refused_status_is_not_retried_when_the_caller_says_so(httpserver):
    calls = []
    httpserver.expect_request("/x").respond_with_json({"errors": ["bad"]}, status=500)

    with client(
        should_retry=lambda status, body: False, before_attempt=lambda: calls.append(1)
    ) as http:
        with pytest.raises(HttpError) as error:
            http.request_json("GET", httpserver.url_for("/x"), where="page 1")

    assert (error.value.status, json.loads(error.value.body), len(calls)) == (
        500,
        {"errors": ["bad"]},
        1,
    )


def test_the_query_string_never_reaches_an_error_message(httpserver):
    with client(attempts=1) as http, pytest.raises(HttpError) as error:
        http.request_json("GET", httpserver.url_for("/missing?user=secret-user"), where="page 1")

    assert "secret-user" not in str(error.value)


def test_a_retry_that_would_wait_past_the_overall_deadline_ends_without_waiting(httpserver):
    httpserver.expect_request("/busy").respond_with_data(
        "busy", status=503, headers={"Retry-After": "2"}
    )

    http = JsonClient(backoff=0.01, backoff_cap=5, deadline=Deadline(1))

    with http, pytest.raises(HttpError) as error:
        http.request_json("GET", httpserver.url_for("/busy"), where="page 1")

    assert (error.value.expired, error.value.transient) == (OVERALL, True)
    assert len(httpserver.log) == 1


def test_a_request_gets_no_more_than_what_is_left_of_the_overall_deadline(httpserver):
    requests = []

    def slow(request):
        requests.append(request.path)
        time.sleep(1.5)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/slow").respond_with_handler(slow)

    with client(request_deadline=60, deadline=Deadline(0.3)) as http:
        with pytest.raises(HttpError, match="Stopped at the deadline") as error:
            http.request_json("GET", httpserver.url_for("/slow"), where="page 1")

    assert error.value.expired == OVERALL
    assert requests == ["/slow"]  # not retried: the time is up
