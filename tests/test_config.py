from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config import env

ROOT = Path(__file__).resolve().parents[1]


def test_env_helpers(monkeypatch):
    monkeypatch.setenv("X_BOOL", "Yes")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env.env_bool("X_BOOL") is True
    assert env.env_bool("X_MISSING", default=True) is True
    assert env.env_int("X_INT", 1) == 42
    assert env.env_int("X_MISSING", 7) == 7
    assert env.env_list("X_LIST", []) == ["a", "b", "c"]
    assert env.env_list("X_MISSING", ["d"]) == ["d"]
    assert env.env_str("X_MISSING", "e") == "e"


def test_secret_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-env")
    assert env.secret_key() == "from-env"


def test_secret_key_is_generated_once_and_kept_private(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setattr(env, "VAR_DIR", tmp_path / "var")

    first = env.secret_key()

    assert len(first) > 50
    assert env.secret_key() == first
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("variables", "database", "cache"),
    [
        ({}, "sqlite3", "LocMemCache"),
        ({"DATABASE_URL": "postgres://u@db:5432/cb", "REDIS_URL": "redis://cache:6379/0"}, "postgresql", "RedisCache"),
    ],
)
def test_database_and_cache_follow_the_environment(monkeypatch, variables, database, cache):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    from config.settings import base

    settings = importlib.reload(base)
    try:
        assert settings.DATABASES["default"]["ENGINE"].endswith(database)
        assert settings.CACHES["default"]["BACKEND"].endswith(cache)
        assert not hasattr(settings, "CHANNEL_LAYERS")  # the dashboards' announcements need none
        assert settings.DEBUG is False
    finally:
        monkeypatch.undo()
        importlib.reload(base)


def reload_settings_with(monkeypatch, **variables):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    from config.settings import base

    return importlib.reload(base)


def test_an_asgi_process_always_shares_a_bounded_pool(monkeypatch):
    monkeypatch.delenv("DATABASE_POOL", raising=False)
    settings = reload_settings_with(monkeypatch, DATABASE_URL="postgres://u@db:5432/cb", CHALKBOARD_ASGI="1")
    try:
        database = settings.DATABASES["default"]
        assert database["CONN_MAX_AGE"] == 0
        assert database["OPTIONS"]["pool"]["max_size"] == settings.DEFAULT_ASGI_POOL
        assert database["CONN_HEALTH_CHECKS"] is False
    finally:
        monkeypatch.undo()
        importlib.reload(settings)


def test_an_asgi_process_refuses_to_run_without_a_pool(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    try:
        with pytest.raises(ImproperlyConfigured, match="DATABASE_POOL"):
            reload_settings_with(
                monkeypatch, DATABASE_URL="postgres://u@db:5432/cb", CHALKBOARD_ASGI="1", DATABASE_POOL="0"
            )
    finally:
        monkeypatch.undo()
        from config.settings import base

        importlib.reload(base)


def test_a_wsgi_worker_keeps_one_persistent_connection(monkeypatch):
    monkeypatch.delenv("DATABASE_POOL", raising=False)
    monkeypatch.delenv("CHALKBOARD_ASGI", raising=False)
    monkeypatch.delenv("DATABASE_PREPARE_THRESHOLD", raising=False)
    settings = reload_settings_with(monkeypatch, DATABASE_URL="postgres://u@db:5432/cb")
    try:
        database = settings.DATABASES["default"]
        assert "pool" not in database["OPTIONS"]
        assert database["CONN_MAX_AGE"] == 60
        assert database["CONN_HEALTH_CHECKS"] is True
        assert (database["OPTIONS"]["server_side_binding"], database["OPTIONS"]["prepare_threshold"]) == (True, 5)
    finally:
        monkeypatch.undo()
        importlib.reload(settings)


def test_preparing_statements_can_be_turned_off_for_a_pooler_that_cannot_keep_them(monkeypatch):
    settings = reload_settings_with(
        monkeypatch, DATABASE_URL="postgres://u@db:5432/cb", DATABASE_PREPARE_THRESHOLD="off"
    )
    try:
        assert settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"] is None
    finally:
        monkeypatch.undo()
        importlib.reload(settings)


def test_asgi_processes_can_share_a_connection_pool(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db:5432/cb")
    monkeypatch.setenv("DATABASE_POOL", "8")
    from config.settings import base

    settings = importlib.reload(base)
    try:
        database = settings.DATABASES["default"]
        assert database["CONN_MAX_AGE"] == 0
        assert database["OPTIONS"]["pool"]["max_size"] == 8
    finally:
        monkeypatch.undo()
        importlib.reload(base)


@pytest.mark.parametrize(
    ("url", "worker", "expected"),
    [
        ("redis://127.0.0.1:6379/14", "gw0", "redis://127.0.0.1:6379/14"),
        ("redis://127.0.0.1:6379/14", "gw1", "redis://127.0.0.1:6379/15"),
        ("redis://127.0.0.1:6379/15", "gw1", "redis://127.0.0.1:6379/0"),
        ("redis://:secret@cache:6380", "gw3", "redis://:secret@cache:6380/3"),
    ],
)
def test_each_test_worker_has_a_redis_database_of_its_own(url, worker, expected):
    from config.settings.test import redis_url_of_worker

    assert redis_url_of_worker(url, worker) == expected


def test_production_settings_do_not_install_the_demo():
    """The seeder is for `make run`, the tests and the benchmark's database, never a production process."""
    probe = "import django; django.setup(); from django.conf import settings; print(settings.INSTALLED_APPS)"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "a-production-like-secret-key-for-this-test-only",
        "ALLOWED_HOSTS": "example.org",
    }
    production = subprocess.run(  # noqa: S603
        [sys.executable, "-c", probe], cwd=ROOT, env=environment, capture_output=True, text=True, check=True
    )
    local = subprocess.run(  # noqa: S603
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "config.settings.local"},
        capture_output=True,
        text=True,
        check=True,
    )

    assert "chalkboard.dashboard" in production.stdout
    assert "chalkboard.demo" not in production.stdout
    assert "chalkboard.demo" in local.stdout


def test_production_serves_the_pages_assets_under_hashed_names_compressed_and_cached_for_good(tmp_path):
    """As ``bin/serve-production`` runs it: collectstatic, then the app in production settings."""
    probe = (
        "import re, django; django.setup()\n"
        "from django.test import Client\n"
        "page = Client().get('/').content.decode()\n"
        "css = re.search(r'href=\"(/static/web/app\\.[0-9a-f]{12}\\.css)\"', page).group(1)\n"
        "asset = Client().get(css, HTTP_ACCEPT_ENCODING='gzip')\n"
        "print(asset.status_code, asset['Cache-Control'], asset.get('Content-Encoding'), sep='|')\n"
    )
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "a-production-like-secret-key-for-this-test-only",
        "ALLOWED_HOSTS": "testserver",
        "SECURE_SSL_REDIRECT": "0",
        "CHALKBOARD_VAR_DIR": str(tmp_path),
    }
    environment.pop("DATABASE_URL", None)
    run = {"cwd": ROOT, "env": environment, "capture_output": True, "text": True, "check": True}
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], **run)
    served = subprocess.run([sys.executable, "-c", probe], **run)  # noqa: S603

    status, cache_control, encoding = served.stdout.strip().split("|")
    assert status == "200"
    assert "immutable" in cache_control
    assert "max-age=315360000" in cache_control
    assert encoding == "gzip"


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_statement_a_connection_runs_again_and_again_is_prepared_once_and_planned_no_more():
    from django.db import connection

    from chalkboard.schools.models import School

    for _ in range(6):
        list(School.objects.filter(name="Prepared Tutors"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ["%Prepared Tutors%"])
        with_the_value = cursor.fetchall()
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ['%FROM "schools_school" WHERE "schools_school"."name" = $1%'],
        )
        (this_statement,) = cursor.fetchone()

    assert with_the_value == []  # bound by the server: the value is not in the statement's text
    assert this_statement == 1  # the filter by name, prepared once
