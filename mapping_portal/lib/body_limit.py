"""Request body limits per route, enforced before anything reads the body.

Django reads a POST body the first time something touches `request.POST` (the CSRF check does,
for every POST), and a multipart body is spooled to a temporary file as it is parsed; so without
a cap an anonymous client could make the portal write hundreds of megabytes to disk before being
told its CSRF token is wrong. `BodyLimitMiddleware`, first in MIDDLEWARE, refuses a body over its
route's limit with 413 in `process_view`, which runs after the URL is resolved and before any
other middleware's `process_view` (the CSRF check among them).

A view declares its own limit with `@max_body_bytes(...)`; every other view gets
settings.REQUEST_MAX_BODY_BYTES.
"""

import io
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpResponse

# Log-in forms carry a user name, a password and a token: a few hundred bytes.
LOGIN_MAX_BODY_BYTES = 64 * 1024

_CHUNK = 64 * 1024


def max_body_bytes(limit: int | Callable[[], int]):
    """Give a view its own body limit: a number of bytes, or a callable read on each request
    (for a limit that lives in settings)."""

    def decorate(view):
        # A wrapper, so bound methods (the admin's log-in view) can carry the limit too.
        @wraps(view)
        def limited(request, *args, **kwargs):
            return view(request, *args, **kwargs)

        limited.max_body_bytes = limit
        return limited

    return decorate


def limit_for(view_func) -> int:
    limit = getattr(view_func, "max_body_bytes", None)
    if limit is None:
        return settings.REQUEST_MAX_BODY_BYTES
    return limit() if callable(limit) else limit


def too_large(limit: int) -> HttpResponse:
    return HttpResponse(
        f"Request body too large: this address accepts at most {limit:,} bytes.\n",
        status=413,
        content_type="text/plain; charset=utf-8",
    )


class BodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        limit = limit_for(view_func)
        raw_length = request.META.get("CONTENT_LENGTH") or ""
        if raw_length.strip():
            try:
                length = int(raw_length)
            except ValueError:
                return HttpResponse(
                    "Invalid Content-Length.\n", status=400, content_type="text/plain"
                )
            return too_large(limit) if length > limit else None
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            return self._read_chunked(request, limit)
        return None

    def _read_chunked(self, request, limit):
        """A body of unknown length is read here, at most one byte past the limit, and handed on
        as an ordinary body of known length (or refused)."""
        source = request.META["wsgi.input"]
        buffer = io.BytesIO()
        while buffer.tell() <= limit:
            chunk = source.read(min(_CHUNK, limit + 1 - buffer.tell()))
            if not chunk:
                break
            buffer.write(chunk)
        if buffer.tell() > limit:
            return too_large(limit)
        size = buffer.tell()
        buffer.seek(0)
        request.META["CONTENT_LENGTH"] = str(size)
        request._stream = LimitedStream(buffer, size)
        return None
