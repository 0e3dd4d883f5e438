"""`make demo` serves on PORT, checks the port first and points SITE_URL (the .qwc files) at it."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def dry_run(*args):
    # Run as a fresh `make`, not as a sub-make of the `make test` that may be running this suite:
    # that call's own variables (PYTEST_ARGS="-q -ra" under CI) reach it through MAKEFLAGS and
    # the environment.
    inherited = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTEST_ARGS", "PORT")
    env = {k: v for k, v in os.environ.items() if k not in inherited}
    result = subprocess.run(
        ["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, check=True, env=env
    )
    return result.stdout.splitlines()


def test_demo_port_sets_site_url_and_the_runserver_address():
    lines = dry_run("demo", "PORT=8123")
    runserver = next(line for line in lines if "runserver" in line)
    seed = next(line for line in lines if "seed_demo" in line)
    assert runserver.endswith("runserver 127.0.0.1:8123")
    assert "SITE_URL=http://127.0.0.1:8123" in runserver
    assert "SITE_URL=http://127.0.0.1:8123" in seed
    assert not any("8000" in line for line in lines)


def test_demo_checks_the_port_before_migrating_or_printing_the_url():
    lines = dry_run("demo", "PORT=8123")
    check = next(i for i, line in enumerate(lines) if "port_free.py 127.0.0.1 8123" in line)
    migrate = next(i for i, line in enumerate(lines) if "migrate" in line)
    url = next(i for i, line in enumerate(lines) if "Mapping Portal: http" in line)
    assert check < migrate < url


def test_demo_port_defaults_to_8000():
    runserver = next(line for line in dry_run("demo") if "runserver" in line)
    assert runserver.endswith("runserver 127.0.0.1:8000")


def test_busy_port_is_refused_with_a_clear_message():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "scripts/port_free.py", "127.0.0.1", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    assert result.returncode == 1
    assert re.search(rf"Port {port} on 127\.0\.0\.1 is already in use", result.stderr)
    assert "PORT=" in result.stderr


def test_free_port_passes_the_check():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "scripts/port_free.py", "127.0.0.1", str(port)], cwd=ROOT
    )
    assert result.returncode == 0


def test_make_test_prints_skip_reasons_by_default():
    pytest_line = next(line for line in dry_run("test") if "-m pytest" in line)
    assert pytest_line.rstrip().endswith("-m pytest -ra")
