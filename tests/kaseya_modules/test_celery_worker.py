"""The nightly fan-out on a real Celery worker, real Redis and real PostgreSQL."""

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from kaseya_modules.models import KaseyaModule, SyncRun, SyncStatus, SyncTrigger
from kaseya_modules.tasks import nightly_sync_task
from mapping_portal.celery import app as celery_app

from .conftest import org, page_body
from .factories import TOKEN, KaseyaModuleFactory

ROOT = Path(__file__).resolve().parents[2]
WORKER_START_SECONDS = 30
SYNC_SECONDS = 60


def needs_postgres_and_redis():
    missing = []
    if not settings.REDIS_URL:
        missing.append("REDIS_URL is unset")
    if connection.vendor != "postgresql":
        missing.append("the database is not PostgreSQL")
    if not missing:
        return
    reason = "real Celery worker test needs PostgreSQL and Redis: " + ", ".join(missing)
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def worker_database_url() -> str:
    db = settings.DATABASES["default"]
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or "5432"
    return f"postgres://{auth}@{host}:{port}/{quote(db['NAME'], safe='')}"


def start_worker(log_path: Path, name: str) -> subprocess.Popen:
    celery = Path(sys.executable).with_name("celery")
    env = {
        **os.environ,
        "DATABASE_URL": worker_database_url(),  # the test database, where this test's rows are
        "REDIS_URL": settings.REDIS_URL,
        "DEBUG": "true",
        "LOG_LEVEL": "INFO",
    }
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [
            str(celery),
            "-A",
            "mapping_portal",
            "worker",
            "--pool=threads",
            "--concurrency=4",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            name,
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_until(predicate, seconds: float, what: str, log_path: Path):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(
        f"Timed out waiting for {what}. Worker log:\n{log_path.read_text(errors='replace')}"
    )


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.mark.django_db(transaction=True)
def test_nightly_fanout_triggered_twice_at_once_syncs_each_enabled_module_once(httpserver):
    needs_postgres_and_redis()
    # given three enabled modules, one disabled, each with its own feed
    for code in ("alpha", "beta", "gamma", "delta"):
        pages = [
            [org(f"{code}-1", f"{code} one"), org(f"{code}-2", f"{code} 2", f"{code}-1", "site")]
        ]
        httpserver.expect_request(
            f"/{code}/organizations",
            query_string="",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ).respond_with_json(page_body(pages, 0))
    KaseyaModule.objects.update(icb_enabled=False)
    enabled = [
        KaseyaModuleFactory(
            code=f"worker_{code}", base_url=httpserver.url_for(f"/{code}"), icb_enabled=True
        )
        for code in ("alpha", "beta", "gamma")
    ]
    disabled = KaseyaModuleFactory(code="worker_delta", base_url=httpserver.url_for("/delta"))
    celery_app.control.purge()  # nothing left over from earlier runs on this Redis database

    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "worker.log"
        name = f"kaseya-test-{uuid.uuid4().hex[:8]}@%h"
        worker = start_worker(log_path, name)
        try:
            wait_until(
                lambda: worker.poll() is not None or b" ready." in log_path.read_bytes(),
                WORKER_START_SECONDS,
                "the worker to start",
                log_path,
            )
            assert worker.poll() is None, log_path.read_text(errors="replace")

            # when the nightly fan-out is triggered twice at the same moment
            barrier = threading.Barrier(2)
            results = [None, None]

            def trigger(slot):
                barrier.wait()
                results[slot] = nightly_sync_task.delay()

            threads = [threading.Thread(target=trigger, args=(i,)) for i in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=10)
            queued = [run_id for result in results for run_id in result.get(timeout=SYNC_SECONDS)]

            wait_until(
                lambda: SyncRun.objects.count() >= 3 and not SyncRun.objects.in_progress().exists(),
                SYNC_SECONDS,
                "the syncs to finish",
                log_path,
            )
        finally:
            stop_worker(worker)

    # then every enabled module was synced exactly once, the disabled one never
    assert len(queued) == len(set(queued)) == 3
    for module in enabled:
        runs = SyncRun.objects.filter(module=module)
        assert [(r.trigger, r.status) for r in runs] == [
            (SyncTrigger.NIGHTLY, SyncStatus.SUCCEEDED)
        ]
        assert module.organizations.count() == 2
    assert not SyncRun.objects.filter(module=disabled).exists()
    fetched = [request.path for request, _ in httpserver.log]
    assert sorted(fetched) == [
        "/alpha/organizations",
        "/beta/organizations",
        "/gamma/organizations",
    ]
