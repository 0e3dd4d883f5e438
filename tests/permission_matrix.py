"""Shared by every app's permission-matrix test: anonymous → login redirect, logged in without
the permission → 403, permitted → the expected status."""

from django.conf import settings
from django.urls import reverse


def assert_login_redirect(response):
    assert response.status_code == 302, response.status_code
    assert response["Location"].startswith(reverse(settings.LOGIN_URL))


def check(client, method, url, expected, data=None, htmx=False):
    headers = {"HX-Request": "true"} if htmx else {}
    call = client.get if method == "get" else client.post
    response = call(url, data or {}, headers=headers)
    if expected == "login":
        assert_login_redirect(response)
    else:
        assert response.status_code == expected, (url, response.status_code)
    return response
