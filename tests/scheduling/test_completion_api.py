from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chalkboard.activity.models import ActivityLog
from chalkboard.common.errors import NotFound
from chalkboard.completion import services as completion
from chalkboard.earnings.models import EarningEntry
from chalkboard.people.models import TeacherRate
from chalkboard.realtime.models import Event
from chalkboard.scheduling.models import Session, SessionNote, SessionStudent
from chalkboard.scheduling.selectors import session_ref_for_manager
from chalkboard.schools.access import Viewer
from chalkboard.schools.models import Role
from tests import factories as f
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 31, 19, 0, tzinfo=UTC)
STARTED = NOW - timedelta(hours=2)
ITEM_KEYS = {
    "id",
    "school_id",
    "teacher",
    "subject",
    "starts_at",
    "ends_at",
    "planned_duration_minutes",
    "status",
    "location",
    "students",
    "completed_at",
    "actual_duration_minutes",
    "version",
}


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def session(world):
    """A session of the world's teacher that started two hours ago and is waiting to be completed."""
    return f.session_for(world.teacher, world.student, starts_at=STARTED, location="Room 2")


def url(session):
    return f"/api/sessions/{session.pk}/complete/"


def no_show_url(session):
    return f"/api/sessions/{session.pk}/no-show/"


def body_for(session, *, status="present", minutes=47, notes=()):
    seats = SessionStudent.objects.filter(session=session).order_by("id")
    return {
        "attendance": [{"student_id": seat.student_id, "status": status} for seat in seats],
        "actual_duration_minutes": minutes,
        "notes": list(notes),
    }


def unchanged(session):
    """The session is still scheduled and nothing of a completion was written."""
    fresh = Session.objects.get(pk=session.pk)
    return (
        fresh.status == "scheduled"
        and fresh.version == 1
        and fresh.completed_at is None
        and not EarningEntry.objects.filter(session=session).exists()
        and not SessionStudent.objects.filter(session=session).exclude(attendance="").exists()
        and not Event.objects.exists()
        and not ActivityLog.objects.filter(object_type="session", object_id=session.pk).exists()
    )


# --- Completing -------------------------------------------------------------------------------------------


def test_the_teacher_completes_a_session(world, session):
    notes = [{"visibility": "shared", "text": "Fractions."}, {"visibility": "staff", "text": "Tired today."}]

    response = client_for(world.teacher.user).post(url(session), body_for(session, notes=notes), format="json")

    assert response.status_code == 200
    body = response.json()
    entry = EarningEntry.objects.get()
    assert body == {
        "id": session.pk,
        "school_id": world.school.pk,
        "teacher": {"id": world.teacher.pk, "name": world.teacher.user.full_name},
        "subject": {"id": session.subject_id, "name": session.subject.name},
        "starts_at": "2026-03-31T17:00:00Z",
        "ends_at": "2026-03-31T18:00:00Z",
        "planned_duration_minutes": 60,
        "status": "completed",
        "location": "Room 2",
        "students": [{"id": world.student.pk, "name": world.student.user.full_name, "attendance": "present"}],
        "completed_at": "2026-03-31T19:00:00Z",
        "actual_duration_minutes": 47,
        "version": 2,
        # the factory's default rate is 30.00 an hour: 30.00 * 47 / 60 = 23.50
        "earning": {
            "id": entry.pk,
            "amount": "23.50",
            "currency": "EUR",
            "status": "pending",
            "kind": "session",
            "hold_reason": "",
            "adjustments": [],
        },
    }
    session.refresh_from_db()
    assert session.completed_by == world.teacher.user
    assert (entry.kind, entry.teacher_id, entry.school_id, entry.minutes) == (
        "session",
        world.teacher.pk,
        world.school.pk,
        47,
    )
    assert (entry.hourly_rate, entry.amount, entry.earned_at) == (Decimal("30.00"), Decimal("23.50"), STARTED)
    written = SessionNote.objects.filter(session=session).order_by("id")
    assert [(n.visibility, n.text, n.author_id) for n in written] == [
        ("shared", "Fractions.", world.teacher.pk),
        ("staff", "Tired today.", world.teacher.pk),
    ]
    log = ActivityLog.objects.get(verb="session.completed")
    assert (log.actor_id, log.object_id, log.school_id, log.teacher_id) == (
        world.teacher.pk,
        session.pk,
        world.school.pk,
        world.teacher.pk,
    )
    assert log.data["earning_entry_ids"] == [entry.pk]


def test_completion_emits_session_completed_and_earnings_updated(world, session):
    response = client_for(world.teacher.user).post(url(session), body_for(session), format="json")
    body = response.json()

    completed, earnings = Event.objects.order_by("id")
    assert (completed.type, completed.school_id, completed.teacher_id) == (
        "session.completed",
        world.school.pk,
        world.teacher.pk,
    )
    assert completed.data == {"session": {k: v for k, v in body.items() if k != "earning"}, "earning": body["earning"]}
    assert set(completed.data["session"]) == ITEM_KEYS
    assert (earnings.type, earnings.teacher_id) == ("earnings.updated", world.teacher.pk)
    assert earnings.data == {
        "teacher_id": world.teacher.pk,
        "school_id": world.school.pk,
        "entry_ids": [body["earning"]["id"]],
    }


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_the_schools_staff_may_complete_any_session_and_write_admin_notes(world, session, role):
    user = world.user(role)
    notes = [{"visibility": "admin", "text": "Parent asked about fees."}]

    response = client_for(user).post(url(session), body_for(session, notes=notes), format="json")

    assert response.status_code == 200
    session.refresh_from_db()
    assert session.completed_by == user
    note = SessionNote.objects.get(session=session, visibility="admin")
    assert note.author == user
    # the earning is the session's teacher's, whoever completed it
    assert EarningEntry.objects.get().teacher_id == world.teacher.pk


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("other_teacher", 404),
        ("student", 403),
        ("guardian", 403),
        ("other_student", 404),
        ("other_guardian", 404),
    ],
)
def test_who_may_not_complete(world, session, role, status):
    response = client_for(world.user(role)).post(url(session), body_for(session), format="json")

    assert response.status_code == status
    assert response.json()["code"] == {403: "forbidden", 404: "not_found"}[status]
    assert unchanged(session)


@pytest.mark.parametrize("role", ["owner", "admin", "teacher", "other_teacher", "student", "guardian"])
def test_another_school_cannot_even_see_the_session(world, other_world, session, role):
    client = client_for(other_world.user(role))

    assert client.post(url(session), body_for(session), format="json").status_code == 404
    assert client.put(url(session), {"actual_duration_minutes": 30}, format="json").status_code == 404
    assert client.post(no_show_url(session), {}, format="json").status_code == 404
    assert unchanged(session)


def test_anonymous_gets_401(api_client, session):
    assert api_client.post(url(session), body_for(session), format="json").status_code == 401
    assert api_client.put(url(session), {}, format="json").status_code == 401
    assert api_client.post(no_show_url(session), {}, format="json").status_code == 401
    assert unchanged(session)


def test_unknown_and_huge_session_ids_are_404(world):
    client = client_for(world.owner)
    assert client.post("/api/sessions/999999/complete/", {}, format="json").status_code == 404
    assert client.post("/api/sessions/99999999999999999999999/complete/", {}, format="json").status_code == 404


def test_a_teacher_may_not_write_admin_notes(world, session):
    notes = [{"visibility": "admin", "text": "Only for the owners."}]

    response = client_for(world.teacher.user).post(url(session), body_for(session, notes=notes), format="json")

    assert response.status_code == 403
    assert response.json() == {
        "status": 403,
        "code": "note_level_forbidden",
        "message": "Only the school's owners and admins may write admin notes.",
    }
    assert unchanged(session)


def test_a_teacher_who_is_also_admin_may_write_admin_notes(world, session):
    f.member(school=world.school, role=Role.ADMIN, user=world.teacher.user)
    notes = [{"visibility": "admin", "text": "Only for the owners."}]

    response = client_for(world.teacher.user).post(url(session), body_for(session, notes=notes), format="json")

    assert response.status_code == 200
    note = SessionNote.objects.get(session=session)
    assert (note.visibility, note.text, note.author) == ("admin", "Only for the owners.", world.teacher.user)
    assert Session.objects.get(pk=session.pk).status == "completed"


@pytest.mark.parametrize(
    ("setup", "code", "message"),
    [
        ({"starts_at": NOW + timedelta(minutes=1)}, "session_not_started", "The session has not started yet."),
        ({"status": "cancelled"}, "session_cancelled", "The session was cancelled."),
        (
            {"status": "no_show", "completed_at": NOW},
            "session_no_show",
            "The session is already marked as a no-show.",
        ),
    ],
)
def test_a_session_that_cannot_be_completed_answers_409(world, session, setup, code, message):
    Session.objects.filter(pk=session.pk).update(**setup)

    response = client_for(world.teacher.user).post(url(session), body_for(session), format="json")

    assert response.status_code == 409
    assert response.json() == {"status": 409, "code": code, "message": message}
    assert not EarningEntry.objects.exists()
    assert not Event.objects.exists()


def test_a_session_starting_right_now_can_be_completed(world):
    session = f.session_for(world.teacher, world.student, starts_at=NOW)

    response = client_for(world.teacher.user).post(url(session), body_for(session), format="json")

    assert response.status_code == 200
    session.refresh_from_db()
    assert (session.status, session.completed_at, session.actual_duration_minutes) == ("completed", NOW, 47)
    assert EarningEntry.objects.get(session=session).minutes == 47


def test_completing_twice_answers_409_and_pays_once(world, session):
    client = client_for(world.teacher.user)
    assert client.post(url(session), body_for(session), format="json").status_code == 200

    again = client.post(url(session), body_for(session, minutes=60), format="json")

    assert again.status_code == 409
    assert again.json()["code"] == "session_completed"
    assert EarningEntry.objects.count() == 1
    assert Session.objects.get(pk=session.pk).actual_duration_minutes == 47


def test_a_teacher_without_a_rate_cannot_complete_and_nothing_is_written(world, session):
    TeacherRate.objects.filter(teacher=world.teacher).delete()
    notes = [{"visibility": "shared", "text": "Kept?"}]

    response = client_for(world.teacher.user).post(url(session), body_for(session, notes=notes), format="json")

    assert response.status_code == 409
    assert response.json() == {
        "status": 409,
        "code": "no_rate",
        "message": "The teacher has no hourly rate in this school.",
    }
    assert unchanged(session)
    assert SessionNote.objects.filter(session=session).count() == 0


def test_an_entry_already_in_the_ledger_is_a_409_never_a_500(world, session):
    """The unique constraint backs the session lock: a stray entry for the session refuses a second one."""
    EarningEntry.objects.create(
        school=world.school,
        teacher=world.teacher,
        session=session,
        amount=Decimal("1.00"),
        currency="EUR",
        minutes=2,
        hourly_rate=Decimal("30.00"),
        earned_at=STARTED,
    )

    response = client_for(world.teacher.user).post(url(session), body_for(session), format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "earning_exists"
    assert EarningEntry.objects.count() == 1
    assert Session.objects.get(pk=session.pk).status == "scheduled"
    assert not Event.objects.exists()


def test_a_group_session_pays_the_group_rate(world):
    second = f.student_in(world.school)
    session = f.session_for(world.teacher, world.student, second, starts_at=STARTED)
    TeacherRate.objects.create(teacher=world.teacher, school=world.school, is_group=True, hourly_rate="45.00")

    body = client_for(world.teacher.user).post(url(session), body_for(session, minutes=60), format="json").json()

    assert body["earning"]["amount"] == "45.00"
    assert [s["attendance"] for s in body["students"]] == ["present", "present"]


def test_attendance_is_stored_per_student(world):
    second = f.student_in(world.school)
    session = f.session_for(world.teacher, world.student, second, starts_at=STARTED)
    attendance = [{"student_id": second.pk, "status": "late"}, {"student_id": world.student.pk, "status": "absent"}]

    response = client_for(world.teacher.user).post(
        url(session), {"attendance": attendance, "actual_duration_minutes": 60}, format="json"
    )

    assert response.status_code == 200
    stored = dict(SessionStudent.objects.filter(session=session).values_list("student_id", "attendance"))
    assert stored == {world.student.pk: "absent", second.pk: "late"}


def _attendance(*pairs):
    return [{"student_id": student_id, "status": status} for student_id, status in pairs]


@pytest.mark.parametrize(
    ("make_body", "field"),
    [
        (lambda s, w: {"actual_duration_minutes": 47}, "attendance"),
        (lambda s, w: {"attendance": [], "actual_duration_minutes": 47}, "attendance"),
        (lambda s, w: {"attendance": "present", "actual_duration_minutes": 47}, "attendance"),
        (
            lambda s, w: {"attendance": _attendance((w.other_student.pk, "present")), "actual_duration_minutes": 47},
            "attendance",
        ),
        (
            lambda s, w: {
                "attendance": _attendance((w.student.pk, "present"), (w.other_student.pk, "present")),
                "actual_duration_minutes": 47,
            },
            "attendance",
        ),
        (
            lambda s, w: {
                "attendance": _attendance((w.student.pk, "present"), (w.student.pk, "late")),
                "actual_duration_minutes": 47,
            },
            "attendance",
        ),
        (lambda s, w: {"attendance": _attendance((999999, "present")), "actual_duration_minutes": 47}, "attendance"),
        (lambda s, w: {"attendance": _attendance((2**70, "present")), "actual_duration_minutes": 47}, "attendance"),
        (lambda s, w: {"attendance": _attendance(("abc", "present")), "actual_duration_minutes": 47}, "attendance"),
        (
            lambda s, w: {"attendance": _attendance((w.student.pk, "asleep")), "actual_duration_minutes": 47},
            "attendance",
        ),
        (lambda s, w: {"attendance": _attendance((w.student.pk, "present"))}, "actual_duration_minutes"),
        (
            lambda s, w: {"attendance": _attendance((w.student.pk, "present")), "actual_duration_minutes": 0},
            "actual_duration_minutes",
        ),
        (
            lambda s, w: {"attendance": _attendance((w.student.pk, "present")), "actual_duration_minutes": 721},
            "actual_duration_minutes",
        ),
        (
            lambda s, w: {"attendance": _attendance((w.student.pk, "present")), "actual_duration_minutes": "long"},
            "actual_duration_minutes",
        ),
        (
            lambda s, w: {"attendance": _attendance((w.student.pk, "present")), "actual_duration_minutes": 2**70},
            "actual_duration_minutes",
        ),
        (
            lambda s, w: {
                "attendance": _attendance((w.student.pk, "present")),
                "actual_duration_minutes": 47,
                "notes": [{"visibility": "shared", "text": ""}],
            },
            "notes",
        ),
        (
            lambda s, w: {
                "attendance": _attendance((w.student.pk, "present")),
                "actual_duration_minutes": 47,
                "notes": [{"visibility": "shared", "text": "x" * 10_001}],
            },
            "notes",
        ),
        (
            lambda s, w: {
                "attendance": _attendance((w.student.pk, "present")),
                "actual_duration_minutes": 47,
                "notes": [{"visibility": "secret", "text": "Hello"}],
            },
            "notes",
        ),
        (
            lambda s, w: {
                "attendance": _attendance((w.student.pk, "present")),
                "actual_duration_minutes": 47,
                "notes": "Hello",
            },
            "notes",
        ),
    ],
)
def test_invalid_input_is_a_400_naming_the_field(world, session, make_body, field):
    response = client_for(world.teacher.user).post(url(session), make_body(session, world), format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400
    assert field in body["fields"]
    assert unchanged(session)


def test_limits_are_inclusive(world, session):
    note = {"visibility": "shared", "text": "x" * 10_000}

    response = client_for(world.teacher.user).post(
        url(session), body_for(session, minutes=720, notes=[note]), format="json"
    )

    assert response.status_code == 200
    assert response.json()["actual_duration_minutes"] == 720
    assert Session.objects.get(pk=session.pk).actual_duration_minutes == 720
    assert SessionNote.objects.get(session=session).text == "x" * 10_000


@pytest.mark.parametrize("payload", [[1, 2], "text", None])
def test_a_body_that_is_not_an_object_is_a_400(world, session, payload):
    response = client_for(world.teacher.user).post(url(session), payload, format="json")

    assert response.status_code == 400
    assert unchanged(session)


def test_malformed_json_is_a_400(world, session):
    response = client_for(world.teacher.user).post(url(session), "{not json", content_type="application/json")

    assert response.status_code == 400
    assert unchanged(session)


# --- Amending ------------------------------------------------------------------------------------------------


def complete(world, session, *, minutes=47):
    response = client_for(world.teacher.user).post(url(session), body_for(session, minutes=minutes), format="json")
    assert response.status_code == 200
    return EarningEntry.objects.get(session=session)


def test_amending_a_pending_earning_recomputes_it_in_place(world, session):
    entry = complete(world, session)
    Event.objects.all().delete()

    response = client_for(world.teacher.user).put(url(session), {"actual_duration_minutes": 60}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["actual_duration_minutes"], body["version"], body["status"]) == (60, 3, "completed")
    assert body["earning"] == {
        "id": entry.pk,
        "amount": "30.00",
        "currency": "EUR",
        "status": "pending",
        "kind": "session",
        "hold_reason": "",
        "adjustments": [],
    }
    assert EarningEntry.objects.count() == 1
    entry.refresh_from_db()
    assert (entry.amount, entry.minutes) == (Decimal("30.00"), 60)
    updated, earnings = Event.objects.order_by("id")
    assert updated.type == "session.updated"
    assert updated.data["session"]["actual_duration_minutes"] == 60
    assert (earnings.type, earnings.data["entry_ids"]) == ("earnings.updated", [entry.pk])
    assert ActivityLog.objects.filter(verb="session.amended", object_id=session.pk).count() == 1


@pytest.mark.parametrize("status", ["approved", "paid"])
def test_amending_an_approved_or_paid_earning_adds_an_adjustment(world, session, status):
    entry = complete(world, session, minutes=60)
    if status == "paid":
        payout = f_payout(world, amount="30.00")
        EarningEntry.objects.filter(pk=entry.pk).update(status="paid", payout=payout)
    else:
        EarningEntry.objects.filter(pk=entry.pk).update(status="approved")
    original = EarningEntry.objects.get(pk=entry.pk)
    client = client_for(world.owner)

    first = client.put(url(session), {"actual_duration_minutes": 47}, format="json").json()
    second = client.put(url(session), {"actual_duration_minutes": 90}, format="json").json()

    assert EarningEntry.objects.get(pk=entry.pk).__dict__ | {"_state": None} == original.__dict__ | {"_state": None}
    adjustments = list(EarningEntry.objects.filter(kind="adjustment").order_by("id"))
    # 60 min = 30.00; amended to 47 min = 23.50 (-6.50); then to 90 min = 45.00 (+21.50 on 23.50)
    assert [(a.amount, a.minutes, a.status, a.adjusts_id) for a in adjustments] == [
        (Decimal("-6.50"), -13, "pending", entry.pk),
        (Decimal("21.50"), 43, "pending", entry.pk),
    ]
    assert all(a.earned_at == NOW and a.session_id == session.pk for a in adjustments)
    assert first["earning"]["adjustments"] == [
        {"id": adjustments[0].pk, "amount": "-6.50", "status": "pending", "hold_reason": ""}
    ]
    assert second["earning"]["amount"] == "30.00"
    assert [a["amount"] for a in second["earning"]["adjustments"]] == ["-6.50", "21.50"]


def f_payout(world, *, amount):
    from chalkboard.earnings.models import Payout

    return Payout.objects.create(
        school=world.school,
        teacher=world.teacher,
        amount=Decimal(amount),
        currency="EUR",
        paid_at=NOW,
        created_by=world.owner,
    )


def test_amending_back_to_what_was_approved_adds_nothing(world, session):
    entry = complete(world, session, minutes=60)
    EarningEntry.objects.filter(pk=entry.pk).update(status="approved")
    client = client_for(world.owner)
    client.put(url(session), {"actual_duration_minutes": 30}, format="json")
    client.put(url(session), {"actual_duration_minutes": 60}, format="json")
    Event.objects.all().delete()

    response = client.put(
        url(session),
        {"actual_duration_minutes": 30, "notes": [{"visibility": "staff", "text": "Checked."}]},
        format="json",
    )

    # 60 -> 30 (-15.00), 30 -> 60 (+15.00), back to 30 (-15.00): each amendment writes its own difference
    assert response.status_code == 200
    amounts = list(EarningEntry.objects.filter(kind="adjustment").order_by("id").values_list("amount", flat=True))
    assert amounts == [Decimal("-15.00"), Decimal("15.00"), Decimal("-15.00")]
    assert sorted(event.type for event in Event.objects.all()) == ["earnings.updated", "session.updated"]


def test_amending_to_what_the_session_already_says_writes_nothing(world, session):
    entry = complete(world, session, minutes=60)
    EarningEntry.objects.filter(pk=entry.pk).update(status="approved")
    client = client_for(world.owner)
    client.put(url(session), {"actual_duration_minutes": 30}, format="json")
    Event.objects.all().delete()
    version = Session.objects.get(pk=session.pk).version

    response = client.put(url(session), {"actual_duration_minutes": 30}, format="json")

    assert response.status_code == 200
    assert response.json()["version"] == version == Session.objects.get(pk=session.pk).version
    assert response.json()["earning"]["adjustments"][0]["amount"] == "-15.00"
    assert EarningEntry.objects.filter(kind="adjustment").count() == 1
    assert not Event.objects.exists()


def test_amending_attendance_and_notes_leaves_the_earning_alone(world, session):
    entry = complete(world, session)
    Event.objects.all().delete()
    amend = {
        "attendance": [{"student_id": world.student.pk, "status": "late"}],
        "notes": [{"visibility": "staff", "text": "Arrived at 17:10."}],
    }

    response = client_for(world.teacher.user).put(url(session), amend, format="json")

    assert response.status_code == 200
    assert response.json()["students"][0]["attendance"] == "late"
    assert SessionNote.objects.filter(session=session, text="Arrived at 17:10.").exists()
    entry.refresh_from_db()
    assert (entry.amount, entry.minutes) == (Decimal("23.50"), 47)
    assert [event.type for event in Event.objects.all()] == ["session.updated"]


def test_amending_a_completed_session_without_an_entry_records_one(world, session):
    """A session completed before the ledger existed gets its entry on its first amendment."""
    Session.objects.filter(pk=session.pk).update(status="completed", completed_at=NOW, actual_duration_minutes=50)

    response = client_for(world.owner).put(url(session), {"actual_duration_minutes": 60}, format="json")

    assert response.status_code == 200
    assert response.json()["earning"]["amount"] == "30.00"
    assert EarningEntry.objects.get().kind == "session"


@pytest.mark.parametrize("status", ["scheduled", "cancelled", "no_show"])
def test_only_a_completed_session_can_be_amended(world, session, status):
    fields = {"status": status, "completed_at": NOW} if status == "no_show" else {"status": status}
    Session.objects.filter(pk=session.pk).update(**fields)

    response = client_for(world.teacher.user).put(url(session), {"actual_duration_minutes": 30}, format="json")

    assert response.status_code == 409
    assert response.json() == {
        "status": 409,
        "code": "session_not_completed",
        "message": "Only a completed session can be amended.",
    }
    session.refresh_from_db()
    assert (session.status, session.version, session.actual_duration_minutes) == (status, 1, None)
    assert not EarningEntry.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, None),
        ({"attendance": []}, "attendance"),
        ({"attendance": [{"student_id": 999999, "status": "present"}]}, "attendance"),
        ({"actual_duration_minutes": 0}, "actual_duration_minutes"),
        ({"notes": [{"visibility": "shared"}]}, "notes"),
    ],
)
def test_amend_validation(world, session, payload, field):
    complete(world, session)

    response = client_for(world.teacher.user).put(url(session), payload, format="json")

    assert response.status_code == 400
    body = response.json()
    if field is None:
        assert body["message"] == "Give at least one of attendance, actual_duration_minutes or notes."
    else:
        assert field in body["fields"]
    assert Session.objects.get(pk=session.pk).version == 2


def test_amend_permissions(world, session):
    complete(world, session)
    admin_note = {"notes": [{"visibility": "admin", "text": "Owners only."}]}

    assert (
        client_for(world.student.user).put(url(session), {"actual_duration_minutes": 30}, format="json").status_code
        == 403
    )
    assert client_for(world.other_teacher.user).put(url(session), admin_note, format="json").status_code == 404
    assert client_for(world.teacher.user).put(url(session), admin_note, format="json").status_code == 403
    assert client_for(world.admin).put(url(session), admin_note, format="json").status_code == 200
    assert Session.objects.get(pk=session.pk).version == 3
    assert Session.objects.get(pk=session.pk).actual_duration_minutes == 47
    assert list(SessionNote.objects.filter(session=session).values_list("visibility", "text", "author")) == [
        ("admin", "Owners only.", world.admin.pk)
    ]


# --- No-show ---------------------------------------------------------------------------------------------------


def test_a_billable_no_show_pays_the_planned_duration(world):
    second = f.student_in(world.school)
    session = f.session_for(world.teacher, world.student, second, starts_at=STARTED, minutes=90)

    response = client_for(world.teacher.user).post(
        no_show_url(session), {"notes": [{"visibility": "staff", "text": "Nobody came."}]}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    entry = EarningEntry.objects.get()
    assert (body["status"], body["completed_at"], body["actual_duration_minutes"], body["version"]) == (
        "no_show",
        "2026-03-31T19:00:00Z",
        None,
        2,
    )
    assert [s["attendance"] for s in body["students"]] == ["absent", "absent"]
    # 90 planned minutes at 30.00 an hour
    assert body["earning"] == {
        "id": entry.pk,
        "amount": "45.00",
        "currency": "EUR",
        "status": "pending",
        "kind": "no_show",
        "hold_reason": "",
        "adjustments": [],
    }
    assert (entry.kind, entry.minutes, entry.earned_at) == ("no_show", 90, STARTED)
    assert Session.objects.get(pk=session.pk).completed_by == world.teacher.user
    assert SessionNote.objects.get(session=session).text == "Nobody came."
    assert [(e.type, e.teacher_id) for e in Event.objects.order_by("id")] == [
        ("session.updated", world.teacher.pk),
        ("earnings.updated", world.teacher.pk),
    ]
    assert ActivityLog.objects.filter(verb="session.no_show", object_id=session.pk).exists()


def test_a_non_billable_no_show_pays_nothing(world, session):
    world.school.no_show_billable = False
    world.school.save()

    response = client_for(world.owner).post(no_show_url(session), {}, format="json")

    assert response.status_code == 200
    assert response.json()["earning"] is None
    assert response.json()["status"] == "no_show"
    assert not EarningEntry.objects.exists()
    assert [e.type for e in Event.objects.all()] == ["session.updated"]


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ({"starts_at": NOW + timedelta(hours=1)}, "session_not_started"),
        ({"status": "completed", "completed_at": NOW, "actual_duration_minutes": 60}, "session_completed"),
        ({"status": "cancelled"}, "session_cancelled"),
        ({"status": "no_show", "completed_at": NOW}, "session_no_show"),
    ],
)
def test_no_show_of_a_session_not_started_or_final_is_409(world, session, setup, code):
    Session.objects.filter(pk=session.pk).update(**setup)

    response = client_for(world.teacher.user).post(no_show_url(session), {}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == code
    assert not EarningEntry.objects.exists()
    assert Session.objects.get(pk=session.pk).status == setup.get("status", "scheduled")
    assert not SessionStudent.objects.filter(session=session).exclude(attendance="").exists()


def test_no_show_permissions_and_validation(world, session):
    assert client_for(world.student.user).post(no_show_url(session), {}, format="json").status_code == 403
    assert client_for(world.other_teacher.user).post(no_show_url(session), {}, format="json").status_code == 404
    admin_note = {"notes": [{"visibility": "admin", "text": "x"}]}
    assert client_for(world.teacher.user).post(no_show_url(session), admin_note, format="json").status_code == 403
    invalid = client_for(world.teacher.user).post(no_show_url(session), {"notes": [{"text": ""}]}, format="json")
    assert invalid.status_code == 400
    assert "notes" in invalid.json()["fields"]
    assert unchanged(session)


def test_a_completed_no_show_cannot_be_completed(world, session):
    client = client_for(world.teacher.user)
    client.post(no_show_url(session), {}, format="json")

    response = client.post(url(session), body_for(session), format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "session_no_show"
    assert EarningEntry.objects.count() == 1
    session.refresh_from_db()
    assert (session.status, session.actual_duration_minutes) == ("no_show", None)
    assert list(SessionStudent.objects.filter(session=session).values_list("attendance", flat=True)) == ["absent"]


# --- Commit and rollback ------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_committed_completion_bumps_the_pages_it_changes_and_a_refused_one_nothing(world, session):
    from chalkboard.common.cache import school_scope, student_scope, teacher_scope, versions_get

    scopes = [teacher_scope(world.teacher.pk, world.school.pk), student_scope(world.student.pk)]
    untouched = [student_scope(world.other_student.pk), teacher_scope(world.other_teacher.pk, world.school.pk)]
    before = versions_get(scopes + untouched + [school_scope(world.school.pk)])
    client = client_for(world.teacher.user)
    TeacherRate.objects.filter(teacher=world.teacher).delete()

    refused = client.post(url(session), body_for(session), format="json")

    assert refused.status_code == 409
    assert not Event.objects.exists()
    assert versions_get(before) == before

    f.teacher_in(world.school, user=world.teacher.user)  # a rate again
    assert client.post(url(session), body_for(session), format="json").status_code == 200

    after = versions_get(before)
    assert all(after[scope] > before[scope] for scope in scopes)
    assert all(after[scope] == before[scope] for scope in [*untouched, school_scope(world.school.pk)])
    assert Event.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_completion_with_a_note_costs_at_most_twelve_statements(world, session, django_assert_num_queries):
    """The token, the transaction, the session locked with its access check and rates, its seats, their
    attendance, the session, the note, the entry, the activity line, the events (one statement for both,
    marking the transaction a writer of the log on PostgreSQL), the commit; plus the viewer's roles on a
    user's first request, before they are cached."""
    client = client_for(world.teacher.user)
    later = f.session_for(world.teacher, world.student, starts_at=STARTED)
    note = [{"visibility": "shared", "text": "Fractions: exercises 3 to 7."}]
    bodies = [body_for(session, notes=note), body_for(later, notes=note)]

    with django_assert_num_queries(12, connection=None) as first:
        assert client.post(url(session), bodies[0], format="json").status_code == 200
    with django_assert_num_queries(11, connection=None) as second:
        assert client.post(url(later), bodies[1], format="json").status_code == 200

    assert [query["sql"] for query in first.captured_queries if "schools_membership" in query["sql"]]
    assert not [query["sql"] for query in second.captured_queries if "schools_membership" in query["sql"]]
    assert len([query for query in second.captured_queries if "realtime_event" in query["sql"]]) == 1
    assert (
        list(Event.objects.order_by("id").values_list("type", flat=True))
        == [
            "session.completed",
            "earnings.updated",
        ]
        * 2
    )


@pytest.mark.parametrize("session_id", [0, -1, 2**63])
def test_ids_no_session_can_have_are_not_found_before_any_query(world, session_id):
    viewer = Viewer.for_user(world.admin)
    with CaptureQueriesContext(connection) as captured:
        with pytest.raises(NotFound):
            session_ref_for_manager(viewer=viewer, session_id=session_id)
        with pytest.raises(NotFound):
            completion.session_no_show(viewer=viewer, session_id=session_id)

    assert not [query["sql"] for query in captured.captured_queries if "SELECT" in query["sql"]]


def test_a_session_the_two_checks_of_management_disagree_on_is_refused(world, session, monkeypatch):
    """The lock's own check (in its SQL) finds nothing to manage: should ``session_managed_in`` find the
    session manageable all the same, the completion is still refused."""
    monkeypatch.setattr(completion, "session_managed_in", lambda sessions, **_: sessions.get(pk=session.pk))

    with pytest.raises(NotFound):
        completion.session_complete(
            viewer=Viewer.for_user(world.other_teacher.user),
            session_id=session.pk,
            attendance=[],
            actual_duration_minutes=30,
        )
    assert unchanged(session)
