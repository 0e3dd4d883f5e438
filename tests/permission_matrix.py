"""Shared by every app's permission-matrix test: anonymous → login redirect, logged in without
the permission → 403, permitted → the expected status."""

import re

from django.conf import settings
from django.urls import reverse

# What the Content-Security-Policy forbids in a page: an inline <script> (one without src=), an
# on…= event handler, an inline style= attribute, a javascript: URL, htmx's eval-based hx-on.
INLINE_CODE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|\sstyle\s*=|javascript:|\shx-on[:-]",
    re.IGNORECASE,
)


def assert_content_security_policy(response):
    assert response["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY
    if response.get("Content-Type", "").startswith("text/html"):
        found = INLINE_CODE.findall(response.content.decode())
        assert not found, f"{response.wsgi_request.path}: {found}"


def assert_login_redirect(response):
    assert response.status_code == 302, response.status_code
    assert response["Location"].startswith(reverse(settings.LOGIN_URL))


def check(client, method, url, expected, data=None, htmx=False):
    headers = {"HX-Request": "true"} if htmx else {}
    call = client.get if method == "get" else client.post
    response = call(url, data or {}, headers=headers)
    assert_content_security_policy(response)
    if expected == "login":
        assert_login_redirect(response)
    else:
        assert response.status_code == expected, (url, response.status_code)
    return response
