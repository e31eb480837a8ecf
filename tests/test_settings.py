"""Settings come from the environment, fail loudly on bad values, and need nothing to start."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from yesladder.env import env_bool, env_int, env_list


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | env
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=60
    )


@pytest.mark.parametrize(
    "value, expected", [("1", True), ("yes", True), ("OFF", False), ("", False)]
)
def test_env_bool(monkeypatch, value, expected):
    monkeypatch.setenv("YL_TEST_FLAG", value)
    assert env_bool("YL_TEST_FLAG") is expected


def test_bad_values_name_the_variable(monkeypatch):
    monkeypatch.setenv("YL_TEST_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="YL_TEST_FLAG='maybe' is not a boolean"):
        env_bool("YL_TEST_FLAG")
    monkeypatch.setenv("YL_TEST_N", "ten")
    with pytest.raises(ImproperlyConfigured, match="YL_TEST_N='ten' is not a whole number"):
        env_int("YL_TEST_N", 1)
    monkeypatch.setenv("YL_TEST_N", "0")
    with pytest.raises(ImproperlyConfigured, match="below the minimum of 1"):
        env_int("YL_TEST_N", 1, minimum=1)
    monkeypatch.setenv("YL_TEST_LIST", " a, b ,,c ")
    assert env_list("YL_TEST_LIST") == ["a", "b", "c"]


def test_fresh_data_directory_gets_a_private_secret_key_and_debug_off(tmp_path):
    home = tmp_path / "data"
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='yesladder.settings'; "
        "django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.EMBEDDED, s.DATABASES['default']['NAME'], len(s.SECRET_KEY))"
    )
    result = run_python(code, YESLADDER_HOME=str(home))
    assert result.returncode == 0, result.stderr
    debug, embedded, name, key_length = result.stdout.split()
    assert (debug, embedded, name) == ("False", "True", str(home / "yesladder.sqlite3"))
    assert int(key_length) >= 50
    key_file = home / "secret_key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    again = run_python(
        "import yesladder.settings as s; print(s.SECRET_KEY)", YESLADDER_HOME=str(home)
    )
    assert again.stdout.strip() == key_file.read_text().strip()


def test_bad_setting_stops_start_up_with_its_name(tmp_path):
    result = run_python(
        "import yesladder.settings", YESLADDER_HOME=str(tmp_path), YESLADDER_DEBUG="sometimes"
    )
    assert result.returncode != 0
    assert "YESLADDER_DEBUG='sometimes' is not a boolean" in result.stderr


def test_database_url_selects_postgresql(tmp_path):
    code = (
        "import yesladder.settings as s; d = s.DATABASES['default']; "
        "print(d['ENGINE'], d['HOST'], d['PORT'], d['NAME'], s.EMBEDDED)"
    )
    result = run_python(
        code, YESLADDER_HOME=str(tmp_path), DATABASE_URL="postgres://app:pw@db.internal:5433/ladder"
    )
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "db.internal",
        "5433",
        "ladder",
        "False",
    ]


@pytest.mark.django_db
def test_sqlite_connection_uses_wal_and_a_busy_timeout():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cursor.execute("PRAGMA busy_timeout").fetchone()[0] == 20_000
        assert cursor.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
