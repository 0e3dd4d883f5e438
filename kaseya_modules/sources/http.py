"""The module adapters' view of mapping_portal.lib.http, the one outbound HTTP client: its
tunables from the KASEYA_SOURCE_* settings, every request bound to the fetch's deadline
(MODULE_SYNC_REQUEST_DEADLINE_SECONDS each, MODULE_SYNC_DEADLINE_SECONDS in all), and its errors
as SourceError naming the page and the limit that ended the fetch."""

from mapping_portal.lib import http
from mapping_portal.lib.http import MAX_REDIRECTS, HttpError, StatusAnswer, without_query

from .base import REQUEST_DEADLINE, Deadline, SourceError, source_setting

__all__ = ["MAX_REDIRECTS", "Client", "StatusAnswer", "get_json", "retry_delay", "without_query"]

MAX_BODY_BYTES = 64 * 1024 * 1024


def retry_delay(attempt: int, retry_after: str | None) -> float:
    """lib.http's back-off with the KASEYA_SOURCE_BACKOFF_* settings."""
    return http.retry_delay(
        attempt,
        retry_after,
        base=source_setting("KASEYA_SOURCE_BACKOFF_SECONDS", 1.0),
        cap=source_setting("KASEYA_SOURCE_BACKOFF_CAP_SECONDS", 30.0),
    )


class Client(http.JsonClient):
    """One persistent client for one fetch (use as a context manager), bound to its `deadline`."""

    def __init__(self, timeout: float | None = None, deadline: Deadline | None = None):
        super().__init__(
            timeout=(
                timeout
                if timeout is not None
                else source_setting("KASEYA_SOURCE_TIMEOUT_SECONDS", 15.0)
            ),
            request_deadline=source_setting("MODULE_SYNC_REQUEST_DEADLINE_SECONDS", 120),
            deadline_setting="MODULE_SYNC_REQUEST_DEADLINE_SECONDS",
            deadline=deadline,
            max_body_bytes=MAX_BODY_BYTES,
            attempts=source_setting("KASEYA_SOURCE_ATTEMPTS", 4),
            backoff=source_setting("KASEYA_SOURCE_BACKOFF_SECONDS", 1.0),
            backoff_cap=source_setting("KASEYA_SOURCE_BACKOFF_CAP_SECONDS", 30.0),
        )


def get_json(
    url: str,
    *,
    headers: dict[str, str],
    where: str,
    data: bytes | None = None,
    client: Client | None = None,
):
    """The decoded JSON body of `url` (a form POST when `data` is given). `where` names the page
    in every error message. Pass a `client` to reuse its connections across pages."""
    if client is None:
        with Client() as own:
            return get_json(url, headers=headers, where=where, data=data, client=own)
    if data is not None:
        headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    try:
        return client.request_json(
            "GET" if data is None else "POST", url, where=where, headers=headers, data=data
        )
    except HttpError as exc:
        raise source_error(exc, where, client.deadline) from None


def source_error(exc: HttpError, where: str, deadline: Deadline | None) -> SourceError:
    """An HttpError as a module sync reports it: permanent unless trying again might work, and
    naming the limit that ended the fetch."""
    if exc.expired == http.OVERALL and deadline is not None:
        return deadline.exceeded(where)
    if exc.status in (401, 403):
        return SourceError(
            f"The module API refused the credentials (HTTP {exc.status}) on {where}: "
            "check the token in the source settings.",
            permanent=True,
        )
    return SourceError(
        f"{exc.message}.",
        permanent=not exc.transient,
        limit=REQUEST_DEADLINE if exc.expired == http.REQUEST else "",
    )
