"""The limits that end a sync (a deadline per request, a deadline and a page cap per sync) and the
lease fence that keeps a run which outlived its lease from overwriting a newer one. Each limit is
met by a real server on loopback; the run log names the limit and nothing is applied."""

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connections
from django.utils import timezone
from werkzeug import Response

from kaseya_modules.models import KaseyaModule, SyncLimit, SyncRun, SyncStatus, SyncTrigger
from kaseya_modules.sync import run_sync

from .conftest import org, serve_feed, sync
from .factories import KaseyaModuleFactory


class Server:
    """A real HTTP/1.1 server on loopback whose every GET is answered by `respond(handler)`."""

    def __init__(self, respond):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 - http.server's name
                respond(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/feed"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server():
    started = []

    def start(respond):
        started.append(Server(respond))
        return started[-1]

    yield start
    for each in started:
        each.close()


@pytest.fixture
def trickle():
    """Write one byte every 50 ms to a handler's connection until the client goes away (or the
    test ends): each read is well inside the socket timeout, so only a deadline ends it."""
    stop = threading.Event()

    def write(handler, byte):
        try:
            while not stop.wait(0.05):
                handler.wfile.write(byte)
                handler.wfile.flush()
        except OSError:
            pass
        handler.close_connection = True

    yield write
    stop.set()


@pytest.fixture
def trickling_feed(server, trickle):
    """Headers at once, then the promised body one byte at a time."""
    requests = []

    def respond(handler):
        requests.append(handler.path)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        trickle(handler, b" ")

    feed = server(respond)
    feed.requests = requests
    return feed


def test_a_trickling_feed_ends_at_the_request_deadline_and_applies_nothing(
    db, settings, trickling_feed
):
    # given: each read arrives within the 0.5 s socket timeout, the request may take 0.3 s in all
    settings.MODULE_SYNC_REQUEST_DEADLINE_SECONDS = 0.3
    module = KaseyaModuleFactory(base_url=trickling_feed.url, icb_enabled=True)

    # when
    run = sync(module)

    # then
    assert run.status == SyncStatus.FAILED
    assert run.stopped_by == SyncLimit.REQUEST_DEADLINE
    assert "request deadline (0.3s, MODULE_SYNC_REQUEST_DEADLINE_SECONDS) on page 1" in run.error
    assert "gave up after 3 attempts" in run.error
    assert len(trickling_feed.requests) == 3
    assert not module.organizations.exists()


def test_a_trickling_feed_ends_at_the_sync_deadline_when_that_comes_first(
    db, settings, trickling_feed
):
    settings.MODULE_SYNC_REQUEST_DEADLINE_SECONDS = 60
    settings.MODULE_SYNC_DEADLINE_SECONDS = 0.4
    module = KaseyaModuleFactory(base_url=trickling_feed.url, icb_enabled=True)

    run = sync(module)

    assert run.status == SyncStatus.FAILED
    assert run.stopped_by == SyncLimit.SYNC_DEADLINE
    assert run.error.startswith(
        "Stopped at the sync deadline (0.4s, MODULE_SYNC_DEADLINE_SECONDS) during page 1"
    )
    assert len(trickling_feed.requests) == 1  # not retried: the sync's time is up
    assert not module.organizations.exists()


def test_a_feed_trickling_its_headers_ends_at_the_request_deadline(db, settings, server, trickle):
    # given: a status line, then a header that never ends, one byte every 50 ms
    settings.MODULE_SYNC_REQUEST_DEADLINE_SECONDS = 0.3
    settings.KASEYA_SOURCE_ATTEMPTS = 1

    def respond(handler):
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Padding: ")
        trickle(handler, b"a")

    module = KaseyaModuleFactory(base_url=server(respond).url, icb_enabled=True)

    # when
    run = sync(module)

    # then
    assert run.stopped_by == SyncLimit.REQUEST_DEADLINE
    assert "request deadline (0.3s, MODULE_SYNC_REQUEST_DEADLINE_SECONDS) on page 1" in run.error


def endless_cursors(httpserver):
    """A feed whose every page names a new next_cursor."""
    numbers = itertools.count(1)

    def respond(request):
        number = next(numbers)
        body = {"organizations": [org(str(number), f"Org {number}")], "next_cursor": f"c{number}"}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/feed/organizations").respond_with_handler(respond)


def test_endless_cursors_end_at_the_page_cap_and_apply_nothing(feed_module, httpserver, settings):
    settings.MODULE_SYNC_MAX_PAGES = 5
    endless_cursors(httpserver)

    run = sync(feed_module)

    assert run.status == SyncStatus.FAILED
    assert run.stopped_by == SyncLimit.PAGE_CAP
    assert run.error == (
        "The module has more than 5 pages (MODULE_SYNC_MAX_PAGES); stopped after page 5, "
        "nothing was applied."
    )
    assert len(httpserver.log) == 6
    assert not feed_module.organizations.exists()


def test_endless_cursors_end_at_the_sync_deadline_and_apply_nothing(
    feed_module, httpserver, settings
):
    settings.MODULE_SYNC_MAX_PAGES = 1_000_000
    settings.MODULE_SYNC_DEADLINE_SECONDS = 0.3
    endless_cursors(httpserver)

    run = sync(feed_module)

    assert run.status == SyncStatus.FAILED
    assert run.stopped_by == SyncLimit.SYNC_DEADLINE
    assert "sync deadline (0.3s, MODULE_SYNC_DEADLINE_SECONDS)" in run.error
    assert not feed_module.organizations.exists()


def test_a_sync_within_its_limits_records_no_limit(feed_module, httpserver, settings):
    settings.MODULE_SYNC_MAX_PAGES = 2
    serve_feed(httpserver, [[org("1", "A")], [org("2", "B")]])

    run = sync(feed_module)

    assert (run.status, run.stopped_by) == (SyncStatus.SUCCEEDED, "")


# --- the lease fence ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_run_that_outlived_its_lease_is_superseded_and_the_newer_data_stands(server):
    # given: run A's fetch is held up on the feed; the feed has changed since A asked
    a_waiting, let_a_go = threading.Event(), threading.Event()
    answered = itertools.count()

    def respond(handler):
        old = next(answered) == 0  # the first request is A's
        if old:
            a_waiting.set()
            let_a_go.wait(10)
        body = json.dumps(
            {"organizations": [org("1", "Old name" if old else "New name")], "next_cursor": None}
        ).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    feed = server(respond)
    module = KaseyaModuleFactory(base_url=feed.url, icb_enabled=True)
    run_a = SyncRun.objects.create(module=module, trigger=SyncTrigger.NIGHTLY)
    run_b = SyncRun.objects.create(module=module, trigger=SyncTrigger.MANUAL)

    def run_a_in_a_worker():
        try:
            run_sync(run_a.pk)
        finally:
            connections.close_all()

    worker = threading.Thread(target=run_a_in_a_worker)
    worker.start()
    assert a_waiting.wait(10)

    # when: A's lease runs out, B takes the module over and completes, then A gets its page
    KaseyaModule.objects.filter(pk=module.pk).update(
        sync_locked_until=timezone.now() - timezone.timedelta(seconds=1)
    )
    assert run_sync(run_b.pk).status == SyncStatus.SUCCEEDED
    let_a_go.set()
    worker.join(10)

    # then
    run_a.refresh_from_db()
    assert (run_a.status, run_a.stopped_by) == (SyncStatus.FAILED, SyncLimit.SUPERSEDED)
    assert run_a.error.startswith("Superseded:")
    assert list(module.organizations.values_list("name", flat=True)) == ["New name"]
    module.refresh_from_db()
    assert module.sync_lease_holder is None  # B released it; A's release changed nothing
