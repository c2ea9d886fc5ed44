from __future__ import annotations

from unittest import mock

import pytest

pytestmark = pytest.mark.django_db


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_when_everything_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}


def test_readyz_reports_a_degraded_cache(client):
    with mock.patch("chalkboard.common.health.cache.set", side_effect=ConnectionError):
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "checks": {"database": "ok", "cache": "down"}}


def test_readyz_without_a_database_is_unavailable(client):
    with mock.patch("chalkboard.common.health.connection.cursor", side_effect=ConnectionError):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "down"
