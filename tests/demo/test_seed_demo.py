"""``manage.py seed_demo`` against the test database (SQLite, and PostgreSQL when DATABASE_URL names one)."""

from __future__ import annotations

import hashlib
import json
import stat
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count

from chalkboard.accounts.models import User
from chalkboard.activity.models import ActivityLog
from chalkboard.common.cache import school_scope, student_scope, teacher_scope, versions_get
from chalkboard.demo.context import day_anchor
from chalkboard.demo.services import demo_seed
from chalkboard.demo.specs import SMALL
from chalkboard.demo.tables import LOAD_ORDER
from chalkboard.earnings.models import EarningEntry, Payout
from chalkboard.earnings.services import earning_amount, earning_description, earning_rate_for, earning_session_amend
from chalkboard.people.models import GuardianLink, Student, TeacherRate
from chalkboard.progress.models import AssessmentKind, ProgressAssessment, ProgressGoal, StudentProgress
from chalkboard.progress.scoring import EVIDENCE_LIMIT, assessment_percentage
from chalkboard.progress.services import _progress_refresh
from chalkboard.scheduling.models import Session, SessionNote, SessionStudent
from chalkboard.schools.models import Membership, Role, School

pytestmark = pytest.mark.django_db

PASSWORD = "demo-Password-42"
SEED = 7
USER_KEYS = {"user_id", "email"}


def seed(path: Any, **options: Any) -> str:
    out = StringIO()
    call_command("seed_demo", manifest=str(path), stdout=out, **options)
    return out.getvalue()


def read(path: Any) -> dict[str, Any]:
    return json.loads(path.read_text())


def table_counts() -> dict[str, int]:
    return {table.name: table.model._default_manager.count() for table in LOAD_ORDER}


@pytest.fixture
def manifest_path(tmp_path):
    return tmp_path / "not-yet" / "there" / "demo-manifest.json"


@pytest.fixture
def manifest(manifest_path):
    seed(manifest_path, password=PASSWORD, seed=SEED)
    return read(manifest_path)


def login(client, email: str, password: str = PASSWORD):
    return client.post("/api/auth/token/", {"email": email, "password": password}, format="json")


# --- the manifest and logging in ---------------------------------------------------------------------
def test_the_manifest_is_private_and_lists_every_user_of_every_school(manifest, manifest_path):
    assert stat.S_IMODE(manifest_path.stat().st_mode) == 0o600
    assert set(manifest) == {"password", "schools"}
    assert manifest["password"] == PASSWORD
    assert len(manifest["schools"]) >= 2
    for school in manifest["schools"]:
        assert set(school) == {"id", "name", "owners", "admins", "teachers", "students", "guardians"}
        assert School.objects.get(pk=school["id"]).name == school["name"]
        assert all(set(user) == USER_KEYS for user in school["owners"] + school["admins"])
        assert all(set(user) == USER_KEYS | {"teacher_id"} for user in school["teachers"])
        assert all(set(user) == USER_KEYS | {"student_id"} for user in school["students"])
        assert all(set(user) == USER_KEYS | {"student_ids"} for user in school["guardians"])
        assert_roles_match_the_database(school)


def assert_roles_match_the_database(school: dict[str, Any]) -> None:
    members = defaultdict(set)
    for user_id, role in Membership.objects.filter(school_id=school["id"]).values_list("user_id", "role"):
        members[role].add(user_id)
    for role, key in [(Role.OWNER, "owners"), (Role.ADMIN, "admins"), (Role.TEACHER, "teachers")]:
        assert members[role] == {user["user_id"] for user in school[key]}
    assert all(user["teacher_id"] == user["user_id"] for user in school["teachers"])
    students = dict(Student.objects.filter(school_id=school["id"]).values_list("id", "user_id"))
    assert students == {user["student_id"]: user["user_id"] for user in school["students"]}
    for guardian in school["guardians"]:
        linked = GuardianLink.objects.filter(guardian_id=guardian["user_id"]).values_list("student_id", flat=True)
        assert sorted(linked) == sorted(guardian["student_ids"])
        assert set(guardian["student_ids"]) <= set(students)


def test_every_demo_user_logs_in_with_the_manifest_password(manifest, api_client):
    for school in manifest["schools"]:
        for key, role in [
            ("owners", Role.OWNER),
            ("admins", Role.ADMIN),
            ("teachers", Role.TEACHER),
            ("students", Role.STUDENT),
            ("guardians", Role.GUARDIAN),
        ]:
            for user in {
                school[key][0]["user_id"]: school[key][0],
                school[key][-1]["user_id"]: school[key][-1],
            }.values():
                response = login(api_client, user["email"], manifest["password"])
                assert response.status_code == 200, user
                me = api_client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}").json()
                roles = {membership["school_id"]: membership["roles"] for membership in me["memberships"]}
                assert role in roles[school["id"]]
    assert login(api_client, manifest["schools"][0]["admins"][0]["email"], "wrong").status_code == 400


def test_one_teacher_teaches_in_both_schools_with_rates_and_sessions_in_each(manifest):
    first, second = manifest["schools"][:2]
    shared = {user["teacher_id"] for user in first["teachers"]} & {user["teacher_id"] for user in second["teachers"]}
    assert shared
    teacher_id = shared.pop()
    for school in (first, second):
        rates = TeacherRate.objects.filter(teacher_id=teacher_id, school_id=school["id"])
        assert {(rate.subject_id is None, rate.is_group) for rate in rates} == {
            (True, False),
            (False, False),
            (True, True),
        }
        assert Session.objects.filter(teacher_id=teacher_id, school_id=school["id"]).exists()


# --- sessions ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 3, 8, 0, 30, tzinfo=UTC),  # still yesterday in Chicago, on the day its clocks change
        datetime(2026, 3, 29, 23, 30, tzinfo=UTC),  # already tomorrow in Lisbon, just after its clocks changed
        datetime(2026, 7, 1, 12, 0, tzinfo=UTC),
    ],
)
def test_every_school_has_sessions_today_and_next_week_in_its_own_time_zone(manifest_path, now):
    with time_machine.travel(now, tick=False):
        seed(manifest_path, password=PASSWORD)
    for school in School.objects.all():
        today = now.astimezone(school.zone).date()
        midnight = datetime.combine(today, datetime.min.time(), tzinfo=school.zone)
        sessions = Session.objects.filter(school=school)
        assert sessions.filter(starts_at__gte=midnight, starts_at__lt=midnight + timedelta(days=1)).exists()
        next_week = midnight + timedelta(days=7)
        assert sessions.filter(starts_at__gte=next_week, starts_at__lt=next_week + timedelta(days=7)).count() >= 7
        assert sessions.filter(starts_at__gte=now, status="scheduled").exists()


def test_some_past_sessions_wait_to_be_completed_and_some_are_group_sessions(manifest):
    sessions = Session.objects.annotate(seated=Count("attendees"))
    waiting = [
        session
        for session in sessions.filter(status="scheduled", starts_at__lt=datetime.now(UTC))
        if session.ends_at < datetime.now(UTC)
    ]
    assert waiting
    assert sessions.filter(seated__gte=2).exists()
    assert sessions.filter(seated__lt=1).count() == 0
    assert sessions.filter(seated__gt=4).count() == 0
    assert set(Session.objects.values_list("status", flat=True)) == {"scheduled", "completed", "no_show", "cancelled"}


def test_attendance_follows_what_became_of_each_session(manifest):
    marks = defaultdict(list)
    for status, attendance in SessionStudent.objects.values_list("session__status", "attendance"):
        marks[status].append(attendance)
    assert set(marks["scheduled"]) == set(marks["cancelled"]) == {""}
    assert set(marks["no_show"]) == {"absent"}
    assert set(marks["completed"]) <= {"present", "late", "absent", "excused"}
    completed = Session.objects.filter(status="completed")
    assert not completed.exclude(attendees__attendance__in=["present", "late"]).exists()
    assert not completed.filter(actual_duration_minutes__isnull=True).exists()
    assert not Session.objects.filter(status="cancelled", cancelled_at__isnull=True).exists()


def test_every_loaded_booking_carries_its_sessions_values(manifest):
    # The loader writes no copy (COPY on PostgreSQL, INSERT elsewhere): the database's triggers do.
    copies = SessionStudent.objects.values_list(
        "session_teacher_id", "session_school_id", "session_starts_at", "session_status"
    )
    sessions = SessionStudent.objects.values_list(
        "session__teacher_id", "session__school_id", "session__starts_at", "session__status"
    )
    assert len(copies) > 100
    assert list(copies.order_by("id")) == list(sessions.order_by("id"))


def test_notes_of_every_visibility_the_admin_ones_by_an_admin(manifest):
    notes = SessionNote.objects.select_related("session")
    assert {note.visibility for note in notes} == {"shared", "staff", "admin"}
    admins = set(Membership.objects.filter(role=Role.ADMIN).values_list("user_id", flat=True))
    for note in notes:
        assert note.session.status in ("completed", "no_show")
        if note.visibility == "admin":
            assert note.author_id in admins
        else:
            assert note.author_id == note.session.teacher_id


# --- earnings ----------------------------------------------------------------------------------------
def test_earnings_exist_in_every_status_and_each_payout_adds_up(manifest):
    entries = EarningEntry.objects.all()
    assert set(entries.values_list("status", flat=True)) == {"pending", "approved", "paid"}
    assert Payout.objects.exists()
    for payout in Payout.objects.prefetch_related("entries"):
        paid = list(payout.entries.all())
        assert paid
        assert payout.amount == sum(entry.amount for entry in paid)
        assert {(entry.teacher_id, entry.school_id, entry.status) for entry in paid} == {
            (payout.teacher_id, payout.school_id, "paid")
        }
        assert payout.paid_at >= max(entry.earned_at for entry in paid)
    assert not entries.filter(status="paid", payout__isnull=True).exists()
    assert not entries.filter(status__in=["approved", "paid"], approved_at__isnull=True).exists()
    assert not entries.filter(status__in=["approved", "paid"], approved_by__isnull=True).exists()
    assert not entries.filter(status="pending", approved_at__isnull=False).exists()


def test_each_billable_session_has_one_entry_priced_as_the_product_prices_it(manifest):
    entries = EarningEntry.objects.exclude(kind="adjustment").select_related("session__school", "session__subject")
    by_session = Counter(entry.session_id for entry in entries)
    seated = dict(Session.objects.annotate(seated=Count("attendees")).values_list("id", "seated"))
    for session in Session.objects.select_related("school"):
        billable = session.status == "completed" or (session.status == "no_show" and session.school.no_show_billable)
        assert by_session[session.pk] == (1 if billable else 0), session.status
    for entry in entries:
        session = entry.session
        hourly_rate = earning_rate_for(
            teacher_id=entry.teacher_id,
            school_id=entry.school_id,
            subject_id=session.subject_id,
            is_group=seated[session.pk] > 1,
        )
        assert entry.hourly_rate == hourly_rate
        assert entry.amount == earning_amount(hourly_rate=hourly_rate, minutes=entry.minutes)
        assert entry.currency == session.school.currency
        assert entry.earned_at == session.starts_at
        assert entry.kind == ("session" if session.status == "completed" else "no_show")
        assert entry.description == earning_description(
            kind=entry.kind,
            subject_name=session.subject.name,
            starts_at=session.starts_at,
            timezone_name=session.school.timezone,
        )
        if entry.kind == "no_show":
            assert entry.minutes == session.planned_duration_minutes
    # Group and one-to-one sessions, in subjects with and without a rate of their own, are all priced.
    assert {seated[entry.session_id] > 1 for entry in entries} == {True, False}
    assert len({(entry.teacher_id, entry.school_id, entry.hourly_rate) for entry in entries}) > len(
        {(entry.teacher_id, entry.school_id) for entry in entries}
    )


def entry_fields(entry: EarningEntry) -> dict[str, Any]:
    names = ["school_id", "teacher_id", "session_id", "kind", "status", "amount", "currency", "minutes"]
    names += ["hourly_rate", "earned_at", "description", "adjusts_id", "payout_id"]
    return {name: getattr(entry, name) for name in names}


def test_an_amended_paid_session_has_the_adjustment_the_product_would_add(manifest):
    adjustments = list(EarningEntry.objects.filter(kind="adjustment").select_related("adjusts", "session"))
    assert adjustments
    for adjustment in adjustments:
        original, session = adjustment.adjusts, adjustment.session
        assert original.status == "paid"
        assert session.actual_duration_minutes == original.minutes + adjustment.minutes
        seeded = entry_fields(adjustment)
        adjustment.delete()
        # Amend the session again, when the demo says it was amended: the product adds the same entry. The
        # demo's amendments come a month after the work, which the school's staff make (a teacher's would be
        # held for review).
        with time_machine.travel(adjustment.created_at, tick=False):
            (added,) = earning_session_amend(session=session, minutes=session.actual_duration_minutes, by_staff=True)
        assert entry_fields(added) == seeded
    amended = {adjustment.session_id for adjustment in adjustments}
    for entry in EarningEntry.objects.filter(kind="session").exclude(session_id__in=amended).select_related("session"):
        assert entry.minutes == entry.session.actual_duration_minutes


# --- assessments and progress ------------------------------------------------------------------------
def test_assessments_of_every_kind_with_consistent_percentages(manifest):
    assessments = ProgressAssessment.objects.select_related("session", "skill")
    assert {assessment.kind for assessment in assessments} == set(AssessmentKind.values)
    for assessment in assessments:
        assert assessment.percentage == assessment_percentage(score=assessment.score, max_score=assessment.max_score)
        if assessment.skill is not None:
            assert assessment.skill.subject_id == assessment.subject_id
        if assessment.session is not None:
            assert assessment.session.status == "completed"
            assert assessment.session.teacher_id == assessment.teacher_id
            assert assessment.session.attendees.filter(
                student_id=assessment.student_id, attendance__in=["present", "late"]
            ).exists()


PROGRESS_FIELDS = ("level", "percentage", "trend", "assessments_count", "last_assessed_at")
SEEDED_AT = datetime(2026, 3, 12, 15, 30, tzinfo=UTC)
# Few students with many assessments each: scopes with more evidence than the product weighs.
DENSE = replace(SMALL, schools=(replace(SMALL.schools[0], students=3),), assessments_per_school=1_000)
DENSE_SEED = 15


def progress_fields(progress: StudentProgress) -> tuple[Any, ...]:
    return tuple(getattr(progress, name) for name in PROGRESS_FIELDS)


def assert_progress_is_what_the_product_computes(now: datetime) -> list[StudentProgress]:
    """Every progress row equals the product's recomputation of its scope at ``now``, from the assessments."""
    rows = list(StudentProgress.objects.order_by("pk"))
    for row in rows:
        seeded = progress_fields(row)
        assert progress_fields(_progress_refresh(row, now=now)) == seeded, (
            row.student_id,
            row.subject_id,
            row.skill_id,
        )
    assessed = ProgressAssessment.objects.values_list("student_id", "subject_id", "skill_id")
    scopes = {(student, subject, None) for student, subject, _ in assessed} | {key for key in assessed if key[2]}
    assert {(row.student_id, row.subject_id, row.skill_id) for row in rows} >= scopes
    return rows


def test_progress_is_what_the_product_computes_from_the_assessments(manifest_path):
    with time_machine.travel(SEEDED_AT, tick=False):
        seed(manifest_path, seed=SEED, password=PASSWORD)

    rows = assert_progress_is_what_the_product_computes(day_anchor(SEEDED_AT))

    assert {row.level for row in rows} >= {"not_started", "attempted", "familiar", "proficient"}
    assert {row.trend for row in rows} == {"up", "flat", "down"}
    assert ProgressGoal.objects.exists()
    for goal in ProgressGoal.objects.all():
        progress = StudentProgress.objects.get(student_id=goal.student_id, subject_id=goal.subject_id, skill=None)
        reached = progress.percentage is not None and progress.percentage >= goal.target_percentage
        assert (goal.achieved_at is not None) == reached


def test_progress_weighs_only_the_latest_evidence_as_the_product_does():
    # This seed hands in homework at the same moment as other work of the same scope: ties, which the
    # product breaks by id.
    demo_seed(spec=DENSE, seed=DENSE_SEED, password=PASSWORD, now=SEEDED_AT)

    rows = assert_progress_is_what_the_product_computes(day_anchor(SEEDED_AT))

    assert max(row.assessments_count for row in rows) > EVIDENCE_LIMIT
    same_moment = ProgressAssessment.objects.values("student_id", "subject_id", "assessed_at").annotate(n=Count("id"))
    assert same_moment.filter(n__gt=1).exists()
    assert "mastered" in {row.level for row in rows}


# --- the database --------------------------------------------------------------------------------------
def test_every_constraint_holds_and_new_rows_get_fresh_ids(manifest):
    connection.check_constraints()
    user = User.objects.create_user(email="someone.new@example.test", password="x", full_name="New")
    assert user.pk > max(User.objects.exclude(pk=user.pk).values_list("pk", flat=True))
    school = School.objects.create(name="Brand new")
    assert school.pk > max(entry["id"] for entry in manifest["schools"])


def test_loading_records_itself_in_the_audit_trail(manifest):
    seeded = ActivityLog.objects.filter(verb="demo.seeded")
    assert sorted(seeded.values_list("school_id", flat=True)) == sorted(school["id"] for school in manifest["schools"])


def test_loading_bumps_the_cache_versions_of_every_school_teacher_and_student(
    manifest_path, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        seed(manifest_path, password=PASSWORD)
    manifest = read(manifest_path)
    school = manifest["schools"][1]
    teacher, student = school["teachers"][0], school["students"][-1]
    scopes = [
        school_scope(school["id"]),
        teacher_scope(teacher["teacher_id"], school["id"]),
        student_scope(student["student_id"]),
    ]
    assert all(version >= 1 for version in versions_get(scopes).values())


SKIPPED_COLUMNS = {"created_at", "updated_at", "date_joined", "password", "last_login"}


def fingerprint() -> str:
    """A digest of every generated row, without the load-time stamps and the salted password hashes."""
    digest = hashlib.sha256()
    for table in LOAD_ORDER:
        columns = [column for column in table.columns if column not in SKIPPED_COLUMNS]
        rows = table.model._default_manager.exclude(**({"verb": "demo.seeded"} if table.model is ActivityLog else {}))
        for row in rows.order_by("pk").values_list(*columns):
            digest.update(repr(row).encode())
    return digest.hexdigest()


def wipe() -> None:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in reversed(LOAD_ORDER):
            cursor.execute(f"DELETE FROM {quote(table.name)}")  # noqa: S608


def test_the_same_seed_on_the_same_day_loads_the_same_data(manifest_path):
    with time_machine.travel(datetime(2026, 5, 4, 9, 0, tzinfo=UTC), tick=False):
        seed(manifest_path, seed=3, password=PASSWORD)
        first, first_manifest = fingerprint(), read(manifest_path)
        wipe()
        seed(manifest_path, seed=3, password=PASSWORD)
        again, again_manifest = fingerprint(), read(manifest_path)
        wipe()
        seed(manifest_path, seed=4, password=PASSWORD)
        other = fingerprint()
    assert first == again
    assert first_manifest == again_manifest
    assert other != first


# --- --if-empty and refusals -------------------------------------------------------------------------
def test_if_empty_leaves_a_seeded_database_and_its_manifest_alone(manifest, manifest_path):
    before, text = table_counts(), manifest_path.read_text()

    output = seed(manifest_path, if_empty=True)

    assert "keeping it" in output
    assert table_counts() == before
    assert manifest_path.read_text() == text


def test_if_empty_without_a_manifest_says_so_and_does_not_reseed(manifest, tmp_path):
    before = table_counts()
    missing = tmp_path / "elsewhere.json"

    output = seed(missing, if_empty=True)

    assert "is missing; not reseeding" in output
    assert not missing.exists()
    assert table_counts() == before


def test_if_empty_seeds_an_empty_database(manifest_path):
    output = seed(manifest_path, if_empty=True, password=PASSWORD)

    assert "Loaded the small demo" in output
    assert School.objects.count() == 2
    assert read(manifest_path)["password"] == PASSWORD


def test_seeding_over_existing_schools_is_refused(manifest, manifest_path):
    before = table_counts()
    with pytest.raises(CommandError, match="already has schools"):
        seed(manifest_path)
    assert table_counts() == before


def test_without_a_password_every_user_gets_the_same_random_one(tmp_path, api_client):
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    seed(first)
    password = read(first)["password"]
    wipe()
    seed(second)

    assert len(password) >= 16
    assert read(second)["password"] != password
    assert len(set(User.objects.values_list("password", flat=True))) == 1
    teacher = read(second)["schools"][0]["teachers"][0]
    assert login(api_client, teacher["email"], read(second)["password"]).status_code == 200


# --- the benchmark's dataset, scaled down ------------------------------------------------------------
def test_the_benchmark_dataset_loads_at_a_small_scale(manifest_path):
    output = seed(manifest_path, size="tiny-bench", password=PASSWORD)

    connection.check_constraints()
    manifest = read(manifest_path)
    assert "scheduling_session: 3" in output
    assert len(manifest["schools"]) == 2
    for school in manifest["schools"]:
        assert_roles_match_the_database(school)
        sessions = Session.objects.filter(school_id=school["id"])
        students = Counter(
            dict(
                sessions.values("teacher_id")
                .annotate(students=Count("attendees__student", distinct=True))
                .values_list("teacher_id", "students")
            )
        )
        busy = [teacher["teacher_id"] for teacher in school["teachers"][:2]]
        others = [teacher["teacher_id"] for teacher in school["teachers"][2:]]
        assert all(12 <= students[teacher_id] <= 16 for teacher_id in busy)
        assert min(students[teacher_id] for teacher_id in busy) > max(students[teacher_id] for teacher_id in others)
    for payout in Payout.objects.annotate(total=Count("entries")):
        assert payout.amount == sum(payout.entries.values_list("amount", flat=True), Decimal(0))
    assert StudentProgress.objects.count() > 0
    assert ProgressAssessment.objects.count() == 400
