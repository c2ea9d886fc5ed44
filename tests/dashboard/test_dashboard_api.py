from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache

from chalkboard.activity.services import activity_record
from chalkboard.dashboard import selectors
from chalkboard.earnings.models import EarningEntry, Payout
from chalkboard.people.models import TeachingAssignment
from chalkboard.progress.models import ProgressAssessment, StudentProgress
from chalkboard.realtime.models import EventType
from chalkboard.realtime.services import event_emit, school_changed
from chalkboard.scheduling.models import Session, SessionStudent
from chalkboard.schools.models import Membership, Role
from tests import factories as f
from tests.conftest import build_world, client_for

pytestmark = pytest.mark.django_db

LISBON = ZoneInfo("Europe/Lisbon")
# 2026-11-27 10:00 in Lisbon (UTC+0 in winter)
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=LISBON)
KEYS = {
    "teacher",
    "school",
    "generated_at",
    "today",
    "upcoming",
    "to_complete",
    "students",
    "recent_assessments",
    "earnings",
    "stats",
    "activity",
}


def url(teacher, school=None):
    base = f"/api/teachers/{teacher.pk}/dashboard/"
    return f"{base}?school={school.pk}" if school else base


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def at(day, hour, minute=0, zone=LISBON):
    return datetime(2026, 11, day, hour, minute, tzinfo=zone)


# Who gets which status is the permission matrix's (tests/security/matrix.py); here, what those let in see.
@pytest.mark.parametrize("role", ["owner", "admin", "teacher"])
def test_staff_and_the_teacher_see_the_whole_dashboard(world, other_world, role):
    response = client_for(world.user(role)).get(url(world.teacher))

    assert response.status_code == 200
    assert set(response.json()) == KEYS
    assert response.json()["teacher"]["id"] == world.teacher.pk


@pytest.mark.parametrize("role", ["owner", "admin", "teacher", "student", "guardian"])
def test_another_school_sees_nothing(world, other_world, role):
    client = client_for(other_world.user(role))

    assert client.get(url(world.teacher)).status_code == 404
    assert client.get(url(world.teacher, world.school)).status_code == 404


def test_unknown_teacher_and_huge_ids_are_404(world):
    client = client_for(world.owner)
    assert client.get("/api/teachers/999999/dashboard/").status_code == 404
    assert client.get("/api/teachers/99999999999999999999999/dashboard/").status_code == 404


def test_staff_of_a_school_where_the_teacher_does_not_teach_gets_404(world):
    outsider_school = f.SchoolFactory()
    owner = f.member(school=outsider_school, role=Role.OWNER)

    assert client_for(owner).get(url(world.teacher, outsider_school)).status_code == 404
    assert client_for(world.owner).get(url(world.teacher, outsider_school)).status_code == 404


@pytest.mark.parametrize("school", ["abc", "0", "-1", "1.5", "99999999999999999999999"])
def test_invalid_school_is_a_400(world, school):
    response = client_for(world.owner).get(f"{url(world.teacher)}?school={school}")

    assert response.status_code == 400
    assert "school" in response.json()["fields"]


def test_an_empty_school_is_no_school(world, clock):
    client = client_for(world.teacher.user)

    response = client.get(f"{url(world.teacher)}?school=")

    assert response.status_code == 200
    assert response.json()["school"]["id"] == world.school.pk


def test_a_cached_dashboard_of_a_school_costs_one_cache_round_trip(world, clock):
    client = client_for(world.teacher.user)
    first = client.get(url(world.teacher, world.school))
    with mock.patch.object(cache, "get_many", wraps=cache.get_many) as get_many:
        again = client.get(url(world.teacher, world.school))

    assert again.content == first.content
    # The viewer's roles and the page, with the versions of both, in one read.
    get_many.assert_called_once()
    assert f"dashboard:{world.teacher.pk}:{world.school.pk}" in get_many.call_args.args[0]


def test_a_teacher_in_two_schools_sees_one_at_a_time(world, other_world):
    f.teacher_in(other_world.school, user=world.teacher.user)
    client = client_for(world.teacher.user)

    default = client.get(url(world.teacher)).json()
    other = client.get(url(world.teacher, other_world.school)).json()

    first = min(world.school.pk, other_world.school.pk)
    assert default["school"]["id"] == first
    assert other["school"] == {
        "id": other_world.school.pk,
        "name": "Tokyo Tutors",
        "timezone": "Asia/Tokyo",
        "currency": "JPY",
    }
    # the other school's admin sees only their school's side of this teacher
    admin_view = client_for(other_world.admin).get(url(world.teacher)).json()
    assert admin_view["school"]["id"] == other_world.school.pk
    assert client_for(other_world.admin).get(url(world.teacher, world.school)).status_code == 404


def test_sessions_are_placed_by_the_schools_day(world, clock):
    teacher, student = world.teacher, world.student
    Session.objects.all().delete()
    today_early = f.session_for(teacher, student, starts_at=at(27, 0, 30))  # still today in Lisbon
    yesterday_late = f.session_for(teacher, student, starts_at=at(26, 23, 30))  # waiting to be completed
    later_today = f.session_for(teacher, student, starts_at=at(27, 18))
    next_week = f.session_for(teacher, student, starts_at=at(27, 9) + timedelta(days=7))
    too_far = f.session_for(teacher, student, starts_at=at(27, 9) + timedelta(days=8))
    f.session_for(world.other_teacher, world.other_student, starts_at=at(27, 11))  # someone else's

    body = client_for(teacher.user).get(url(teacher)).json()

    assert body["today"]["date"] == "2026-11-27"
    assert [s["id"] for s in body["today"]["sessions"]] == [today_early.pk, later_today.pk]
    assert [s["id"] for s in body["upcoming"]] == [next_week.pk]
    assert [s["id"] for s in body["to_complete"]] == [yesterday_late.pk, today_early.pk]
    assert too_far.pk not in {s["id"] for s in body["upcoming"]}
    item = body["today"]["sessions"][1]
    assert item == {
        "id": later_today.pk,
        "school_id": world.school.pk,
        "teacher": {"id": teacher.pk, "name": teacher.user.full_name},
        "completed_at": None,
        "actual_duration_minutes": None,
        "version": 1,
        "starts_at": "2026-11-27T18:00:00Z",
        "ends_at": "2026-11-27T19:00:00Z",
        "status": "scheduled",
        "planned_duration_minutes": 60,
        "location": "",
        "subject": {"id": later_today.subject_id, "name": later_today.subject.name},
        "students": [{"id": student.pk, "name": student.user.full_name, "attendance": None}],
    }


def test_sessions_list_their_students_in_booking_order_and_survive_losing_them(world, clock):
    """Students in the order they were booked; a session whose only student has left the school (their
    booking deleted with them) still shows, with no students, rather than vanishing."""
    teacher = world.teacher
    Session.objects.all().delete()
    first, second = world.student, f.student_in(world.school)
    group = f.session_for(teacher, second, starts_at=at(27, 15))
    SessionStudent.objects.create(session=group, student=first)
    emptied = f.session_for(teacher, world.student, starts_at=at(27, 17))
    SessionStudent.objects.filter(session=emptied).delete()

    today = client_for(teacher.user).get(url(teacher)).json()["today"]["sessions"]

    assert [s["id"] for s in today] == [group.pk, emptied.pk]
    assert [student["id"] for student in today[0]["students"]] == [second.pk, first.pk]
    assert today[1]["students"] == []


def test_today_follows_the_schools_time_zone_not_utc():
    world = build_world(timezone="America/Chicago")
    chicago = ZoneInfo("America/Chicago")
    # 2026-12-01 03:00 UTC is still November 30th in Chicago
    with time_machine.travel(datetime(2026, 12, 1, 3, 0, tzinfo=ZoneInfo("UTC")), tick=False):
        late = f.session_for(world.teacher, world.student, starts_at=datetime(2026, 11, 30, 23, 30, tzinfo=chicago))
        body = client_for(world.teacher.user).get(url(world.teacher)).json()

    assert body["today"]["date"] == "2026-11-30"
    assert late.pk in [s["id"] for s in body["today"]["sessions"]]


def complete(session, *, minutes=60, attendance="present", at_time=None):
    Session.objects.filter(pk=session.pk).update(
        status="completed", completed_at=at_time or session.starts_at, actual_duration_minutes=minutes
    )
    SessionStudent.objects.filter(session=session).update(attendance=attendance)


def test_students_with_progress_and_who_needs_attention(world, clock):
    teacher = world.teacher
    Session.objects.all().delete()
    steady, slipping, absent, unbooked = (world.student, *[f.student_in(world.school) for _ in range(3)])
    subject = f.SubjectFactory(school=world.school)
    for student in (steady, slipping, absent, unbooked):
        complete(f.session_for(teacher, student, subject=subject, starts_at=at(20, 10)))
    complete(f.session_for(teacher, absent, subject=subject, starts_at=at(25, 10)), attendance="absent")
    for student in (steady, slipping, absent):
        f.session_for(teacher, student, subject=subject, starts_at=at(30, 10))
    StudentProgress.objects.create(student=steady, subject=subject, percentage=Decimal("80"), trend="up")
    StudentProgress.objects.create(student=slipping, subject=subject, percentage=Decimal("40"), trend="down")
    other_subject = f.SubjectFactory(school=world.school)
    StudentProgress.objects.create(student=slipping, subject=other_subject, percentage=Decimal("61"), trend="up")

    students = client_for(teacher.user).get(url(teacher)).json()["students"]

    assert students["count"] == 4
    by_id = {row["id"]: row for row in students["results"]}
    assert by_id[steady.pk] == {
        "id": steady.pk,
        "name": steady.user.full_name,
        "last_session_at": "2026-11-20T10:00:00Z",
        "next_session_at": "2026-11-30T10:00:00Z",
        "progress_percentage": "80.00",
        "trend": "up",
        "missed_last_session": False,
        "needs_attention": False,
    }
    assert by_id[slipping.pk]["progress_percentage"] == "50.50"
    assert by_id[slipping.pk]["trend"] == "down"
    assert by_id[slipping.pk]["needs_attention"] is True
    assert by_id[absent.pk]["missed_last_session"] is True
    assert by_id[absent.pk]["needs_attention"] is True
    assert by_id[unbooked.pk]["next_session_at"] is None
    assert by_id[unbooked.pk]["trend"] is None
    assert by_id[unbooked.pk]["needs_attention"] is True
    assert world.other_student.pk not in by_id


def test_missed_last_session_is_about_the_latest_completed_or_missed_one(world, clock):
    """Missing an earlier session, then attending, is not "missed"; a later session still waiting to be
    completed, or one cancelled, does not change it; a late arrival counts as attending."""
    teacher = world.teacher
    Session.objects.all().delete()
    recovered, late, lapsed, waiting = (world.student, *[f.student_in(world.school) for _ in range(3)])
    subject = f.SubjectFactory(school=world.school)
    for student in (recovered, lapsed):
        complete(f.session_for(teacher, student, subject=subject, starts_at=at(10, 10)), attendance="absent")
    complete(f.session_for(teacher, recovered, subject=subject, starts_at=at(12, 10)))
    complete(f.session_for(teacher, late, subject=subject, starts_at=at(12, 10)), attendance="late")
    f.session_for(teacher, lapsed, subject=subject, starts_at=at(20, 10))  # past, not completed yet
    cancelled = f.session_for(teacher, lapsed, subject=subject, starts_at=at(21, 10))
    Session.objects.filter(pk=cancelled.pk).update(status="cancelled")
    f.session_for(teacher, waiting, subject=subject, starts_at=at(22, 10))
    no_show = f.session_for(teacher, late, subject=subject, starts_at=at(5, 10))
    Session.objects.filter(pk=no_show.pk).update(status="no_show", completed_at=no_show.starts_at)
    SessionStudent.objects.filter(session=no_show).update(attendance="absent")

    students = client_for(teacher.user).get(url(teacher)).json()["students"]["results"]

    missed = {row["id"]: row["missed_last_session"] for row in students}
    assert missed == {recovered.pk: False, late.pk: False, lapsed.pk: True, waiting.pk: False}
    last = {row["id"]: row["last_session_at"] for row in students}
    assert last[lapsed.pk] == "2026-11-20T10:00:00Z"  # the cancelled one never happened
    assert last[waiting.pk] == "2026-11-22T10:00:00Z"


def add_entry(world, *, amount, status="pending", earned_at, kind="session", teacher=None, **fields):
    teacher = teacher or world.teacher
    payout = None
    if status == "paid":
        payout = Payout.objects.create(
            school=world.school,
            teacher=teacher,
            amount=Decimal(amount),
            currency="EUR",
            paid_at=earned_at,
            created_by=world.owner,
        )
    origin = EarningEntry.objects.filter(teacher=teacher).first() if kind == "adjustment" else None
    return EarningEntry.objects.create(
        school=world.school,
        teacher=teacher,
        amount=Decimal(amount),
        currency="EUR",
        minutes=60,
        hourly_rate=Decimal("30"),
        earned_at=earned_at,
        status=status,
        payout=payout,
        kind=kind,
        adjusts=origin,
        **fields,
    )


def test_earnings_by_local_month_and_by_status(world, clock):
    add_entry(world, amount="30.00", earned_at=at(3, 10))
    add_entry(world, amount="45.50", status="approved", earned_at=at(27, 9))
    add_entry(world, amount="-5.25", kind="adjustment", earned_at=at(26, 9))
    add_entry(world, amount="60.00", status="paid", earned_at=datetime(2026, 10, 31, 23, 30, tzinfo=LISBON))
    add_entry(world, amount="10.00", status="paid", earned_at=datetime(2026, 9, 1, 9, tzinfo=LISBON))
    add_entry(world, amount="99.00", earned_at=at(5, 9), teacher=world.other_teacher)
    # held and rejected pay is in no month's earnings; held shows apart, rejected nowhere
    add_entry(world, amount="360.00", status="held", earned_at=at(4, 9), hold_reason="Too long.")
    add_entry(world, amount="40.00", status="rejected", earned_at=at(6, 9), hold_reason="Too long.")
    add_entry(world, amount="20.00", status="held", earned_at=datetime(1970, 1, 1, tzinfo=LISBON), hold_reason="Old.")

    earnings = client_for(world.teacher.user).get(url(world.teacher)).json()["earnings"]

    assert earnings == {
        "currency": "EUR",
        "this_month": "70.25",
        "last_month": "60.00",
        "pending": "24.75",
        "approved": "45.50",
        "paid": "70.00",
        "held": "380.00",
    }


def test_stats_of_this_local_month(world, clock):
    teacher = world.teacher
    Session.objects.all().delete()
    subject = f.SubjectFactory(school=world.school)
    pair = [world.student, f.student_in(world.school)]
    complete(f.session_for(teacher, *pair, subject=subject, starts_at=at(2, 10)), minutes=90)
    SessionStudent.objects.filter(student=pair[1]).update(attendance="absent")
    complete(f.session_for(teacher, world.student, subject=subject, starts_at=at(26, 10)), minutes=45)
    no_show = f.session_for(teacher, world.student, subject=subject, starts_at=at(20, 10))
    Session.objects.filter(pk=no_show.pk).update(status="no_show", completed_at=at(20, 11))
    SessionStudent.objects.filter(session=no_show).update(attendance="absent")
    complete(f.session_for(teacher, world.student, subject=subject, starts_at=at(27, 10) - timedelta(days=31)))
    for pct, day in (("80.00", 20), ("60.00", 21)):
        ProgressAssessment.objects.create(
            school=world.school,
            student=world.student,
            subject=subject,
            teacher=teacher,
            kind="quiz",
            score=Decimal(pct),
            max_score=Decimal("100"),
            percentage=Decimal(pct),
            assessed_at=at(day, 12),
        )
    ProgressAssessment.objects.create(
        school=world.school,
        student=world.student,
        subject=subject,
        teacher=teacher,
        kind="quiz",
        score=Decimal("10"),
        max_score=Decimal("100"),
        percentage=Decimal("10"),
        assessed_at=datetime(2026, 10, 30, tzinfo=LISBON),
    )

    body = client_for(teacher.user).get(url(teacher)).json()

    assert body["stats"] == {
        "sessions_this_month": 2,
        "hours_this_month": "2.25",
        "attendance_rate": "0.50",
        "no_shows_this_month": 1,
        "average_assessment_percentage": "70.00",
    }
    assert [a["percentage"] for a in body["recent_assessments"]] == ["60.00", "80.00", "10.00"]
    assert body["recent_assessments"][0]["student"] == {"id": world.student.pk, "name": world.student.user.full_name}


def test_empty_dashboard(clock):
    school = f.SchoolFactory()
    teacher = f.teacher_in(school)

    body = client_for(teacher.user).get(url(teacher)).json()

    assert body["students"] == {"count": 0, "results": []}
    assert body["stats"]["attendance_rate"] is None
    assert body["stats"]["average_assessment_percentage"] is None
    assert body["earnings"]["this_month"] == "0.00"
    assert body["activity"] == []


def test_activity_of_the_teacher_in_the_school(world, clock):
    activity_record(
        actor=world.admin,
        verb="session.created",
        object_type="session",
        object_id=world.session.pk,
        school_id=world.school.pk,
        teacher_id=world.teacher.pk,
    )
    activity_record(actor=None, verb="other", object_type="x", object_id=None, school_id=world.school.pk)

    activity = client_for(world.teacher.user).get(url(world.teacher)).json()["activity"]

    assert activity == [
        {
            "id": mock.ANY,
            "verb": "session.created",
            "object_type": "session",
            "object_id": world.session.pk,
            "actor": {"id": world.admin.pk, "name": world.admin.full_name},
            "created_at": "2026-11-27T10:00:00Z",
        }
    ]


def populate(world, students):
    subject = f.SubjectFactory(school=world.school)
    skill = f.SkillFactory(subject=subject)
    for n in range(students):
        student = f.student_in(world.school)
        past = f.session_for(world.teacher, student, subject=subject, starts_at=at(1 + n % 20, 10))
        complete(past)
        f.session_for(world.teacher, student, world.student, subject=subject, starts_at=at(27, 12) + timedelta(hours=n))
        f.session_for(world.teacher, student, subject=subject, starts_at=at(27, 8) - timedelta(days=1 + n % 5))
        StudentProgress.objects.create(student=student, subject=subject, percentage=Decimal("50"), trend="down")
        ProgressAssessment.objects.create(
            school=world.school,
            student=student,
            subject=subject,
            skill=skill,
            teacher=world.teacher,
            kind="quiz",
            score=Decimal("5"),
            max_score=Decimal("10"),
            percentage=Decimal("50"),
            assessed_at=at(1 + n % 20, 12),
            session=past,
        )
        add_entry(world, amount="30.00", earned_at=past.starts_at)
        activity_record(
            actor=world.admin,
            verb="x",
            object_type="session",
            object_id=past.pk,
            school_id=world.school.pk,
            teacher_id=world.teacher.pk,
        )


# authentication, the viewer's roles, then the dashboard's own queries
DASHBOARD_QUERIES = 1 + 1 + 7


@pytest.mark.parametrize("students", [3, 30])
def test_uncached_dashboard_runs_a_fixed_number_of_queries(world, clock, students, django_assert_num_queries):
    populate(world, students)
    client = client_for(world.teacher.user)

    with django_assert_num_queries(DASHBOARD_QUERIES):
        body = client.get(url(world.teacher)).json()

    assert body["students"]["count"] == students + 1


def test_a_cached_dashboard_runs_only_the_authentication_query(world, clock, django_assert_num_queries):
    populate(world, 3)
    client = client_for(world.teacher.user)
    first = client.get(url(world.teacher))

    with django_assert_num_queries(1):
        second = client.get(url(world.teacher))

    assert second.content == first.content


def test_etag_and_if_none_match(world, clock):
    client = client_for(world.teacher.user)
    first = client.get(url(world.teacher))
    etag = first["ETag"]

    assert first["Cache-Control"] == "private, no-cache"
    assert etag.startswith('W/"')
    assert client.get(url(world.teacher), HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert client.get(url(world.teacher), HTTP_IF_NONE_MATCH=etag.removeprefix("W/")).status_code == 304
    assert client.get(url(world.teacher), HTTP_IF_NONE_MATCH='"other"').status_code == 200

    school_changed(school_id=world.school.pk)
    world.student.user.full_name = "Renamed Student"
    world.student.user.save()
    changed = client.get(url(world.teacher), HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_dashboards_are_compressed_for_clients_that_accept_it(world, clock):
    populate(world, 10)
    client = client_for(world.teacher.user)

    compressed = client.get(url(world.teacher), HTTP_ACCEPT_ENCODING="deflate, gzip;q=0.9")
    plain = client.get(url(world.teacher))

    assert compressed["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in plain
    assert gzip.decompress(compressed.content) == plain.content
    assert len(compressed.content) < len(plain.content) / 3
    assert compressed["ETag"] == plain["ETag"]
    assert "Accept-Encoding" in compressed["Vary"]


def test_a_write_to_the_teachers_day_is_seen_at_once(world, clock):
    client = client_for(world.teacher.user)
    assert client.get(url(world.teacher)).json()["upcoming"][0]["status"] == "scheduled"

    Session.objects.filter(pk=world.session.pk).update(status="cancelled")
    event_emit(type=EventType.SESSION_CANCELLED, school_id=world.school.pk, teacher_id=world.teacher.pk, data={})

    assert client.get(url(world.teacher)).json()["upcoming"][0]["status"] == "cancelled"


def test_another_teachers_write_does_not_rebuild_this_dashboard(world, clock, django_assert_num_queries):
    client = client_for(world.teacher.user)
    client.get(url(world.teacher))

    event_emit(type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=world.other_teacher.pk, data={})

    with django_assert_num_queries(1):
        client.get(url(world.teacher))


def test_a_session_that_starts_moves_to_to_complete_without_any_write(world):
    Session.objects.filter(pk=world.session.pk).update(starts_at=NOW + timedelta(minutes=30))
    client = client_for(world.teacher.user)
    with time_machine.travel(NOW, tick=False):
        assert client.get(url(world.teacher)).json()["to_complete"] == []
    with time_machine.travel(NOW + timedelta(minutes=31), tick=False):
        to_complete = client.get(url(world.teacher)).json()["to_complete"]
    assert [s["id"] for s in to_complete] == [world.session.pk]


def test_revoking_the_teacher_hides_the_dashboard_at_once(world, clock):
    client = client_for(world.owner)
    assert client.get(url(world.teacher)).status_code == 200

    membership = Membership.objects.get(user=world.teacher.user, role=Role.TEACHER)
    assert client.delete(f"/api/schools/{world.school.pk}/members/{membership.pk}/").status_code == 204

    assert client.get(url(world.teacher)).status_code == 404


def test_with_the_cache_down_the_dashboard_still_answers(world, clock):
    client = client_for(world.teacher.user)
    with (
        mock.patch.object(cache, "get", side_effect=ConnectionError),
        mock.patch.object(cache, "get_many", side_effect=ConnectionError),
        mock.patch.object(cache, "add", side_effect=ConnectionError),
        mock.patch.object(cache, "set", side_effect=ConnectionError),
    ):
        response = client.get(url(world.teacher))

    assert response.status_code == 200
    assert response.json()["teacher"]["id"] == world.teacher.pk


def test_renaming_a_subject_through_the_api_is_seen_at_once(world, clock):
    teacher_client = client_for(world.teacher.user)
    before = teacher_client.get(url(world.teacher)).json()["upcoming"][0]["subject"]["name"]

    response = client_for(world.admin).patch(
        f"/api/subjects/{world.session.subject_id}/", {"name": "Advanced Algebra"}, format="json"
    )

    assert response.status_code == 200
    after = teacher_client.get(url(world.teacher)).json()["upcoming"][0]["subject"]["name"]
    assert (before, after) == (world.session.subject.name, "Advanced Algebra")


def test_students_are_the_current_ones(world, clock):
    Session.objects.all().delete()
    long_gone, current = world.other_student, world.student
    complete(f.session_for(world.teacher, long_gone, starts_at=NOW - timedelta(days=91)))
    complete(f.session_for(world.teacher, current, starts_at=NOW - timedelta(days=89)))

    students = client_for(world.teacher.user).get(url(world.teacher)).json()["students"]

    assert [row["id"] for row in students["results"]] == [current.pk]


def test_students_are_those_assigned_to_the_teacher(world, clock):
    """A student still booked into the teacher's sessions but no longer assigned to them (assigned to another
    teacher of the school instead) is not among the teacher's students; their sessions still show."""
    Session.objects.all().delete()
    kept, reassigned = world.student, world.other_student
    f.session_for(world.teacher, kept, starts_at=at(27, 15))
    session = f.session_for(world.teacher, reassigned, starts_at=at(27, 17))
    TeachingAssignment.objects.filter(teacher=world.teacher, student=reassigned).delete()
    f.assign(world.other_teacher, reassigned)

    body = client_for(world.teacher.user).get(url(world.teacher)).json()

    assert [row["id"] for row in body["students"]["results"]] == [kept.pk]
    assert session.pk in [s["id"] for s in body["today"]["sessions"]]


# --- Values read by the dashboard's SQL, as each database returns them ------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-27 10:00:00", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),  # SQLite: UTC text
        ("2026-11-27 10:00:00.250000", datetime(2026, 11, 27, 10, 0, 0, 250000, tzinfo=UTC)),
        (datetime(2026, 11, 27, 10, 0, tzinfo=UTC), datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),  # PostgreSQL
        # SQLite: a column, naive, in UTC
        (datetime(2026, 11, 27, 10, 0), datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),  # noqa: DTZ001
        (None, None),
    ],
)
def test_a_raw_timestamp_reads_alike_from_either_database(raw, expected):
    assert selectors._instant(raw) == expected


def test_a_raw_timestamp_that_is_not_one_is_an_error():
    with pytest.raises(ValueError, match="not a timestamp"):
        selectors._instant("not a time")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, "0.00"),  # a sum over no rows
        (7025, "70.25"),  # SQLite: whole cents
        (-525, "-5.25"),
        (0, "0.00"),
        (Decimal("12.50"), "12.50"),  # PostgreSQL
    ],
)
def test_a_raw_sum_of_the_ledger_reads_alike_from_either_database(raw, expected):
    assert selectors._money(selectors._amount(raw)) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, Decimal("0")),
        (0.1 + 0.2, Decimal("0.30")),  # SQLite averages percentages as floats
        (7, Decimal("7.00")),
        (Decimal("12.50"), Decimal("12.50")),  # PostgreSQL
    ],
)
def test_a_raw_percentage_reads_alike_from_either_database(raw, expected):
    assert selectors._decimal(raw).quantize(Decimal("0.01")) == expected


def test_earnings_are_exact_sums_of_float_hostile_amounts(world, clock):
    amounts = f.FLOAT_HOSTILE_AMOUNTS
    f.ledger_of(world.teacher, world.school, amounts=amounts, statuses=("pending", "approved"), earned_at=at(3, 10))
    pending, approved = amounts[0::2], amounts[1::2]
    exact = sum(amounts, Decimal(0))
    assert f.float_sum(amounts) != float(exact)  # binary floats really get these wrong
    assert f.float_sum(pending) != float(sum(pending, Decimal(0)))

    earnings = client_for(world.teacher.user).get(url(world.teacher)).json()["earnings"]

    assert earnings["this_month"] == str(exact) == "3000370371795.00"
    assert earnings["pending"] == str(sum(pending, Decimal(0))) == "1500185185897.50"
    assert earnings["approved"] == str(sum(approved, Decimal(0)))
