import pytest
from django.core.exceptions import ImproperlyConfigured

from mapping_portal.lib import env


@pytest.mark.parametrize(
    "name,value,reader",
    [
        ("DEBUG", "perhaps", lambda: env.env_bool("DEBUG", False)),
        ("DATABASE_URL", "mysql://x/y", lambda: env.database_from_url("DATABASE_URL", None)),
        ("DATABASE_URL", "postgres://host/", lambda: env.database_from_url("DATABASE_URL", None)),
        ("REDIS_URL", "http://x", lambda: env.redis_url("REDIS_URL")),
        ("TIME_ZONE", "Mars/Olympus", lambda: env.env_time_zone("TIME_ZONE", "UTC")),
        ("SITE_URL", "portal.example.com", lambda: env.env_site_url("SITE_URL", "http://x")),
        (
            "CSRF_TRUSTED_ORIGINS",
            "portal.example.com",
            lambda: env.env_url_list("CSRF_TRUSTED_ORIGINS", []),
        ),
    ],
)
def test_bad_values_stop_start_up_with_a_message_naming_the_variable(
    monkeypatch, name, value, reader
):
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=name):
        reader()


def test_postgres_url_is_parsed(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p%40ss@db.example:5433/mapping")
    db = env.database_from_url("DATABASE_URL", None)
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "u",
        "p@ss",
        "db.example",
        "5433",
        "mapping",
    )


def test_unset_database_url_means_sqlite_under_var(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    db = env.database_from_url("DATABASE_URL", tmp_path / "var" / "x.sqlite3")
    assert db["ENGINE"].endswith("sqlite3") and (tmp_path / "var").is_dir()


def test_missing_secret_key_without_debug_stops_start_up():
    import os
    import subprocess
    import sys

    environment = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']="
            "'mapping_portal.settings'; django.setup()",
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
