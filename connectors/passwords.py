"""How a connector's QBWC password is stored and checked.

The portal generates every connector password (random, ~144 bits), so it needs no slow hasher
meant for guessable human passwords: it is stored as HMAC-SHA-256 under a server key and compared
in constant time, which costs microseconds per QBWC login instead of a PBKDF2 run. Hashes made
before this (Django's PBKDF2 `make_password`) still verify and are re-stored keyed on the next
successful login.
"""

import hmac

from django.conf import settings
from django.contrib.auth.hashers import check_password as check_legacy_hash
from django.utils.crypto import salted_hmac

PREFIX = "hmac_sha256$"
# Binds the derived key to this use, so the same SECRET_KEY signs nothing else with it.
_KEY_SALT = "connectors.WebConnector.password"


def _secrets() -> list[str]:
    """The keys a stored hash may be under: the dedicated QBWC_PASSWORD_KEY when set, else
    SECRET_KEY and then its fallbacks (so rotating SECRET_KEY the Django way keeps logins)."""
    dedicated = getattr(settings, "QBWC_PASSWORD_KEY", "")
    if dedicated:
        return [dedicated]
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def keyed_hash(raw: str, secret: str | None = None) -> str:
    """The stored form of `raw` under the current key (or `secret`)."""
    digest = salted_hmac(_KEY_SALT, raw, secret=secret or _secrets()[0], algorithm="sha256")
    return PREFIX + digest.hexdigest()


def is_keyed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def matches(raw: str, stored: str) -> tuple[bool, bool]:
    """(whether `raw` is the password `stored` holds, whether `stored` should be re-stored under
    the current key). An empty `stored` never matches."""
    if is_keyed(stored):
        keys = _secrets()
        for i, secret in enumerate(keys):
            if hmac.compare_digest(keyed_hash(raw, secret), stored):
                return True, i > 0
        return False, False
    if stored and check_legacy_hash(raw, stored):
        return True, True
    return False, False


def spend_like_a_check(raw: str) -> None:
    """The work of checking a keyed hash, for a user name that does not exist: unknown and known
    names then cost the same, so timing does not tell them apart."""
    hmac.compare_digest(keyed_hash(raw), PREFIX + "0" * 64)
