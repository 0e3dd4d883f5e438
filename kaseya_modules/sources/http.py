"""GET JSON over HTTP(S) with timeouts and retries — shared by the HTTP adapters."""

import json
import logging
import socket
import time
import urllib.error
import urllib.request
from email.utils import parsedate_to_datetime

from django.utils import timezone

from .base import SourceError, source_setting

log = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_BODY_BYTES = 64 * 1024 * 1024


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


def get_json(url: str, *, headers: dict[str, str], where: str, data: bytes | None = None):
    """The decoded JSON body of `url` (a POST when `data` is given). `where` names the page in
    every error message."""
    timeout = source_setting("KASEYA_SOURCE_TIMEOUT_SECONDS", 15.0)
    attempts = source_setting("KASEYA_SOURCE_ATTEMPTS", 4)
    request = urllib.request.Request(
        url, data=data, headers={"Accept": "application/json", **headers}
    )
    for attempt in range(attempts):
        last = attempt == attempts - 1
        retry_after = None
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                body = response.read(MAX_BODY_BYTES + 1)
            break
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise SourceError(
                    f"The module API refused the credentials (HTTP {exc.code}) on {where}: check "
                    "the token in the source settings.",
                    permanent=True,
                ) from None
            if exc.code not in RETRY_STATUSES:
                raise SourceError(f"HTTP {exc.code} on {where}.", permanent=True) from None
            problem = f"HTTP {exc.code} on {where}"
            retry_after = exc.headers.get("Retry-After")
        except TimeoutError:
            problem = f"Timed out after {timeout:g}s on {where}"
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError | socket.timeout):
                problem = f"Timed out after {timeout:g}s on {where}"
            else:
                problem = f"Could not connect for {where}: {exc.reason}"
        except (ConnectionError, OSError) as exc:
            problem = f"Connection failed on {where}: {exc}"
        if last:
            raise SourceError(f"{problem} (gave up after {attempts} attempts).")
        delay = retry_delay(attempt, retry_after)
        log.warning("%s; retrying in %.2fs", problem, delay)
        time.sleep(delay)
    if len(body) > MAX_BODY_BYTES:
        raise SourceError(f"{where} is larger than {MAX_BODY_BYTES} bytes.", permanent=True)
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"Malformed JSON on {where}: {exc}", permanent=True) from None
