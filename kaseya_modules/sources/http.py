"""GET JSON over HTTP(S) with deadlines and retries — shared by the HTTP adapters.

httpx does the HTTP: one persistent `httpx.Client` per fetch (keep-alive across pages), gzip,
TLS. What httpx leaves to its caller lives here: a deadline for each request as a whole (httpx
times each phase separately), the retry policy, same-origin redirects, the body size cap, and one
error type (SourceError) for the adapters.
"""

import logging
import socket
import threading
import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx
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

MAX_REDIRECTS = 5
MAX_BODY_BYTES = 64 * 1024 * 1024


def retryable(status: int) -> bool:
    """429 (slow down) and every 5xx except 501 (the server does not do this at all)."""
    return status == 429 or (status >= 500 and status != 501)


def retry_delay(attempt: int, retry_after: str | None) -> float:
    """Exponential backoff (base × 2^attempt, capped), or the server's Retry-After (seconds or an
    HTTP date) if it asks for longer (also capped: a nightly sync must end)."""
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


def without_query(url: str) -> str:
    """A URL fit for an error message or a log line: a query may carry a secret."""
    return urlsplit(url)._replace(query="", fragment="").geturl()


class HttpStatusError(Exception):
    def __init__(self, status: int, headers, detail: str = ""):
        super().__init__(status)
        self.status = status
        self.headers = headers
        self.detail = detail


class DeadlineExceeded(Exception):
    """A request ran out of time: its own deadline, or what was left of the fetch's."""

    def __init__(self, limit: str, seconds: float):
        super().__init__(limit)
        self.limit = limit
        self.seconds = seconds


class BodyTooLarge(Exception):
    pass


class Client:
    """One persistent httpx client for one fetch. Use as a context manager (or call close()).

    `timeout` bounds each connect, write and read; every request as a whole (connect, headers,
    body, redirects) must also finish within MODULE_SYNC_REQUEST_DEADLINE_SECONDS and within what
    is left of `deadline` (the fetch's), or it ends with DeadlineExceeded."""

    def __init__(self, timeout: float | None = None, deadline: Deadline | None = None):
        self.timeout = (
            timeout
            if timeout is not None
            else source_setting("KASEYA_SOURCE_TIMEOUT_SECONDS", 15.0)
        )
        self.deadline = deadline
        self.request_seconds = source_setting("MODULE_SYNC_REQUEST_DEADLINE_SECONDS", 120)
        # No proxies or certificate bundles from the environment: a module API is reached
        # directly, the same way from the web process, the worker and a test.
        self.http = httpx.Client(
            timeout=self.timeout,
            follow_redirects=False,
            trust_env=False,
            headers={"Accept": "application/json", "User-Agent": "mapping-portal"},
        )
        self.sockets: list[socket.socket] = []  # the connections httpx opened, for _expire
        self.expired = threading.Event()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.http.close()

    def _trace(self, event: str, info: dict) -> None:
        """httpx's trace extension reports each connection it opens (TCP, then TLS on it)."""
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self.sockets = [sock for sock in self.sockets if sock.fileno() != -1]
            self.sockets.append(info["return_value"].get_extra_info("socket"))

    def _expire(self) -> None:
        """The watchdog: httpx times each read, so a server trickling a byte now and then (in the
        headers as well as the body) would hold the request for ever. Shutting the sockets down
        wakes the blocked read."""
        self.expired.set()
        for sock in self.sockets:
            try:
                # The plain socket's shutdown, also for TLS: it acts on the descriptor without
                # touching the TLS state the reading thread is using.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def request(self, url: str, headers: dict[str, str], data: bytes | None) -> bytes:
        """One request within its deadline (see the class): the body, or DeadlineExceeded /
        HttpStatusError / BodyTooLarge / httpx.HTTPError for the caller's retry loop."""
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
            body = self._follow(url, headers, data)
        except Exception:
            if self.expired.is_set():
                raise DeadlineExceeded(limit, configured) from None
            raise
        finally:
            watchdog.cancel()
        if self.expired.is_set():  # a body without a length, cut short by the watchdog
            raise DeadlineExceeded(limit, configured)
        return body

    def _follow(self, url: str, headers, data: bytes | None) -> bytes:
        """One request, following same-origin redirects."""
        origin = urlsplit(url)[:2]
        for _ in range(MAX_REDIRECTS + 1):
            request = self.http.build_request(
                "POST" if data is not None else "GET",
                url,
                headers=headers,
                content=data,
                extensions={"trace": self._trace},
            )
            response = self.http.send(request, stream=True)
            try:
                if not response.is_redirect:
                    return read_body(response)
                location = response.headers.get("Location", "")
                following = str(response.url.join(location))
                # Credentials travel with the request, so they must not follow it elsewhere
                # (nor from https to http on the same host).
                if not location or urlsplit(following)[:2] != origin:
                    raise HttpStatusError(
                        response.status_code,
                        response.headers,
                        f"redirect to {without_query(following)} refused: only the same "
                        "scheme and host are followed",
                    )
                url = following
            finally:
                response.close()
        raise HttpStatusError(response.status_code, response.headers, "too many redirects")


def read_body(response: httpx.Response) -> bytes:
    """The decoded body, refused as soon as it passes the size cap (also when gzip inflates it)."""
    if response.status_code >= 300:
        raise HttpStatusError(response.status_code, response.headers)
    if int(response.headers.get("Content-Length") or 0) > MAX_BODY_BYTES:
        raise BodyTooLarge
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise BodyTooLarge
    return bytes(body)


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
    attempts = source_setting("KASEYA_SOURCE_ATTEMPTS", 4)
    if data is not None:
        headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    for attempt in range(attempts):
        retry_after, limit = None, ""
        try:
            return parse_json(client.request(url, headers, data), where=where)
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
            if exc.detail or not retryable(exc.status):
                detail = f": {exc.detail}" if exc.detail else ""
                raise SourceError(
                    f"HTTP {exc.status} on {where}{detail}.", permanent=True
                ) from None
            problem = f"HTTP {exc.status} on {where}"
            retry_after = exc.headers.get("Retry-After")
        except BodyTooLarge:
            raise SourceError(
                f"{where} is larger than {MAX_BODY_BYTES} bytes.", permanent=True
            ) from None
        except httpx.DecodingError as exc:
            raise SourceError(f"Malformed gzip body on {where}: {exc}", permanent=True) from None
        except httpx.TimeoutException:
            problem = f"Timed out after {client.timeout:g}s on {where}"
        except httpx.ConnectError as exc:
            problem = f"Could not connect for {where}: {exc}"
        except httpx.HTTPError as exc:  # the connection broke, or the server spoke bad HTTP
            problem = f"Connection failed on {where}: {exc or type(exc).__name__}"
        if attempt == attempts - 1:
            raise SourceError(f"{problem} (gave up after {attempts} attempts).", limit=limit)
        delay = retry_delay(attempt, retry_after)
        if client.deadline is not None and client.deadline.remaining() <= delay:
            raise client.deadline.exceeded(where)
        log.warning("%s; retrying in %.2fs", problem, delay)
        time.sleep(delay)
