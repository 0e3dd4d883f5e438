"""Benchmarks write and delete many rows: each must do it in a database of its own
(bench/common.py setup_database(), or a test database it creates), never in the one DATABASE_URL
names, which may be someone's real data."""

import ast
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection

BENCH = Path(__file__).resolve().parents[1] / "bench"
# Helpers the benchmarks import, not benchmarks themselves.
NOT_BENCHMARKS = {"__init__", "__main__", "common", "qbwc_http_app", "suggestion_data"}
# bench/common.py's setup_database() and use_database(name), or a test database of its own.
OWN_DATABASE_CALLS = {"setup_database", "use_database", "create_test_db"}


def called_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


@pytest.mark.parametrize(
    "path",
    sorted(p for p in BENCH.glob("*.py") if p.stem not in NOT_BENCHMARKS),
    ids=lambda p: p.stem,
)
def test_every_benchmark_sets_up_a_database_of_its_own(path):
    calls = called_names(ast.parse(path.read_text(encoding="utf-8")))

    assert calls & OWN_DATABASE_CALLS, f"bench/{path.name} uses the configured database"


def drop_database(url: str, name: str) -> None:
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="bench.kaseya_sync measures PostgreSQL's COPY"
)
def test_the_kaseya_sync_bench_runs_in_its_own_database():
    # given: a bench database name of our own, next to the configured (perhaps empty) database
    url = os.environ["DATABASE_URL"]
    configured = urlsplit(url).path.lstrip("/")
    bench_database = f"{configured}_bench_check"
    environment = dict(os.environ, BENCH_DATABASE=bench_database, DEBUG="true")

    # when
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "bench.kaseya_sync", "--organizations", "30"]
            + ["--page-size", "10", "--repeat", "1", "--history-days", "1"],
            cwd=BENCH.parent,
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        drop_database(url, bench_database)

    # then
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "30 module organizations" in finished.stdout


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="bench.qbwc_invoices measures PostgreSQL"
)
def test_the_qbwc_invoices_bench_runs_in_its_own_database():
    # given: a bench database name of our own, never the test run's test_<name>
    url = os.environ["DATABASE_URL"]
    configured = urlsplit(url).path.lstrip("/")
    bench_database = f"{configured}_bench_invoices"
    environment = dict(os.environ, BENCH_DATABASE=bench_database, DEBUG="false", SECRET_KEY="x")

    # when a conversation sends 30 invoices, 10 a message
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "bench.qbwc_invoices", "30", "10"],
            cwd=BENCH.parent,
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        drop_database(url, bench_database)

    # then
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "30 invoices sent, 0 errors" in finished.stdout
    assert "server time per invoice" in finished.stdout
