"""The address of the client that sent a request: the one place that decides it, so every
throttle (web login, QBWC authenticate) counts the same client the same way."""

from django.conf import settings


def client_address(request) -> str:
    """The client's IP address. With TRUSTED_PROXIES = n (the number of reverse proxies in front
    of the portal that append to X-Forwarded-For), it is the n-th address from the right of that
    header: whatever a client writes at the left end cannot move it. With 0, REMOTE_ADDR."""
    remote = request.META.get("REMOTE_ADDR") or "unknown"
    hops = getattr(settings, "TRUSTED_PROXIES", 0)
    if not hops:
        return remote
    forwarded = [
        part.strip()
        for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if part.strip()
    ]
    if len(forwarded) < hops:
        return remote
    return forwarded[-hops][:64]
