from __future__ import annotations

import io
import json
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from chalkboard.common import idempotency
from chalkboard.common.errors import Conflict
from chalkboard.common.idempotency import idempotency_purge, idempotent
from chalkboard.common.models import IdempotencyRecord
from chalkboard.earnings.models import EarningEntry
from chalkboard.realtime.models import Event
from chalkboard.scheduling.models import Session
from tests import factories as f
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

factory = APIRequestFactory()


class CountingView(APIView):
    """Answers what it was asked, counting its runs; ``{"fail": ...}`` makes it refuse."""

    runs = 0

    @idempotent
    def post(self, request, **kwargs):
        type(self).runs += 1
        if request.data.get("fail") == "raise":
            raise Conflict("No.")
        if request.data.get("fail") == "return":
            return Response({"detail": "no"}, status=422)
        return Response({"run": type(self).runs, "echo": request.data, "b": 1, "a": 2}, status=201)


@pytest.fixture
def call():
    CountingView.runs = 0
    view = CountingView.as_view()

    def send(user, data, *, key=None, path="/things/"):
        headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
        request = factory.post(path, data, format="json", **headers)
        force_authenticate(request, user=user)
        response = view(request)
        response.render()
        return response

    return send


def test_without_a_key_every_request_runs(call):
    user = f.UserFactory()
    call(user, {"x": 1})
    call(user, {"x": 1})

    assert CountingView.runs == 2
    assert not IdempotencyRecord.objects.exists()


def test_a_repeat_replays_the_first_answer(call):
    user = f.UserFactory()
    first = call(user, {"x": 1}, key="k-1")

    again = call(user, {"x": 1}, key="k-1")

    assert CountingView.runs == 1
    assert again.status_code == first.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    record = IdempotencyRecord.objects.get()
    assert (record.user, record.key, record.method, record.path, record.status_code) == (
        user,
        "k-1",
        "POST",
        "/things/",
        201,
    )
    assert json.loads(record.response_body) == {"run": 1, "echo": {"x": 1}, "b": 1, "a": 2}


def test_the_same_data_in_another_order_is_the_same_request(call):
    user = f.UserFactory()
    call(user, {"a": 1, "b": [1, 2]}, key="k")

    again = call(user, {"b": [1, 2], "a": 1}, key="k")

    assert again.status_code == 201
    assert CountingView.runs == 1


@pytest.mark.parametrize(("data", "path"), [({"x": 2}, "/things/"), ({"x": 1}, "/other/")])
def test_a_key_reused_for_another_request_is_a_409(call, data, path):
    user = f.UserFactory()
    call(user, {"x": 1}, key="k")

    response = call(user, data, key="k", path=path)

    assert response.status_code == 409
    assert json.loads(response.content) == {
        "status": 409,
        "code": "idempotency_key_reused",
        "message": "Idempotency-Key reused with a different request.",
    }
    assert CountingView.runs == 1


def test_keys_belong_to_their_user(call):
    call(f.UserFactory(), {"x": 1}, key="k")
    response = call(f.UserFactory(), {"x": 1}, key="k")

    assert response.status_code == 201
    assert CountingView.runs == 2
    assert IdempotencyRecord.objects.count() == 2


@pytest.mark.parametrize("fail", ["raise", "return"])
def test_a_refused_request_is_not_stored_and_its_repeat_runs_again(call, fail):
    user = f.UserFactory()
    first = call(user, {"fail": fail}, key="k")
    second = call(user, {"fail": fail}, key="k")

    assert first.status_code == second.status_code
    assert first.status_code in (409, 422)
    assert CountingView.runs == 2
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize("key", ["", "x" * 256, "clé", "tab\tkey"])
def test_an_invalid_key_is_a_400(call, key):
    response = call(f.UserFactory(), {"x": 1}, key=key)

    assert response.status_code == 400
    assert "Idempotency-Key" in json.loads(response.content)["fields"]
    assert CountingView.runs == 0


def test_the_longest_key_is_accepted(call):
    assert call(f.UserFactory(), {"x": 1}, key="k" * 255).status_code == 201


def test_answers_are_kept_for_a_day_then_the_key_is_free(call):
    user = f.UserFactory()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        call(user, {"x": 1}, key="k")
    with time_machine.travel(start + timedelta(hours=23, minutes=59), tick=False):
        assert call(user, {"x": 1}, key="k")["Idempotent-Replayed"] == "true"
    with time_machine.travel(start + timedelta(hours=24, minutes=1), tick=False):
        fresh = call(user, {"x": 2}, key="k")

    assert fresh.status_code == 201
    assert not fresh.has_header("Idempotent-Replayed")
    assert CountingView.runs == 2
    assert IdempotencyRecord.objects.get().request_hash == idempotency.request_fingerprint(mock.Mock(data={"x": 2}))


def test_purge_deletes_only_records_past_their_retention(call):
    user = f.UserFactory()
    start = timezone.now()
    with time_machine.travel(start - timedelta(hours=25), tick=False):
        call(user, {"x": 1}, key="old")
    with time_machine.travel(start - timedelta(hours=1), tick=False):
        call(user, {"x": 1}, key="recent")

    assert idempotency_purge() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["recent"]


def test_the_purge_command(call):
    user = f.UserFactory()
    with time_machine.travel(timezone.now() - timedelta(days=2), tick=False):
        call(user, {"x": 1}, key="old")
    out = io.StringIO()

    call_command("purge_idempotency_keys", stdout=out)

    assert out.getvalue().strip() == "Deleted 1 expired idempotency records."
    assert not IdempotencyRecord.objects.exists()


def test_a_duplicate_that_lost_the_race_replays_the_winner(call, monkeypatch):
    """Both saw no record; the loser's claim hits the unique key once the winner committed."""
    user = f.UserFactory()
    first = call(user, {"x": 1}, key="k")
    monkeypatch.setattr(idempotency, "_stored", lambda **kwargs: None)

    again = call(user, {"x": 1}, key="k")

    assert again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert CountingView.runs == 1


def test_a_duplicate_that_lost_the_race_with_another_body_is_a_409(call, monkeypatch):
    user = f.UserFactory()
    call(user, {"x": 1}, key="k")
    monkeypatch.setattr(idempotency, "_stored", lambda **kwargs: None)

    assert call(user, {"x": 2}, key="k").status_code == 409


# --- On the real endpoints -----------------------------------------------------------------------------------


@pytest.fixture
def started(world):
    return f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=1))


def complete_body(session, minutes=45):
    return {
        "attendance": [{"student_id": seat.student_id, "status": "present"} for seat in session.attendees.all()],
        "actual_duration_minutes": minutes,
    }


def test_completing_again_with_the_same_key_replays_instead_of_409(world, started):
    client = client_for(world.teacher.user)
    path = f"/api/sessions/{started.pk}/complete/"

    first = client.post(path, complete_body(started), format="json", HTTP_IDEMPOTENCY_KEY="done-1")
    again = client.post(path, complete_body(started), format="json", HTTP_IDEMPOTENCY_KEY="done-1")
    without_key = client.post(path, complete_body(started), format="json")

    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert without_key.status_code == 409
    assert EarningEntry.objects.count() == 1
    assert Event.objects.filter(type="session.completed").count() == 1


def test_the_same_key_on_amend_or_with_another_body_is_a_409(world, started):
    client = client_for(world.teacher.user)
    path = f"/api/sessions/{started.pk}/complete/"
    client.post(path, complete_body(started), format="json", HTTP_IDEMPOTENCY_KEY="k")

    other_body = client.post(path, complete_body(started, minutes=50), format="json", HTTP_IDEMPOTENCY_KEY="k")
    amend = client.put(path, {"actual_duration_minutes": 50}, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert other_body.status_code == amend.status_code == 409
    assert other_body.json()["code"] == amend.json()["code"] == "idempotency_key_reused"
    assert Session.objects.get(pk=started.pk).actual_duration_minutes == 45


def test_a_refused_completion_with_a_key_leaves_no_record(world, started):
    client = client_for(world.student.user)

    response = client.post(
        f"/api/sessions/{started.pk}/complete/", complete_body(started), format="json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert response.status_code == 403
    assert not IdempotencyRecord.objects.exists()
    assert not Event.objects.exists()
