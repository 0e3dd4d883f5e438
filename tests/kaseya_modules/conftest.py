import pytest

from kaseya_modules import services
from kaseya_modules.models import SyncTrigger
from mapping_portal.celery import app as celery_app

from .factories import TOKEN, KaseyaModuleFactory


@pytest.fixture(autouse=True)
def _fast_retries(settings):
    # Same code paths, shorter waits: a test run must not sit through real backoff.
    settings.KASEYA_SOURCE_BACKOFF_SECONDS = 0.01
    settings.KASEYA_SOURCE_TIMEOUT_SECONDS = 0.5
    settings.KASEYA_SOURCE_ATTEMPTS = 3


@pytest.fixture
def celery_eager():
    """Run queued tasks in process even when REDIS_URL configures a real broker."""
    old = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = old


def org(external_id, name, parent_id=None, kind="organization", **usage):
    return {"id": external_id, "name": name, "parent_id": parent_id, "kind": kind, "usage": usage}


def page_body(pages, index):
    more = index + 1 < len(pages)
    return {"organizations": pages[index], "next_cursor": f"c{index + 1}" if more else None}


def serve_feed(httpserver, pages, *, prefix="/feed", token=TOKEN):
    """Feed v1 over real HTTP: page i (0-based) answers cursor c{i}; the first page has none."""
    httpserver.clear_all_handlers()
    for index in range(len(pages)):
        httpserver.expect_request(
            f"{prefix}/organizations",
            query_string="" if index == 0 else f"cursor=c{index}",
            headers={"Authorization": f"Bearer {token}"},
        ).respond_with_json(page_body(pages, index))


@pytest.fixture
def feed_module(db, httpserver):
    return KaseyaModuleFactory(base_url=httpserver.url_for("/feed"), icb_enabled=True)


def sync(module, trigger=SyncTrigger.MANUAL):
    module.refresh_from_db()
    return services.sync_now(module, trigger)
