"""GET JSON over HTTP(S) with timeouts and retries — shared by the HTTP adapters.

A `Client` keeps one persistent (keep-alive) connection per host for the whole fetch, so paging
through a feed costs one TCP (and TLS) handshake rather than one per page. It asks for gzip and
decodes it when the server sends it.
"""

import gzip
import http.client
import logging
import socket
import ssl
import threading
import time
import zlib
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

from django.utils import timezone

from .base import (
    REQUEST_DEADLINE,
    SYNC_DEADLINE,
    Deadline,
    SourceError,
    parse_json,
    source_setting,
)

log = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 5
MAX_BODY_BYTES = 64 * 1024 * 1024
# A reused keep-alive connection the server has meanwhile closed fails like this on the next
# request; that is not the server failing, so it is retried at once on a fresh connection.
STALE_CONNECTION_ERRORS = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
    http.client.CannotSendRequest,
    http.client.ResponseNotReady,
)


def retry_delay(attempt: int, retry_after: str | None) -> float:
    """Exponential backoff (base × 2^attempt, capped), or the server's Retry-After if it asks for
    longer (also capped: a nightly sync must end)."""
    base = source_setting("KASEYA_SOURCE_BACKOFF_SECONDS", 1.0)
    cap = source_setting("KASEYA_SOURCE_BACKOFF_CAP_SECONDS", 30.0)
    delay = min(base * (2**attempt), cap)
    if retry_after:
        try:
            asked = float(retry_after)
        except ValueError:
            try:
                asked = (parsedate_to_datetime(retry_after) - timezone.now()).total_seconds()
            except (TypeError, ValueError):
                asked = 0
        delay = max(delay, min(asked, cap * 2))
    return delay


class HttpStatusError(Exception):
    def __init__(self, status: int, headers):
        super().__init__(status)
        self.status = status
        self.headers = headers


class ConnectError(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class DeadlineExceeded(Exception):
    """A request ran out of time: its own deadline, or what was left of the fetch's."""

    def __init__(self, limit: str, seconds: float):
        super().__init__(limit)
        self.limit = limit
        self.seconds = seconds


class Client:
    """Persistent connections for one fetch. Use as a context manager (or call close()).

    `timeout` bounds each socket operation; every request as a whole (connect, headers, body,
    redirects) must also finish within MODULE_SYNC_REQUEST_DEADLINE_SECONDS and within what is
    left of `deadline` (the fetch's), or it ends with DeadlineExceeded."""

    def __init__(self, timeout: float | None = None, deadline: Deadline | None = None):
        self.timeout = (
            timeout
            if timeout is not None
            else source_setting("KASEYA_SOURCE_TIMEOUT_SECONDS", 15.0)
        )
        self.deadline = deadline
        self.request_seconds = source_setting("MODULE_SYNC_REQUEST_DEADLINE_SECONDS", 120)
        self.connections: dict[tuple[str, str, int | None], http.client.HTTPConnection] = {}
        self.expired = threading.Event()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        for conn in self.connections.values():
            conn.close()
        self.connections.clear()

    def _connection(self, scheme: str, host: str, port: int | None):
        key = (scheme, host, port)
        conn = self.connections.get(key)
        if conn is None:
            if scheme == "https":
                conn = http.client.HTTPSConnection(
                    host, port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
            self.connections[key] = conn
        return conn

    def _expire(self) -> None:
        """The watchdog: a socket timeout is per read, so a server trickling a byte at a time
        would hold the request for ever. Shutting the sockets down wakes the blocked read."""
        self.expired.set()
        for conn in list(self.connections.values()):
            sock = conn.sock
            if sock is not None:
                try:
                    # The plain socket's shutdown, also for TLS: it acts on the descriptor
                    # without touching the TLS state the reading thread is using.
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass

    def request(self, url: str, headers: dict[str, str], data: bytes | None) -> bytes:
        """One request within its deadline (see the class): the body, or DeadlineExceeded /
        HttpStatusError / ConnectError / TimeoutError / OSError for the caller's retry loop."""
        limit, seconds = REQUEST_DEADLINE, self.request_seconds
        if self.deadline is not None and self.deadline.remaining() < seconds:
            limit, seconds = SYNC_DEADLINE, self.deadline.remaining()
        configured = self.request_seconds if limit == REQUEST_DEADLINE else self.deadline.seconds
        if seconds <= 0:
            raise DeadlineExceeded(limit, configured)
        self.expired.clear()
        watchdog = threading.Timer(seconds, self._expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            body = self._request(url, headers, data)
        except Exception:
            if self.expired.is_set():
                raise DeadlineExceeded(limit, configured) from None
            raise
        finally:
            watchdog.cancel()
        if self.expired.is_set():  # a read cut short by the watchdog returns what it had
            self.close()
            raise DeadlineExceeded(limit, configured)
        return body

    def _drop(self, conn) -> None:
        conn.close()
        for key, value in list(self.connections.items()):
            if value is conn:
                del self.connections[key]

    def _request(self, url: str, headers: dict[str, str], data: bytes | None) -> bytes:
        """One request, following same-origin redirects."""
        status, response_headers = 0, {}
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConnectError(f"unsupported URL {url!r}")
            target = parts.path or "/"
            if parts.query:
                target += "?" + parts.query
            conn = self._connection(parts.scheme, parts.hostname, parts.port)
            reused = conn.sock is not None
            try:
                response = self._send(conn, data, target, headers, reused)
            except BaseException:
                self._drop(conn)
                raise
            if response.status in REDIRECT_STATUSES:
                status, response_headers = response.status, response.headers
                location = response.getheader("Location")
                response.read()
                if response.will_close:
                    self._drop(conn)
                following = urljoin(url, location or "")
                # Credentials travel with the request, so they must not follow it elsewhere.
                if not location or urlsplit(following)[:2] != parts[:2]:
                    raise HttpStatusError(response.status, response.headers)
                url = following
                continue
            try:
                body = response.read(MAX_BODY_BYTES + 1)
                if not response.isclosed():  # over the limit: the connection cannot be reused
                    self._drop(conn)
            except BaseException:
                self._drop(conn)
                raise
            if response.will_close:
                self._drop(conn)
            if response.status >= 400:
                raise HttpStatusError(response.status, response.headers)
            if response.getheader("Content-Encoding", "").lower() in ("gzip", "x-gzip"):
                body = gunzip(body)
            return body
        raise HttpStatusError(status, response_headers)  # too many redirects

    def _send(self, conn, data, target, headers, reused):
        method = "POST" if data is not None else "GET"
        for fresh in (False, True):
            try:
                if conn.sock is None:
                    try:
                        conn.connect()
                    except TimeoutError:
                        raise
                    except OSError as exc:
                        raise ConnectError(exc) from None
                conn.request(method, target, body=data, headers=headers)
                return conn.getresponse()
            except STALE_CONNECTION_ERRORS:
                conn.close()
                if fresh or not reused or self.expired.is_set():
                    raise
        raise AssertionError("unreachable")


def gunzip(body: bytes) -> bytes:
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        plain = decoder.decompress(body, MAX_BODY_BYTES + 1)
    except zlib.error as exc:
        raise gzip.BadGzipFile(str(exc)) from None
    return plain


def get_json(
    url: str,
    *,
    headers: dict[str, str],
    where: str,
    data: bytes | None = None,
    client: Client | None = None,
):
    """The decoded JSON body of `url` (a POST when `data` is given). `where` names the page in
    every error message. Pass a `client` to reuse its connections across pages."""
    if client is None:
        with Client() as own:
            return get_json(url, headers=headers, where=where, data=data, client=own)
    timeout = client.timeout
    attempts = source_setting("KASEYA_SOURCE_ATTEMPTS", 4)
    headers = {"Accept": "application/json", "Accept-Encoding": "gzip", **headers}
    if data is not None:
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    for attempt in range(attempts):
        last = attempt == attempts - 1
        retry_after, limit = None, ""
        try:
            body = client.request(url, headers, data)
            break
        except DeadlineExceeded as exc:
            if exc.limit == SYNC_DEADLINE:
                raise client.deadline.exceeded(where) from None
            problem = (
                f"Took longer than the request deadline ({exc.seconds:g}s, "
                f"MODULE_SYNC_REQUEST_DEADLINE_SECONDS) on {where}"
            )
            limit = exc.limit
        except HttpStatusError as exc:
            if exc.status in (401, 403):
                raise SourceError(
                    f"The module API refused the credentials (HTTP {exc.status}) on {where}: "
                    "check the token in the source settings.",
                    permanent=True,
                ) from None
            if exc.status not in RETRY_STATUSES:
                raise SourceError(f"HTTP {exc.status} on {where}.", permanent=True) from None
            problem = f"HTTP {exc.status} on {where}"
            retry_after = exc.headers.get("Retry-After")
        except TimeoutError:
            problem = f"Timed out after {timeout:g}s on {where}"
        except ConnectError as exc:
            problem = f"Could not connect for {where}: {exc.reason}"
        except gzip.BadGzipFile as exc:
            raise SourceError(f"Malformed gzip body on {where}: {exc}", permanent=True) from None
        except (http.client.HTTPException, OSError) as exc:
            problem = f"Connection failed on {where}: {exc or type(exc).__name__}"
        if last:
            raise SourceError(f"{problem} (gave up after {attempts} attempts).", limit=limit)
        delay = retry_delay(attempt, retry_after)
        if client.deadline is not None and client.deadline.remaining() <= delay:
            raise client.deadline.exceeded(where)
        log.warning("%s; retrying in %.2fs", problem, delay)
        time.sleep(delay)
    if len(body) > MAX_BODY_BYTES:
        raise SourceError(f"{where} is larger than {MAX_BODY_BYTES} bytes.", permanent=True)
    return parse_json(body, where=where)
