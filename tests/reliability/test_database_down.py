"""The database stops answering while the API serves: every request gets a JSON 503 with Retry-After and no
detail of the failure, nothing half-done is kept, and the next request after the database is back succeeds.

Driven through the whole request path (Django's test client: middleware, authentication, the view, the
exception handler). See ``tests/reliability/faults.py`` for how the database is broken."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chalkboard.earnings.models import EarningEntry
from chalkboard.scheduling.models import Session, SessionStatus
from tests import factories as f
from tests.conftest import client_for
from tests.reliability.faults import REFUSED, database_down

pytestmark = pytest.mark.django_db(transaction=True)

UNAVAILABLE = {"status": 503, "code": "unavailable", "message": "The service is briefly unavailable."}


def assert_unavailable(response):
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "5"
    assert response.json() == UNAVAILABLE
    text = response.content.decode()
    for detail in ("Traceback", "OperationalError", "10.9.8.7", "password", "server closed"):
        assert detail not in text


def test_reads_answer_503_while_the_database_is_down_and_recover_after(world):
    client = client_for(world.teacher.user)
    paths = ["/api/me/", "/api/sessions/", f"/api/teachers/{world.teacher.pk}/dashboard/", "/api/assessments/"]
    assert all(client.get(path).status_code == 200 for path in paths)

    with database_down():
        for path in paths:
            assert_unavailable(client.get(path))

    assert [client.get(path).status_code for path in paths] == [200, 200, 200, 200]


def test_a_login_while_the_database_is_down_is_a_503_then_works(api_client):
    user = f.UserFactory()
    credentials = {"email": user.email, "password": f.PASSWORD}
    with database_down():
        assert_unavailable(api_client.post("/api/auth/token/", credentials, format="json"))
    assert api_client.post("/api/auth/token/", credentials, format="json").status_code == 200


def test_a_connection_lost_at_any_point_of_a_completion_changes_nothing_and_the_retry_completes(world):
    """The connection drops after 0, 1, 2, ... statements of the request, until the request gets through:
    every earlier attempt answers 503 and leaves the session scheduled, without an earning."""
    started = f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=1))
    client = client_for(world.teacher.user)
    body = {"attendance": [{"student_id": world.student.pk, "status": "present"}], "actual_duration_minutes": 50}
    url = f"/api/sessions/{started.pk}/complete/"
    key = {"HTTP_IDEMPOTENCY_KEY": "complete-once"}

    refused = 0
    for budget in range(100):
        with database_down(after_statements=budget):
            response = client.post(url, body, format="json", **key)
        if response.status_code == 200:
            break
        assert_unavailable(response)
        refused += 1
        started.refresh_from_db()
        assert started.status == SessionStatus.SCHEDULED, budget
        assert not EarningEntry.objects.filter(session=started).exists(), budget
    else:
        pytest.fail("the completion never got through")

    assert refused > 10  # authentication, the lock, attendance, the earning, the idempotency record, ...
    assert response.json()["status"] == "completed"
    assert EarningEntry.objects.filter(session=started).count() == 1
    replayed = client.post(url, body, format="json", **key)
    assert replayed.status_code == 200
    assert replayed["Idempotent-Replayed"] == "true"
    assert Session.objects.get(pk=started.pk).status == SessionStatus.COMPLETED
    assert EarningEntry.objects.filter(session=started).count() == 1


def test_readiness_reports_the_database_down_and_liveness_stays_up(client):
    with database_down():
        ready = client.get("/readyz")
        alive = client.get("/healthz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "checks": {"database": "down", "cache": "ok"}}
    assert alive.status_code == 200
    assert client.get("/readyz").json()["status"] == "ok"


def test_the_failure_is_logged_without_its_details(world, caplog):
    client = client_for(world.teacher.user)
    with database_down(), caplog.at_level("DEBUG"):
        assert_unavailable(client.get("/api/me/"))
    assert "database unavailable: OperationalError" in caplog.text
    assert REFUSED not in caplog.text
    assert "10.9.8.7" not in caplog.text
    assert not any(record.exc_info for record in caplog.records)
