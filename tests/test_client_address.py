import pytest
from django.test import RequestFactory

from mapping_portal.lib.client_address import client_address


def _request(remote="10.0.0.9", forwarded=None):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


def test_without_trusted_proxies_the_forwarded_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = 0
    assert client_address(_request(forwarded="203.0.113.7")) == "10.0.0.9"


def test_behind_one_proxy_the_address_it_appended_counts_not_what_the_client_wrote(settings):
    settings.TRUSTED_PROXIES = 1
    request = _request(forwarded="1.2.3.4, 198.51.100.20")
    assert client_address(request) == "198.51.100.20"


@pytest.mark.parametrize("forwarded", [None, ""])
def test_a_missing_forwarded_header_falls_back_to_the_peer(settings, forwarded):
    settings.TRUSTED_PROXIES = 1
    assert client_address(_request(forwarded=forwarded)) == "10.0.0.9"


def test_env_int_refuses_a_value_out_of_range(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from mapping_portal.lib.env import env_int

    monkeypatch.setenv("TRUSTED_PROXIES", "9")
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES"):
        env_int("TRUSTED_PROXIES", 0, maximum=5)
