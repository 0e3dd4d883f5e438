"""JSON over HTTP(S) with the guarantees every outbound API client of the portal needs.

httpx does the HTTP (keep-alive, gzip, TLS). What httpx leaves to its caller lives here: a deadline
for each request as a whole (httpx times each phase separately, so a server trickling a byte now
and then would hold a request for ever), retries with exponential back-off that honour
Retry-After on 429 and 5xx, redirects followed only to the same scheme and host (credentials travel
in headers and must not follow a request elsewhere), a cap on the body size, and log lines that
never carry a header or a query string.

The caller decides what an answer means: `should_retry(status, body)` may refuse to retry an error
status it knows to be permanent, and `before_attempt()` runs before every attempt (to count
requests against a budget, or to stop at a deadline).
"""

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx
from django.utils import timezone

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
ERROR_BODY_BYTES = 64 * 1024  # kept of an error answer, for its message


class HttpError(Exception):
    """A request that failed for good. `status` is the last HTTP status (None when the server never
    answered); `body` the start of that answer; `transient` says whether trying again later might
    work (timeouts, 5xx after the retries) or not (4xx, malformed JSON, a refused redirect)."""

    def __init__(
        self, message: str, *, status: int | None = None, body: bytes = b"", transient: bool = False
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        self.transient = transient

    def __str__(self):
        return self.message


class _StatusAnswer(Exception):
    def __init__(self, status: int, headers, body: bytes, detail: str = ""):
        super().__init__(status)
        self.status = status
        self.headers = headers
        self.body = body
        self.detail = detail


class _Expired(Exception):
    pass


class _TooLarge(Exception):
    pass


def validate_api_url(url: str) -> None:
    """An API base URL an admin enters: http(s), with neither query nor fragment (the client adds
    its own paths and queries); ValidationError otherwise."""
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator

    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError("Enter an http:// or https:// URL.") from None
    if "?" in url or "#" in url:
        raise ValidationError("The base URL must not carry a query or fragment.")


def retryable(status: int) -> bool:
    """429 (slow down) and every 5xx except 501 (the server does not do this at all)."""
    return status == 429 or (status >= 500 and status != 501)


def without_query(url: str) -> str:
    """A URL fit for an error message or a log line: a query may carry a secret or a user name."""
    return urlsplit(url)._replace(query="", fragment="").geturl()


def retry_delay(attempt: int, retry_after: str | None, *, base: float, cap: float) -> float:
    """Exponential back-off (base × 2^attempt, capped), or the server's Retry-After (seconds or an
    HTTP date) when it asks for longer, itself capped at twice the cap: a sync must end."""
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


class JsonClient:
    """One persistent httpx client (use as a context manager). `timeout` bounds each connect, write
    and read; `request_deadline` each request as a whole, redirects included."""

    def __init__(
        self,
        *,
        timeout: float = 15.0,
        request_deadline: float = 120.0,
        max_body_bytes: int = 64 * 1024 * 1024,
        attempts: int = 4,
        backoff: float = 1.0,
        backoff_cap: float = 30.0,
        headers: dict[str, str] | None = None,
        should_retry: Callable[[int, bytes], bool] | None = None,
        before_attempt: Callable[[], None] | None = None,
    ):
        self.timeout = timeout
        self.request_deadline = request_deadline
        self.max_body_bytes = max_body_bytes
        self.attempts = max(1, attempts)
        self.backoff, self.backoff_cap = backoff, backoff_cap
        self.should_retry = should_retry or (lambda status, body: retryable(status))
        self.before_attempt = before_attempt
        # No proxies or certificate bundles from the environment: the API is reached directly,
        # the same way from the web process, the worker and a test.
        self.http = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            headers={
                "Accept": "application/json",
                "User-Agent": "mapping-portal",
                **(headers or {}),
            },
        )
        self.sockets: list[socket.socket] = []
        self.expired = threading.Event()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.http.close()

    def __repr__(self):
        # Never let the headers (credentials) reach a log line or a traceback's locals summary.
        return f"<{type(self).__name__}>"

    def request_json(
        self, method: str, url: str, *, where: str, headers=None, json_body=None, counted=True
    ):
        """The decoded JSON answer, or HttpError naming `where` (never the URL's query).
        `counted=False` skips `before_attempt` (a request the API does not count)."""
        data = None
        request_headers = dict(headers or {})
        if json_body is not None:
            data = json.dumps(json_body).encode()
            request_headers["Content-Type"] = "application/json"
        for attempt in range(self.attempts):
            if counted and self.before_attempt is not None:
                self.before_attempt()
            retry_after = None
            try:
                body = self._within_deadline(method, url, request_headers, data)
                try:
                    return json.loads(body)
                except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
                    raise HttpError(f"Malformed JSON on {where}: {exc}") from None
            except _Expired:
                problem = f"Took longer than {self.request_deadline:g}s on {where}"
            except _StatusAnswer as answer:
                if answer.detail or not self.should_retry(answer.status, answer.body):
                    detail = f": {answer.detail}" if answer.detail else ""
                    raise HttpError(
                        f"HTTP {answer.status} on {where}{detail}",
                        status=answer.status,
                        body=answer.body,
                    ) from None
                problem = f"HTTP {answer.status} on {where}"
                retry_after = answer.headers.get("Retry-After")
                if attempt == self.attempts - 1:
                    raise HttpError(
                        f"{problem} (gave up after {self.attempts} attempts)",
                        status=answer.status,
                        body=answer.body,
                        transient=True,
                    ) from None
            except _TooLarge:
                raise HttpError(f"{where} is larger than {self.max_body_bytes} bytes") from None
            except httpx.DecodingError as exc:
                raise HttpError(f"Malformed compressed body on {where}: {exc}") from None
            except httpx.TimeoutException:
                problem = f"Timed out after {self.timeout:g}s on {where}"
            except httpx.HTTPError as exc:  # refused, broken, or bad HTTP
                problem = f"Connection failed on {where}: {exc or type(exc).__name__}"
            if attempt == self.attempts - 1:
                raise HttpError(
                    f"{problem} (gave up after {self.attempts} attempts)", transient=True
                )
            delay = retry_delay(attempt, retry_after, base=self.backoff, cap=self.backoff_cap)
            log.warning("%s; retrying in %.2fs", problem, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    # The watchdog: shutting the sockets down wakes a read blocked on a trickling server.
    def _trace(self, event: str, info: dict) -> None:
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self.sockets = [sock for sock in self.sockets if sock.fileno() != -1]
            self.sockets.append(info["return_value"].get_extra_info("socket"))

    def _expire(self) -> None:
        self.expired.set()
        for sock in self.sockets:
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def _within_deadline(self, method, url, headers, data) -> bytes:
        self.expired.clear()
        watchdog = threading.Timer(self.request_deadline, self._expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            body = self._follow(method, url, headers, data)
        except (_StatusAnswer, _TooLarge):
            raise
        except Exception:
            if self.expired.is_set():
                raise _Expired from None
            raise
        finally:
            watchdog.cancel()
        if self.expired.is_set():
            raise _Expired
        return body

    def _follow(self, method, url, headers, data) -> bytes:
        origin = urlsplit(url)[:2]
        for _ in range(MAX_REDIRECTS + 1):
            request = self.http.build_request(
                method, url, headers=headers, content=data, extensions={"trace": self._trace}
            )
            response = self.http.send(request, stream=True)
            try:
                if not response.is_redirect:
                    return self._read(response)
                location = response.headers.get("Location", "")
                following = str(response.url.join(location))
                if not location or urlsplit(following)[:2] != origin:
                    raise _StatusAnswer(
                        response.status_code,
                        response.headers,
                        b"",
                        f"redirect to {without_query(following)} refused: only the same scheme "
                        "and host are followed",
                    )
                url = following
            finally:
                response.close()
        raise _StatusAnswer(response.status_code, response.headers, b"", "too many redirects")

    def _read(self, response: httpx.Response) -> bytes:
        """The decoded body, refused as soon as it passes the cap (also when gzip inflates it)."""
        error = response.status_code >= 300
        cap = ERROR_BODY_BYTES if error else self.max_body_bytes
        if not error and int(response.headers.get("Content-Length") or 0) > cap:
            raise _TooLarge
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > cap:
                if error:
                    break
                raise _TooLarge
        if error:
            raise _StatusAnswer(response.status_code, response.headers, bytes(body[:cap]))
        return bytes(body)
