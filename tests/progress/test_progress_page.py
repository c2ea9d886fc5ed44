from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chalkboard.common import cache as versioned_cache
from chalkboard.common.cache import student_scope, versions_bump
from chalkboard.progress.models import ProgressGoal
from chalkboard.scheduling.models import SessionStatus, SessionStudent
from tests import factories as f
from tests.conftest import build_world, client_for
from tests.progress.conftest import record, stored, user_for

pytestmark = pytest.mark.django_db


def url(student, **params):
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"/api/students/{student.pk}/progress/" + (f"?{query}" if query else "")


def page_of(user, student, **params):
    response = client_for(user).get(url(student, **params))
    assert response.status_code == 200, response.content
    return response.json()


def held(teacher, student, *, subject, attendance, status=SessionStatus.COMPLETED, days_ago=3):
    """A session that took place, with the student's attendance."""
    starts_at = timezone.now() - timedelta(days=days_ago)
    session = f.session_for(
        teacher,
        student,
        subject=subject,
        starts_at=starts_at,
        status=status,
        completed_at=starts_at + timedelta(hours=1),
        actual_duration_minutes=60 if status == SessionStatus.COMPLETED else None,
    )
    SessionStudent.objects.filter(session=session, student=student).update(attendance=attendance)
    return session


def goal(student, subject, **fields):
    defaults = {"title": "Reach 80%", "target_percentage": Decimal(80)}
    return ProgressGoal.objects.create(student=student, subject=subject, **{**defaults, **fields})


# --- Content. -----------------------------------------------------------------------------------------


def test_the_page_shows_progress_per_subject_and_skill(world):
    subject = world.session.subject
    skill = f.SkillFactory(subject=subject, name="Algebra")
    now = timezone.now()
    first = record(
        world.teacher.user, student=world.student, subject=subject, score="6", assessed_at=now - timedelta(days=2)
    )
    second = record(world.teacher.user, student=world.student, subject=subject, score="9", skill_id=skill.pk)
    target = goal(world.student, subject, skill=skill, due_date=date(2026, 6, 30))

    page = page_of(world.teacher.user, world.student)

    assert page["student"] == {
        "id": world.student.pk,
        "name": world.student.user.full_name,
        "school_id": world.school.pk,
    }
    [entry] = page["subjects"]
    assert entry["subject"] == {"id": subject.pk, "name": subject.name}
    assert entry["level"] == "proficient"
    assert entry["percentage"] == "76.67"  # (90 + 0.8 * 60) / 1.8
    assert entry["trend"] == "flat"
    assert entry["assessments_count"] == 2
    assert entry["last_assessed_at"] == second.assessed_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert entry["goals"] == [
        {
            "id": target.pk,
            "title": "Reach 80%",
            "target_percentage": "80.00",
            "due_date": "2026-06-30",
            "achieved_at": None,
            "skill_id": skill.pk,
        }
    ]
    assert entry["skills"] == [
        {
            "skill": {"id": skill.pk, "name": "Algebra"},
            "level": "proficient",
            "percentage": "90.00",
            "trend": "flat",
            "last_assessed_at": entry["last_assessed_at"],
        }
    ]
    assert [point["percentage"] for point in entry["history"]] == ["60.00", "90.00"]
    assert [item["id"] for item in page["recent_assessments"]] == [second.pk, first.pk]
    assert page["recent_assessments"][0]["skill"] == {"id": skill.pk, "name": "Algebra"}
    assert page["attendance"] == {"sessions": 0, "present": 0, "late": 0, "absent": 0, "excused": 0, "rate": None}


def test_subjects_with_only_goals_are_listed_not_started(world):
    languages = f.SubjectFactory(school=world.school, name="Aardvark studies")
    record(world.teacher.user, student=world.student, subject=world.session.subject)
    goal(world.student, languages, title="Start", target_percentage=Decimal("50.5"))

    page = page_of(world.owner, world.student)

    assert [entry["subject"]["id"] for entry in page["subjects"]] == [languages.pk, world.session.subject_id]
    empty = page["subjects"][0]
    assert empty["level"] == "not_started"
    assert empty["percentage"] is None
    assert empty["trend"] == "flat"
    assert empty["last_assessed_at"] is None
    assert empty["assessments_count"] == 0
    assert empty["history"] == []
    assert empty["skills"] == []
    assert empty["goals"][0]["target_percentage"] == "50.50"


def test_a_student_without_anything_has_an_empty_page(world):
    page = page_of(world.owner, world.other_student)

    assert page["subjects"] == []
    assert page["recent_assessments"] == []
    assert page["notes"] == []


def test_history_is_the_last_fifty_oldest_first_dated_in_the_school_time_zone(world, other_world):
    subject = world.session.subject
    start = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    for n in range(54):
        stored(world.student, subject, world.teacher, percentage=f"{n}.00", assessed_at=start + timedelta(days=n))
    record(
        world.teacher.user,
        student=world.student,
        subject=subject,
        score="1",
        max_score="1",
        assessed_at=start + timedelta(days=100),
    )
    # 23:30 UTC is already the next day in Tokyo
    late = datetime(2025, 5, 1, 23, 30, tzinfo=UTC)
    record(other_world.teacher.user, student=other_world.student, subject=other_world.session.subject, assessed_at=late)

    [entry] = page_of(world.owner, world.student)["subjects"]
    [tokyo] = page_of(other_world.owner, other_world.student)["subjects"]

    points = entry["history"]
    assert len(points) == 50
    assert points[0] == {"date": "2025-01-06", "percentage": "5.00"}
    assert points[-2] == {"date": "2025-02-23", "percentage": "53.00"}
    assert points[-1] == {"date": "2025-04-11", "percentage": "100.00"}
    assert tokyo["history"] == [{"date": "2025-05-02", "percentage": "80.00"}]


def test_recent_assessments_are_the_last_ten(world):
    subject = world.session.subject
    now = timezone.now()
    made = [
        stored(world.student, subject, world.teacher, assessed_at=now - timedelta(hours=n)).pk for n in range(1, 13)
    ]

    page = page_of(world.guardian, world.student)

    assert [item["id"] for item in page["recent_assessments"]] == made[:10]


def test_attendance_counts_the_sessions_held_or_missed(world):
    subject = world.session.subject
    held(world.teacher, world.student, subject=subject, attendance="present")
    held(world.teacher, world.student, subject=subject, attendance="present")
    held(world.other_teacher, world.student, subject=subject, attendance="late")
    held(world.teacher, world.student, subject=subject, attendance="absent", status=SessionStatus.NO_SHOW)
    held(world.teacher, world.student, subject=f.SubjectFactory(school=world.school), attendance="excused")
    held(world.teacher, world.student, subject=subject, attendance="")  # held, attendance not recorded
    held(world.teacher, world.student, subject=subject, attendance="", status=SessionStatus.CANCELLED)
    held(world.teacher, world.other_student, subject=subject, attendance="present")

    attendance = page_of(world.student.user, world.student)["attendance"]

    assert attendance == {"sessions": 6, "present": 2, "late": 1, "absent": 1, "excused": 1, "rate": "0.60"}


def test_the_subject_filter_narrows_every_part_of_the_page(world):
    maths, music = world.session.subject, f.SubjectFactory(school=world.school)
    record(world.teacher.user, student=world.student, subject=maths)
    in_music = record(world.teacher.user, student=world.student, subject=music)
    goal(world.student, maths)
    music_session = held(world.teacher, world.student, subject=music, attendance="late")
    held(world.teacher, world.student, subject=maths, attendance="absent")
    music_note = f.note_on(music_session, author=world.teacher.user, text="Rhythm")

    page = page_of(world.owner, world.student, subject_id=music.pk)

    assert [entry["subject"]["id"] for entry in page["subjects"]] == [music.pk]
    assert page["subjects"][0]["goals"] == []
    assert [item["id"] for item in page["recent_assessments"]] == [in_music.pk]
    assert page["attendance"]["sessions"] == 1
    assert page["attendance"]["rate"] == "1.00"
    assert [note["id"] for note in page["notes"]] == [music_note.pk]


def test_a_subject_filter_from_another_school_shows_nothing(world, other_world):
    record(world.teacher.user, student=world.student, subject=world.session.subject)

    page = page_of(world.owner, world.student, subject_id=other_world.session.subject_id)

    assert page["subjects"] == []
    assert page["recent_assessments"] == []
    assert page["notes"] == []


@pytest.mark.parametrize("value", ["abc", "0", str(10**30)])
def test_a_malformed_subject_filter_is_refused(world, value):
    response = client_for(world.owner).get(url(world.student, subject_id=value))

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"subject_id"}


# --- Who may see it, and which notes. ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("owner", 200),
        ("admin", 200),
        ("teacher", 200),
        ("other_teacher", 404),
        ("student", 200),
        ("other_student", 404),
        ("guardian", 200),
        ("other_guardian", 404),
        ("other_world_owner", 404),
        ("other_world_teacher", 404),
        ("anonymous", 401),
    ],
)
def test_who_may_see_a_students_progress(world, other_world, role, expected):
    record(world.teacher.user, student=world.student, subject=world.session.subject)

    response = client_for(user_for(world, other_world, role)).get(url(world.student))

    assert response.status_code == expected
    if expected == 404:
        assert response.json() == client_for(world.owner).get("/api/students/999999/progress/").json()


def test_a_huge_id_is_not_found(world):
    assert client_for(world.owner).get(f"/api/students/{10**30}/progress/").status_code == 404


@pytest.fixture
def noted(world):
    """world.session (world.teacher) has shared/staff/admin notes; another teacher's session has its own."""
    theirs = f.session_for(world.other_teacher, world.student, subject=world.session.subject)
    for visibility in ("shared", "staff", "admin"):
        f.note_on(theirs, author=world.other_teacher.user, visibility=visibility, text=f"their {visibility} note")
    f.note_on(world.other_session, author=world.other_teacher.user, visibility="shared", text="not about this student")
    return theirs


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (
            "owner",
            {"shared note", "staff note", "admin note", "their shared note", "their staff note", "their admin note"},
        ),
        (
            "admin",
            {"shared note", "staff note", "admin note", "their shared note", "their staff note", "their admin note"},
        ),
        ("teacher", {"shared note", "staff note", "their shared note"}),
        ("student", {"shared note", "their shared note"}),
        ("guardian", {"shared note", "their shared note"}),
    ],
)
def test_notes_are_those_the_caller_may_read(world, noted, role, expected):
    notes = page_of(world.user(role), world.student)["notes"]

    assert {note["text"] for note in notes} == expected


def test_a_note_shows_its_author_and_session(world):
    [note] = [n for n in page_of(world.student.user, world.student)["notes"] if n["text"] == "shared note"]

    stored_note = world.session.notes.get(text="shared note")
    assert note == {
        "id": stored_note.pk,
        "session_id": world.session.pk,
        "visibility": "shared",
        "text": "shared note",
        "author": {"id": world.teacher.user.pk, "name": world.teacher.user.full_name},
        "created_at": stored_note.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


def test_notes_are_the_twenty_newest(world):
    for n in range(25):
        f.note_on(world.session, author=world.teacher.user, text=f"note {n}")

    notes = page_of(world.owner, world.student)["notes"]

    assert len(notes) == 20
    assert notes[0]["text"] == "note 24"
    assert [note["id"] for note in notes] == sorted((note["id"] for note in notes), reverse=True)


# --- Query counts and the cache. ----------------------------------------------------------------


def populate(world, *, subjects: int, assessments: int):
    """Progress in several subjects with skills, goals, attendance and notes."""
    school_subjects = [world.session.subject] + [f.SubjectFactory(school=world.school) for _ in range(subjects - 1)]
    skills = [f.SkillFactory(subject=subject) for subject in school_subjects]
    now = timezone.now()
    for n in range(assessments):
        index = n % subjects
        record(
            world.teacher.user,
            student=world.student,
            subject=school_subjects[index],
            skill_id=skills[index].pk,
            score=str(n % 10),
            assessed_at=now - timedelta(days=n),
        )
    for subject in school_subjects:
        goal(world.student, subject)
        session = held(world.teacher, world.student, subject=subject, attendance="present")
        f.note_on(session, author=world.teacher.user, visibility="staff")


# token, roles, student; then progress rows, goals, history, recent assessments, attendance, notes
PAGE_QUERIES = 9
# token and student (who may see which page; the roles are cached); the page itself comes from the cache
CACHED_QUERIES = 2


@pytest.mark.parametrize(("subjects", "assessments"), [(1, 2), (3, 12)])
def test_the_page_costs_a_fixed_number_of_queries(world, subjects, assessments, django_assert_num_queries):
    populate(world, subjects=subjects, assessments=assessments)
    client = client_for(world.owner)

    with django_assert_num_queries(PAGE_QUERIES):
        page = client.get(url(world.student)).json()

    assert len(page["subjects"]) == subjects
    assert sum(entry["assessments_count"] for entry in page["subjects"]) == assessments
    assert all(len(entry["skills"]) == 1 and len(entry["goals"]) == 1 for entry in page["subjects"])
    assert page["attendance"]["sessions"] == subjects


def test_a_cached_read_runs_only_the_viewer_queries(world):
    populate(world, subjects=2, assessments=4)
    client = client_for(world.owner)
    first = client.get(url(world.student)).json()

    with CaptureQueriesContext(connection) as captured:
        again = client.get(url(world.student)).json()

    assert again == first
    assert len(captured) == CACHED_QUERIES
    touched = " ".join(query["sql"] for query in captured)
    assert "progress_" not in touched
    assert "scheduling_" not in touched


def test_a_new_assessment_shows_at_once(world, django_capture_on_commit_callbacks):
    client, family = client_for(world.teacher.user), client_for(world.guardian)
    before = client.get(url(world.student)).json()
    assert family.get(url(world.student)).json()["recent_assessments"] == []

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/assessments/",
            {
                "student_id": world.student.pk,
                "subject_id": world.session.subject_id,
                "kind": "oral",
                "score": "3",
                "max_score": "4",
            },
            format="json",
        )
    after = client.get(url(world.student)).json()

    assert before["recent_assessments"] == []
    assert [item["id"] for item in after["recent_assessments"]] == [response.json()["id"]]
    assert after["subjects"][0]["percentage"] == "75.00"
    # and every other audience too
    assert (
        client_for(world.guardian).get(url(world.student)).json()["recent_assessments"] == after["recent_assessments"]
    )


@pytest.mark.django_db(transaction=True)
def test_a_committed_assessment_shows_at_once():
    """With real commits: the version bump runs when the write commits, and the next read is fresh."""
    world = build_world()
    client = client_for(world.owner)
    assert client.get(url(world.student)).json()["recent_assessments"] == []

    created = client.post(
        "/api/assessments/",
        {
            "student_id": world.student.pk,
            "subject_id": world.session.subject_id,
            "kind": "exam",
            "score": "1",
            "max_score": "2",
            "teacher_id": world.teacher.pk,
        },
        format="json",
    )

    assert created.status_code == 201
    assert [item["id"] for item in client.get(url(world.student)).json()["recent_assessments"]] == [
        created.json()["id"]
    ]


def test_a_new_note_shows_once_the_students_version_is_bumped(world):
    client = client_for(world.student.user)
    client.get(url(world.student))
    note = f.note_on(world.session, author=world.teacher.user, text="Great progress")

    versions_bump([student_scope(world.student.pk)])

    assert note.pk in {item["id"] for item in client.get(url(world.student)).json()["notes"]}


def test_a_goal_change_shows_at_once(world, django_capture_on_commit_callbacks):
    client = client_for(world.teacher.user)
    client.get(url(world.student))

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/api/students/{world.student.pk}/goals/",
            {"subject_id": world.session.subject_id, "title": "Fluent", "target_percentage": "90"},
            format="json",
        )

    [entry] = client.get(url(world.student)).json()["subjects"]
    assert [item["title"] for item in entry["goals"]] == ["Fluent"]


def test_a_student_never_gets_the_staff_page_from_the_cache(world, noted):
    assert "admin note" in {note["text"] for note in page_of(world.owner, world.student)["notes"]}

    for role in ("student", "guardian"):
        texts = {note["text"] for note in page_of(world.user(role), world.student)["notes"]}
        assert texts == {"shared note", "their shared note"}


def test_each_teacher_gets_their_own_page(world, noted):
    assert {note["text"] for note in page_of(world.teacher.user, world.student)["notes"]} == {
        "shared note",
        "staff note",
        "their shared note",
    }

    assert {note["text"] for note in page_of(world.other_teacher.user, world.student)["notes"]} == {
        "shared note",
        "their shared note",
        "their staff note",
    }


def test_a_teacher_who_does_not_teach_the_student_but_is_their_guardian_sees_the_family_notes(world, noted):
    parent_teacher = f.teacher_in(world.school)
    f.guardian_of(world.student, user=parent_teacher.user)

    texts = {note["text"] for note in page_of(parent_teacher.user, world.student)["notes"]}

    assert texts == {"shared note", "their shared note"}


@pytest.fixture
def cache_down(monkeypatch):
    """Every call to the cache fails, as when Redis goes away (roles, throttles and pages alike)."""
    backend = caches["default"]

    def fail(*args, **kwargs):
        raise ConnectionError("cache unavailable")

    for method in ("get", "get_many", "add", "set", "incr", "decr", "delete"):
        monkeypatch.setattr(backend, method, fail)
    monkeypatch.setattr(versioned_cache, "_missed_bumps", set())


def test_the_page_is_served_from_the_database_when_the_cache_fails(world, noted, request):
    record(world.teacher.user, student=world.student, subject=world.session.subject)
    expected = page_of(world.owner, world.student)
    request.getfixturevalue("cache_down")

    assert page_of(world.owner, world.student) == expected
    student_view = page_of(world.student.user, world.student)
    assert {note["text"] for note in student_view["notes"]} == {"shared note", "their shared note"}
    created = record(world.teacher.user, student=world.student, subject=world.session.subject)
    assert page_of(world.owner, world.student)["recent_assessments"][0]["id"] == created.pk


def test_the_page_is_served_when_redis_does_not_answer(world, settings, monkeypatch):
    record(world.teacher.user, student=world.student, subject=world.session.subject)
    expected = page_of(world.owner, world.student)
    monkeypatch.setattr(versioned_cache, "_missed_bumps", set())
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.1, "SOCKET_TIMEOUT": 0.1},
        }
    }

    assert page_of(world.owner, world.student) == expected
