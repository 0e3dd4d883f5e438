"""Failed QBWC logins, counted per client address and per (address, user name).

A QBWC user name is printed in the .qwc file, so counting failures per user name alone would let
a stranger lock the real Web Connector out. Counting per address means a stranger's guesses lock
out only the stranger's address, and the per-(address, user name) count stops one address from
walking through a single name faster than the address limit.

Each attempt reserves its place in both counts *before* the password is checked (an atomic cache
add/incr: Redis in production, locmem in the demo), so parallel guesses cannot get more checks
past the limit than it allows; a successful login gives its reservation back.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache


def _limits() -> tuple[int, int, int]:
    return (
        getattr(settings, "QBWC_AUTH_FAILURES_PER_ADDRESS", 20),
        getattr(settings, "QBWC_AUTH_FAILURES_PER_USER_ADDRESS", 5),
        getattr(settings, "QBWC_AUTH_FAILURE_WINDOW_SECONDS", 15 * 60),
    )


def _keys(address: str, username: str) -> tuple[str, str]:
    # Hashed so any string a client sends makes a valid, bounded cache key.
    by_address = hashlib.sha256(address.encode()).hexdigest()
    by_pair = hashlib.sha256(f"{address}\0{username}".encode()).hexdigest()
    return f"qbwc:auth-failures:address:{by_address}", f"qbwc:auth-failures:pair:{by_pair}"


def _reserve(key: str, window: int) -> int:
    if cache.add(key, 1, window):
        return 1
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        return 1 if cache.add(key, 1, window) else cache.incr(key)
    if count == 1:
        # The key expired between add and incr and incr made it anew, without an expiry.
        cache.touch(key, window)
    return count


class Attempt:
    """One login attempt's place in the counts: `allowed` says whether its password may be
    checked at all; call `succeeded()` when it was right."""

    def __init__(self, address: str, username: str):
        per_address, per_pair, window = _limits()
        self.address_key, self.pair_key = _keys(address, username)
        over_address = _reserve(self.address_key, window) > per_address
        over_pair = _reserve(self.pair_key, window) > per_pair
        self.allowed = not (over_address or over_pair)

    def succeeded(self) -> None:
        """The password was right: this attempt is no failure, and the address starts afresh
        with this user name."""
        try:
            cache.decr(self.address_key)
        except ValueError:  # already expired
            pass
        cache.delete(self.pair_key)
