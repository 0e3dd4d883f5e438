"""Sync now on the Autotask PSA page in a real browser: the run's row appears and updates through
htmx, against a loopback Autotask, under the Content-Security-Policy."""

import pytest
from playwright.sync_api import expect

from organizations.models import Organization
from tests.conftest import make_user
from tests.organizations.autotask_fake import company
from tests.organizations.conftest import (  # noqa: F401  (fixtures)
    autotask,
    celery_eager,
    fast_retries,
)

from .test_content_security_policy import violations
from .test_map_another_organization import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sync_now_shows_what_the_sync_changed(page, live_server, autotask, celery_eager):  # noqa: F811
    # given a configured PSA with two companies, and an admin on its page
    make_user("psaboss", perms=["organizations.configure_psa"])
    autotask.companies = [company(1, "Acme Ltd"), company(2, "Beta Inc")]
    messages = []
    page.on("console", lambda msg: messages.append(f"{msg.type}: {msg.text}"))
    log_in(page, live_server, "psaboss")
    page.goto(f"{live_server.url}/organizations/psa/")

    # when
    page.get_by_role("button", name="Sync now").click()

    # then
    status = page.locator("#psa-status")
    expect(status).to_contain_text("2 created, 0 updated, 0 deactivated, 0 unchanged")
    expect(page.locator("#messages")).to_contain_text("Organization sync queued.")
    assert Organization.objects.count() == 2
    assert not violations(messages)
