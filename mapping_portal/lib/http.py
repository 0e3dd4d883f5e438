"""JSON over HTTP(S) with the guarantees every outbound API client of the portal needs.

httpx does the HTTP (keep-alive, gzip, TLS). What httpx leaves to its caller lives here: a deadline
for each request as a whole (httpx times each phase separately, so a server trickling a byte now
and then would hold a request for ever) and, optionally, one for the whole job the requests belong
to; retries with exponential back-off that honour Retry-After on 429 and 5xx; redirects followed
only to the same scheme and host (credentials travel in headers and must not follow a request
elsewhere); a cap on the body size; and log lines that never carry a header or a query string.

The caller decides what an answer means: `should_retry(status, body)` may refuse to retry an error
status it knows to be permanent, `before_attempt()` runs before every attempt (to count requests
against a budget), and a subclass may override `attempt()` to handle a status itself (a token to
renew, a rate limit to wait out) before the retry loop sees it.
"""

import functools
import json
import logging
import socket
import ssl
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

# Which deadline ended a request (HttpError.expired).
REQUEST = "request"
OVERALL = "overall"


class HttpError(Exception):
    """A request that failed for good. `status` is the last HTTP status (None when the server never
    answered); `body` the start of that answer; `transient` says whether trying again later might
    work (timeouts, 5xx after the retries) or not (4xx, malformed JSON, a refused redirect);
    `expired` names the deadline that ended the last attempt (REQUEST or OVERALL), if one did."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: bytes = b"",
        transient: bool = False,
        expired: str = "",
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        self.transient = transient
        self.expired = expired

    def __str__(self):
        return self.message


class StatusAnswer(Exception):
    """One attempt's error status (or refused redirect), as `attempt()` raises it."""

    def __init__(self, status: int, headers, body: bytes, detail: str = ""):
        super().__init__(status)
        self.status = status
        self.headers = headers
        self.body = body
        self.detail = detail


class _Expired(Exception):
    def __init__(self, which: str):
        super().__init__(which)
        self.which = which


class _TooLarge(Exception):
    pass


class _Malformed(Exception):
    pass


class Deadline:
    """The time by which a whole job (every request and every wait between them) must be done."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verifying TLS context, built once per process: loading the CA bundle takes
    longer than a whole request to a nearby server, and a context is safe to share between
    clients and threads. Like the clients, it takes nothing from the environment."""
    return httpx.create_ssl_context(trust_env=False)


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


def decode_json(body: bytes | str):
    """Decoded JSON, or ValueError with the reason. Nesting deep enough to exhaust the decoder's
    recursion is malformed data, not a crash."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(str(exc)) from None
    except RecursionError:
        raise ValueError("nested too deeply to read") from None


class JsonClient:
    """One persistent httpx client (use as a context manager). `timeout` bounds each connect, write
    and read; `request_deadline` each request as a whole, redirects included (`deadline_setting`
    names the setting in messages); `deadline`, when given, everything the client does: a request
    gets no more than what is left of it, and no retry waits past it."""

    def __init__(
        self,
        *,
        timeout: float = 15.0,
        request_deadline: float = 120.0,
        deadline_setting: str = "",
        deadline: Deadline | None = None,
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
        self.deadline_setting = deadline_setting
        self.deadline = deadline
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
            verify=tls_context(),
            headers={
                "Accept": "application/json",
                "User-Agent": "mapping-portal",
                **(headers or {}),
            },
        )
        self.sockets: list[socket.socket] = []  # the connections httpx opened, for _expire
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
        self,
        method: str,
        url: str,
        *,
        where: str,
        headers=None,
        json_body=None,
        data: bytes | None = None,
        counted=True,
    ):
        """The decoded JSON answer, or HttpError naming `where` (never the URL's query). The body
        is `json_body` encoded, or `data` as it is (the caller's headers say its type).
        `counted=False` skips `before_attempt` (a request the API does not count)."""
        request_headers = dict(headers or {})
        if json_body is not None:
            data = json.dumps(json_body).encode()
            request_headers["Content-Type"] = "application/json"
        for attempt in range(self.attempts):
            if counted and self.before_attempt is not None:
                self.before_attempt()
            retry_after, expired = None, ""
            try:
                body = self.attempt(method, url, request_headers, data)
                try:
                    return decode_json(body)
                except ValueError as exc:
                    raise HttpError(f"Malformed JSON on {where}: {exc}") from None
            except _Expired as exc:
                if exc.which == OVERALL:
                    raise self._overall_expired(where) from None
                problem, expired = self._took_too_long(where), REQUEST
            except StatusAnswer as answer:
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
            except _Malformed as exc:
                raise HttpError(f"Malformed {exc} body on {where}: {exc.__cause__}") from None
            except httpx.TimeoutException:
                problem = f"Timed out after {self.timeout:g}s on {where}"
            except httpx.ConnectError as exc:
                problem = f"Could not connect for {where}: {exc}"
            except httpx.HTTPError as exc:  # the connection broke, or the server spoke bad HTTP
                problem = f"Connection failed on {where}: {exc or type(exc).__name__}"
            if attempt == self.attempts - 1:
                raise HttpError(
                    f"{problem} (gave up after {self.attempts} attempts)",
                    transient=True,
                    expired=expired,
                )
            delay = retry_delay(attempt, retry_after, base=self.backoff, cap=self.backoff_cap)
            if self.deadline is not None and self.deadline.remaining() <= delay:
                raise self._overall_expired(where)
            log.warning("%s; retrying in %.2fs", problem, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _took_too_long(self, where: str) -> str:
        if self.deadline_setting:
            return (
                f"Took longer than the request deadline ({self.request_deadline:g}s, "
                f"{self.deadline_setting}) on {where}"
            )
        return f"Took longer than {self.request_deadline:g}s on {where}"

    def _overall_expired(self, where: str) -> HttpError:
        return HttpError(
            f"Stopped at the deadline ({self.deadline.seconds:g}s) during {where}",
            transient=True,
            expired=OVERALL,
        )

    def attempt(self, method: str, url: str, headers: dict[str, str], data) -> bytes:
        """One request within its deadline (the request's, or what is left of the overall one):
        the body, or StatusAnswer / httpx.HTTPError / an internal error for `request_json`'s loop.
        A subclass may override it to handle a status itself."""
        seconds, which = self.request_deadline, REQUEST
        if self.deadline is not None and self.deadline.remaining() < seconds:
            seconds, which = self.deadline.remaining(), OVERALL
        if seconds <= 0:
            raise _Expired(which)
        self.expired.clear()
        watchdog = threading.Timer(seconds, self._expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            body = self._follow(method, url, headers, data)
        except (StatusAnswer, _TooLarge):
            raise
        except Exception:
            if self.expired.is_set():
                raise _Expired(which) from None
            raise
        finally:
            watchdog.cancel()
        if self.expired.is_set():  # a body without a length, cut short by the watchdog
            raise _Expired(which)
        return body

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
                # Credentials travel with the request, so they must not follow it elsewhere
                # (nor from https to http on the same host).
                if not location or urlsplit(following)[:2] != origin:
                    raise StatusAnswer(
                        response.status_code,
                        response.headers,
                        b"",
                        f"redirect to {without_query(following)} refused: only the same scheme "
                        "and host are followed",
                    )
                url = following
            finally:
                response.close()
        raise StatusAnswer(response.status_code, response.headers, b"", "too many redirects")

    def _read(self, response: httpx.Response) -> bytes:
        """The decoded body, refused as soon as it passes the cap (also when gzip inflates it)."""
        error = response.status_code >= 300
        cap = ERROR_BODY_BYTES if error else self.max_body_bytes
        if not error and int(response.headers.get("Content-Length") or 0) > cap:
            raise _TooLarge
        body = bytearray()
        try:
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > cap:
                    if error:
                        break
                    raise _TooLarge
        except httpx.DecodingError as exc:
            if error:  # the status says more than its garbled body would
                raise StatusAnswer(response.status_code, response.headers, b"") from None
            encoding = response.headers.get("Content-Encoding") or "compressed"
            raise _Malformed(encoding) from exc
        if error:
            raise StatusAnswer(response.status_code, response.headers, bytes(body[:cap]))
        return bytes(body)
