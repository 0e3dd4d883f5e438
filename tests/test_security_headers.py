"""Content-Security-Policy on every response, no inline code in any template, HSTS on https."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from tests.conftest import make_user
from tests.permission_matrix import INLINE_CODE, assert_content_security_policy

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted(
    path
    for pattern in ("templates/**/*.html", "*/templates/**/*.html")
    for path in ROOT.glob(pattern)
    if ".venv" not in path.parts
)


def test_templates_are_found():
    assert len(TEMPLATES) > 30


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_template_holds_inline_code(template):
    assert not INLINE_CODE.findall(template.read_text())


def test_policy_forbids_inline_code_and_eval():
    directives = dict(
        part.strip().split(" ", 1) for part in settings.CONTENT_SECURITY_POLICY.split(";")
    )
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert "unsafe" not in settings.CONTENT_SECURITY_POLICY
    assert directives["frame-ancestors"] == "'none'"


def test_htmx_runs_without_eval():
    base = (ROOT / "templates" / "base.html").read_text()
    assert '"allowEval": false' in base and '"includeIndicatorStyles": false' in base


@pytest.mark.parametrize(
    "path", ["/login/", "/django-admin/login/", "/qbwc/?wsdl", "/no-such-page/", "/"]
)
def test_anonymous_responses_carry_the_policy(db, path):
    assert_content_security_policy(Client().get(path))


def test_admin_pages_carry_the_policy(db):
    user = make_user("boss")
    User.objects.filter(pk=user.pk).update(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(User.objects.get(pk=user.pk))
    for path in [
        "/django-admin/",
        "/django-admin/auth/user/",
        f"/django-admin/auth/user/{user.pk}/change/",
    ]:
        response = client.get(path)
        assert response.status_code == 200
        assert response["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY


def settings_for(site_url):
    environment = {**os.environ, "DEBUG": "true", "SITE_URL": site_url}
    environment.pop("SECURE_HSTS_SECONDS", None)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='mapping_portal.settings';"
            "django.setup(); from django.conf import settings as s;"
            "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS)",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def test_hsts_is_on_when_site_url_is_https():
    assert settings_for("https://portal.example.com") == [str(365 * 24 * 3600), "False"]


def test_hsts_is_off_when_site_url_is_http():
    assert settings_for("http://127.0.0.1:8000")[0] == "0"


def test_hsts_header_is_sent_on_https_requests(db, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    response = Client().get("/login/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000"
