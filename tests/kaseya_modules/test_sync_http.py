"""The HTTP client under the feed: one keep-alive connection for all pages, gzip, a connection the
server dropped between pages, redirects; and the fast page parser agreeing with the full rules."""

import gzip
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from kaseya_modules.sources import SourceError
from kaseya_modules.sources.base import FetchedOrganization
from kaseya_modules.sources.feed import FeedSource, parse_feed_page
from kaseya_modules.sources.http import get_json

from .conftest import org, page_body


class FeedServer:
    """Feed v1 pages from a real HTTP/1.1 server that counts the connections it accepts."""

    def __init__(self, pages, *, gzip_body=False, drop_after_each=False, redirect=None):
        self.connections = 0
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                outer.connections += 1
                super().setup()

            def do_GET(self):  # noqa: N802 - http.server's name
                outer.requests.append(self.path)
                if redirect and self.path in redirect:
                    self.send_response(302)
                    self.send_header("Location", redirect[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                cursor = parse_qs(urlsplit(self.path).query).get("cursor", ["c0"])[0]
                body = json.dumps(page_body(pages, int(cursor[1:]))).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if gzip_body and "gzip" in self.headers.get("Accept-Encoding", ""):
                    body = gzip.compress(body)
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                # Closing without saying so: the client finds out on its next request.
                self.close_connection = drop_after_each

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def feed_server():
    servers = []

    def start(pages, **options):
        servers.append(FeedServer(pages, **options))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


PAGES = [[org("1", "A", users=1)], [org("2", "B", "1", "site")], [org("3", "C", users=3)]]


def fetch(url):
    return FeedSource(base_url=url, credentials="token", billing_types={"users"}).fetch_all()


def test_all_pages_come_over_one_keep_alive_connection(feed_server):
    server = feed_server(PAGES)

    fetched = fetch(server.url)

    assert [item.external_id for item in fetched] == ["1", "2", "3"]
    assert len(server.requests) == 3
    assert server.connections == 1


def test_a_gzipped_feed_is_decoded(feed_server):
    server = feed_server(PAGES, gzip_body=True)

    assert [item.name for item in fetch(server.url)] == ["A", "B", "C"]


def test_a_connection_the_server_dropped_is_reopened_without_using_up_a_retry(
    feed_server, settings
):
    settings.KASEYA_SOURCE_ATTEMPTS = 1
    server = feed_server(PAGES, drop_after_each=True)

    assert len(fetch(server.url)) == 3
    assert server.connections == 3


def test_a_same_origin_redirect_is_followed(feed_server):
    server = feed_server(PAGES, redirect={"/old/organizations": "/organizations"})

    data = get_json(f"{server.url}/old/organizations", headers={}, where="page 1")

    assert data["organizations"][0]["id"] == "1"


def test_a_redirect_to_another_host_is_refused_so_the_token_stays_home(feed_server):
    server = feed_server(PAGES, redirect={"/organizations": "http://192.0.2.1/steal"})

    with pytest.raises(SourceError, match="HTTP 302 on page 1"):
        fetch(server.url)


def test_a_refused_connection_is_retried_then_reported(settings):
    settings.KASEYA_SOURCE_ATTEMPTS = 2
    with pytest.raises(SourceError, match="Could not connect for page 1.*2 attempts"):
        fetch("http://127.0.0.1:9")


def test_the_fast_parser_agrees_with_the_full_rules():
    page = {
        "organizations": [
            {"id": " 1 ", "name": " A ", "parent_id": None, "usage": {"users": 2, "other": 5}},
            {"id": 2, "name": "B", "parent_id": 1, "kind": "site", "usage": {"users": 2.5}},
            {"id": "3", "name": "C" * 300, "usage": {"users": True}},
            {"id": "4", "name": "D", "usage": {"users": 4.0}},
            {"id": "5", "name": "E", "usage": None},
        ],
        "next_cursor": None,
    }

    organizations, cursor = parse_feed_page(page, where="page 1", billing_types={"users"})

    assert cursor is None
    assert organizations == [
        FetchedOrganization("1", "A", None, "organization", {"users": 2}),
        FetchedOrganization("2", "B", "1", "site", {"users": Decimal("2.5")}),
        FetchedOrganization("3", "C" * 255, None, "organization", {"users": 1}),
        FetchedOrganization("4", "D", None, "organization", {"users": 4}),
        FetchedOrganization("5", "E", None, "organization", {}),
    ]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"id": "", "name": "A"}, 'organization #1: "id" must be a non-empty string'),
        ({"id": "1", "name": " "}, "organization '1': \"name\" must be a non-empty string"),
        ({"id": "1", "name": "A", "parent_id": ""}, '"parent_id" must be a string or null'),
        ({"id": "1", "name": "A", "parent_id": "1"}, "cannot be its own parent"),
        ({"id": "1", "name": "A", "kind": "planet"}, '"kind" must be one of'),
        ({"id": "1", "name": "A", "kind": ["site"]}, '"kind" must be one of'),
        ({"id": "1", "name": "A", "usage": ["x"]}, '"usage" must be an object'),
        ({"id": "1", "name": "A", "usage": {"users": -1}}, "usage 'users': usage must be"),
        ({"id": "1", "name": "A", "usage": {"users": "7"}}, "usage 'users': usage must be"),
        ({"id": "1", "name": "A", "usage": {"users": float("nan")}}, "usage must be"),
        ("not an object", "organization #1: expected an object"),
    ],
)
def test_the_fast_parser_reports_what_the_full_rules_report(item, message):
    with pytest.raises(SourceError, match=None) as error:
        parse_feed_page({"organizations": [item]}, where="page 7", billing_types={"users"})
    assert str(error.value).startswith("page 7, organization")
    assert message in str(error.value)


def test_conflicting_repeats_name_both_pages(feed_server):
    pages = [
        [org("1", "A")],
        [org("2", "B"), org("3", "C")],
        [org("4", "D"), org("3", "C")],  # an identical repeat is dropped
        [org("5", "E"), org("2", "B renamed")],
    ]
    server = feed_server(pages)

    with pytest.raises(SourceError, match=r"'2' appears twice .* \(pages 2 and 4\)"):
        fetch(server.url)


def test_a_conflicting_repeat_within_one_page(feed_server):
    server = feed_server([[org("1", "A")], [org("2", "B"), org("2", "B2")]])

    with pytest.raises(SourceError, match=r"'2' appears twice .* \(pages 2 and 2\)"):
        fetch(server.url)
