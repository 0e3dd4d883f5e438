"""Log-in throttling (web log-in and the Django admin's), on django-axes with the cache handler.

Two limits, both counted in the cache (Redis when REDIS_URL is set, so every worker sees the same
counts; the per-process cache in the demo, which runs one process):

- LOGIN_FAILURE_LIMIT failures for one user name from one address lock that pair out for
  LOGIN_LOCKOUT_MINUTES. The same user from another address is not locked out, so an attacker
  cannot lock a real admin out of the portal.
- LOGIN_ADDRESS_FAILURE_LIMIT failures from one address, whatever the user names, lock that
  address out, so one client cannot try a few passwords against every user name.

A successful log-in clears its pair's count, not the address's: otherwise an attacker with one
account of their own could reset the address limit between guesses.

The address is `mapping_portal.lib.client_address.client_address` (AXES_CLIENT_IP_CALLABLE).
"""

from axes.handlers.cache import AxesCacheHandler
from axes.helpers import get_cache_timeout, get_client_username
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render

from .client_address import client_address


def _address_key(ip_address: str) -> str:
    return f"login-failures-address:{ip_address}"


def _address(request) -> str:
    return getattr(request, "axes_ip_address", None) or client_address(request)


class LoginThrottleHandler(AxesCacheHandler):
    """Axes' cache handler (user name + address) plus a per-address limit of its own."""

    def address_failures(self, request) -> int:
        return self.cache.get(_address_key(_address(request)), default=0)

    def is_locked(self, request, credentials=None) -> bool:
        if super().is_locked(request, credentials):
            return True
        if self.address_failures(request) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
            request.login_locked_address = True
            return True
        return False

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is None or self.is_whitelisted(request, credentials):
            return
        key = _address_key(_address(request))
        timeout = get_cache_timeout(request)
        if self.cache.add(key, 1, timeout):
            failures = 1
        else:
            try:
                failures = self.cache.incr(key)
            except ValueError:  # expired between add and incr
                self.cache.add(key, 1, timeout)
                failures = 1
            self.cache.touch(key, timeout)
        if failures >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
            request.login_locked_address = True
            if not getattr(request, "axes_locked_out", False):
                request.axes_locked_out = True
                request.axes_credentials = credentials
                user_locked_out.send(
                    "axes",
                    request=request,
                    username=get_client_username(request, credentials),
                    ip_address=request.axes_ip_address,
                )

    def reset_attempts(self, *, ip_address=None, username=None, ip_or_username=False) -> int:
        count = super().reset_attempts(
            ip_address=ip_address, username=username, ip_or_username=ip_or_username
        )
        if ip_address is not None and username is None:
            count += int(bool(self.cache.delete(_address_key(ip_address))))
        return count


def lockout_message(request) -> str:
    minutes = settings.LOGIN_LOCKOUT_MINUTES
    wait = f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    if getattr(request, "login_locked_address", False):
        return f"Too many failed log-in attempts from your network address. {wait}"
    return f"Too many failed log-in attempts for this user name from your network address. {wait}"


def locked_out(request, original_response=None, credentials=None):
    """The log-in page again, with the reason log-in is refused (429 Too Many Requests)."""
    username = get_client_username(request, credentials) or ""
    return render(
        request,
        "registration/login.html",
        {
            "form": AuthenticationForm(request, initial={"username": username}),
            "lockout_message": lockout_message(request),
            "next": request.POST.get("next") or request.GET.get("next", ""),
        },
        status=429,
    )
