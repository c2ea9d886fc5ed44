from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chalkboard.activity.models import ActivityLog
from chalkboard.common.errors import Forbidden, ValidationFailed
from chalkboard.progress.models import Level, ProgressAssessment, StudentProgress, Trend
from chalkboard.progress.selectors import scope_evidence
from chalkboard.progress.services import assessment_create
from chalkboard.realtime import services as realtime_services
from chalkboard.realtime.models import Event, EventType
from chalkboard.schools.models import Subject
from tests import factories as f
from tests.conftest import build_world, client_for
from tests.progress.conftest import record, stored, user_for, viewer

pytestmark = pytest.mark.django_db

URL = "/api/assessments/"


def body(world, **overrides):
    data = {
        "student_id": world.student.pk,
        "subject_id": world.session.subject_id,
        "kind": "quiz",
        "score": "17.5",
        "max_score": "20",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not ...}


def post(user, data):
    return client_for(user).post(URL, data, format="json")


def assert_invalid(response, field):
    assert response.status_code == 400, response.content
    payload = response.json()
    assert payload["status"] == 400
    assert payload["code"] == "invalid"
    assert field in payload["fields"], payload
    return payload


# --- Success and what it records. ------------------------------------------------------------------


def test_teacher_records_an_assessment_for_their_student(world):
    skill = f.SkillFactory(subject=world.session.subject, name="Fractions")
    before = timezone.now()

    response = post(
        world.teacher.user,
        body(world, skill_id=skill.pk, session_id=world.session.pk, comments="Solid on fractions."),
    )

    assert response.status_code == 201, response.content
    item = response.json()
    assessment = ProgressAssessment.objects.get()
    assert item == {
        "id": assessment.pk,
        "student": {"id": world.student.pk, "name": world.student.user.full_name},
        "subject": {"id": world.session.subject_id, "name": world.session.subject.name},
        "skill": {"id": skill.pk, "name": "Fractions"},
        "teacher": {"id": world.teacher.pk, "name": world.teacher.user.full_name},
        "session_id": world.session.pk,
        "kind": "quiz",
        "score": "17.50",
        "max_score": "20.00",
        "percentage": "87.50",
        "assessed_at": item["assessed_at"],
        "comments": "Solid on fractions.",
    }
    assert before <= parse_datetime(item["assessed_at"]) <= timezone.now()
    assert item["assessed_at"].endswith("Z")
    assert assessment.school_id == world.school.pk


def test_the_progress_of_the_subject_and_the_skill_are_updated_in_the_same_write(world):
    skill = f.SkillFactory(subject=world.session.subject)

    post(world.teacher.user, body(world, skill_id=skill.pk, score="9", max_score="10"))
    post(world.teacher.user, body(world, score="8", max_score="10"))

    subject_row = StudentProgress.objects.get(student=world.student, subject=world.session.subject, skill=None)
    skill_row = StudentProgress.objects.get(student=world.student, subject=world.session.subject, skill=skill)
    assert subject_row.assessments_count == 2
    assert subject_row.percentage == Decimal("84.44")  # (80 + 0.8 * 90) / 1.8
    assert subject_row.level == Level.PROFICIENT
    assert skill_row.assessments_count == 1
    assert skill_row.percentage == Decimal("90.00")
    assert skill_row.level == Level.PROFICIENT  # one assessment is not mastery
    assert skill_row.last_assessed_at == ProgressAssessment.objects.get(skill=skill).assessed_at


def test_events_and_activity_are_recorded_with_the_assessment(world):
    skill = f.SkillFactory(subject=world.session.subject)

    item = post(world.teacher.user, body(world, skill_id=skill.pk)).json()

    created = Event.objects.get(type=EventType.ASSESSMENT_CREATED)
    assert created.school_id == world.school.pk
    assert created.teacher_id == world.teacher.pk
    assert created.data == {"assessment": item}
    updates = Event.objects.filter(type=EventType.PROGRESS_UPDATED).order_by("id")
    assert [event.data for event in updates] == [
        {
            "student_id": world.student.pk,
            "subject_id": world.session.subject_id,
            "skill_id": None,
            "level": "proficient",
            "percentage": "87.50",
            "trend": "flat",
        },
        {
            "student_id": world.student.pk,
            "subject_id": world.session.subject_id,
            "skill_id": skill.pk,
            "level": "proficient",
            "percentage": "87.50",
            "trend": "flat",
        },
    ]
    assert {event.teacher_id for event in updates} == {world.teacher.pk}
    log = ActivityLog.objects.get(verb="assessment.created")
    assert (log.actor_id, log.object_id, log.school_id, log.teacher_id) == (
        world.teacher.user.pk,
        item["id"],
        world.school.pk,
        world.teacher.pk,
    )


def test_a_failure_after_the_assessment_is_written_rolls_back_the_assessment_and_the_progress(world):
    real_emit = realtime_services.events_emit
    calls = []

    def failing_emit(drafts):
        calls.append([draft.type for draft in drafts])
        real_emit(drafts)  # the events are written, then the transaction fails
        raise RuntimeError("event log unavailable")

    with (
        mock.patch("chalkboard.progress.services.events_emit", side_effect=failing_emit),
        pytest.raises(RuntimeError),
    ):
        record(world.teacher.user, student=world.student, subject=world.session.subject)

    assert calls == [[EventType.ASSESSMENT_CREATED, EventType.PROGRESS_UPDATED]]
    assert not ProgressAssessment.objects.exists()
    assert not StudentProgress.objects.exists()
    assert not Event.objects.exists()
    assert not ActivityLog.objects.filter(verb="assessment.created").exists()


@pytest.mark.parametrize(
    ("score", "max_score", "percentage"),
    [("1", "3", "33.33"), ("2", "3", "66.67"), ("1", "800", "0.13"), ("0", "7", "0.00"), ("12.5", "12.5", "100.00")],
)
def test_percentage_is_rounded_half_up_to_hundredths(world, score, max_score, percentage):
    response = post(world.teacher.user, body(world, score=score, max_score=max_score))

    assert response.status_code == 201
    assert response.json()["percentage"] == percentage
    assert str(ProgressAssessment.objects.get().percentage) == percentage


def test_assessed_at_keeps_the_given_instant(world):
    response = post(world.teacher.user, body(world, assessed_at="2025-02-03T10:15:00+09:00"))

    assert response.status_code == 201
    assert response.json()["assessed_at"] == "2025-02-03T01:15:00Z"


# --- Who may record. -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("owner", 201),
        ("admin", 201),
        ("teacher", 201),
        ("other_teacher", 400),  # cannot see the student: as if it did not exist
        ("student", 403),
        ("other_student", 400),
        ("guardian", 403),
        ("other_guardian", 400),
        ("other_world_owner", 400),
        ("other_world_teacher", 400),
        ("anonymous", 401),
    ],
)
def test_who_may_record_an_assessment(world, other_world, role, expected):
    user = user_for(world, other_world, role)

    response = post(user, body(world, teacher_id=world.teacher.pk if role in ("owner", "admin") else ...))

    assert response.status_code == expected, response.content
    if expected == 400:
        assert response.json()["fields"] == {"student_id": ["No such student."]}
    assert ProgressAssessment.objects.count() == (1 if expected == 201 else 0)


def test_an_invisible_student_answers_like_an_unknown_one(world, other_world):
    invisible = post(world.teacher.user, body(world, student_id=other_world.student.pk))
    unknown = post(world.teacher.user, body(world, student_id=999_999))

    assert invisible.json() == unknown.json()


@pytest.mark.parametrize("student_id", [0, -1, 2**63])
def test_an_id_no_row_can_have_is_an_unknown_student(world, student_id):
    with pytest.raises(ValidationFailed) as refused:
        assessment_create(
            viewer=viewer(world.owner),
            student_id=student_id,
            subject_id=world.session.subject_id,
            kind="quiz",
            score=Decimal(1),
            max_score=Decimal(2),
            teacher_id=world.teacher.pk,
        )

    assert refused.value.fields == {"student_id": ["No such student."]}


@pytest.mark.parametrize("subject_id", [0, 2**63])
def test_a_subject_id_no_row_can_have_is_an_unknown_subject(world, subject_id):
    with pytest.raises(ValidationFailed) as refused:
        record(world.teacher.user, student=world.student, subject=Subject(pk=subject_id))

    assert refused.value.fields == {"subject_id": ["No such subject in the student's school."]}


def test_a_teacher_who_is_the_students_guardian_assesses_them_only_once_assigned(world):
    """The teacher sees their child as a guardian; teaching in the school does not make them the child's
    teacher, until the school's staff assign the child to them."""
    parent = f.teacher_in(world.school)
    f.guardian_of(world.student, user=parent.user)

    refused = post(parent.user, body(world))
    f.assign(parent, world.student)
    accepted = post(parent.user, body(world))

    assert refused.status_code == 403, refused.content
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["teacher"] == {"id": parent.pk, "name": parent.user.full_name}


def test_a_teacher_records_an_assessment_in_a_fixed_number_of_queries(world, django_assert_num_queries):
    """The student with their user and whether they are assigned to the teacher, the subject, the progress
    row locked, the assessment, the evidence, the progress saved, the audit, the student's teachers, the
    events: nine statements, in a savepoint here (the test's transaction); none for the teacher, who is the
    viewer."""
    record(world.teacher.user, student=world.student, subject=world.session.subject)  # the progress row exists
    teacher = viewer(world.teacher.user)

    with django_assert_num_queries(11):
        assessment_create(
            viewer=teacher,
            student_id=world.student.pk,
            subject_id=world.session.subject_id,
            kind="quiz",
            score=Decimal(7),
            max_score=Decimal(10),
        )


# --- Whose name the assessment is in. -------------------------------------------------------------


def test_staff_must_name_the_teacher_when_there_is_no_session(world):
    assert_invalid(post(world.owner, body(world)), "teacher_id")


def test_staff_default_to_the_teacher_of_the_session(world):
    response = post(world.admin, body(world, session_id=world.session.pk))

    assert response.status_code == 201
    assert response.json()["teacher"]["id"] == world.teacher.pk


def test_staff_may_name_any_teacher_of_the_school(world):
    response = post(world.owner, body(world, session_id=world.session.pk, teacher_id=world.other_teacher.pk))

    assert response.status_code == 201
    assert response.json()["teacher"] == {"id": world.other_teacher.pk, "name": world.other_teacher.user.full_name}


def test_staff_who_teach_in_the_school_default_to_themselves(world, owner_who_teaches):
    response = post(owner_who_teaches, body(world))

    assert response.status_code == 201
    assert response.json()["teacher"]["id"] == owner_who_teaches.pk


@pytest.mark.parametrize("who", ["other_world_teacher", "owner", "unknown", "inactive_teacher"])
def test_the_named_teacher_must_teach_in_the_school(world, other_world, who):
    if who == "inactive_teacher":
        teacher = f.teacher_in(world.school)
        teacher.user.memberships.update(is_active=False)
        teacher_id = teacher.pk
    else:
        teacher_id = {"other_world_teacher": other_world.teacher.pk, "owner": world.owner.pk, "unknown": 999_999}[who]

    payload = assert_invalid(post(world.admin, body(world, teacher_id=teacher_id)), "teacher_id")

    assert payload["fields"]["teacher_id"] == ["No such teacher in the student's school."]


def test_a_teacher_records_in_their_own_name_only(world):
    response = post(world.teacher.user, body(world, teacher_id=world.other_teacher.pk))

    assert response.status_code == 403
    assert "teacher_id" in response.json()["fields"]
    assert post(world.teacher.user, body(world, teacher_id=world.teacher.pk)).status_code == 201


# --- Validation: every rule answers 400 naming its field. ---------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"max_score": "0"}, "max_score"),
        ({"max_score": "-5"}, "max_score"),
        ({"score": "21", "max_score": "20"}, "score"),
        ({"score": "-1"}, "score"),
        ({"score": "1.234"}, "score"),
        ({"score": "1000000", "max_score": "1000000"}, "score"),
        ({"max_score": "1000000"}, "max_score"),
        ({"score": "NaN"}, "score"),
        ({"score": "Infinity"}, "score"),
        ({"score": "lots"}, "score"),
        ({"score": ...}, "score"),
        ({"kind": "essay"}, "kind"),
        ({"kind": ...}, "kind"),
        ({"comments": "x" * 5001}, "comments"),
        ({"assessed_at": "2999-01-01T00:00:00+00:00"}, "assessed_at"),
        ({"assessed_at": "2025-01-01T10:00:00"}, "assessed_at"),
        ({"assessed_at": "yesterday"}, "assessed_at"),
        ({"assessed_at": "9999-12-31T23:59:59-12:00"}, "assessed_at"),
        ({"student_id": "abc"}, "student_id"),
        ({"student_id": 10**30}, "student_id"),
        ({"student_id": 0}, "student_id"),
        ({"student_id": True}, "student_id"),
        ({"student_id": ...}, "student_id"),
        ({"subject_id": 999_999}, "subject_id"),
        ({"subject_id": [1]}, "subject_id"),
        ({"skill_id": 999_999}, "skill_id"),
        ({"skill": 999_999}, "skill"),
        ({"session_id": 999_999}, "session_id"),
        ({"session_id": "x"}, "session_id"),
    ],
)
def test_invalid_input_is_refused_naming_the_field(world, overrides, field):
    assert_invalid(post(world.teacher.user, body(world, **overrides)), field)
    assert not ProgressAssessment.objects.exists()


def test_a_time_just_ahead_of_the_server_clock_is_still_now(world):
    soon = timezone.now() + timedelta(seconds=20)

    response = post(world.teacher.user, body(world, assessed_at=soon.isoformat()))

    assert response.status_code == 201
    assert ProgressAssessment.objects.get(pk=response.json()["id"]).assessed_at == soon


def test_a_body_that_is_not_an_object_is_refused(world):
    response = client_for(world.teacher.user).post(URL, [1, 2], format="json")

    assert response.status_code == 400
    assert not ProgressAssessment.objects.exists()


def test_the_skill_must_belong_to_the_subject(world):
    other_subject = f.SubjectFactory(school=world.school)
    skill = f.SkillFactory(subject=other_subject)

    payload = assert_invalid(post(world.teacher.user, body(world, skill_id=skill.pk)), "skill_id")

    assert payload["fields"]["skill_id"] == ["This skill belongs to another subject."]


def test_skill_is_an_alias_of_skill_id(world):
    skill = f.SkillFactory(subject=world.session.subject)

    response = post(world.teacher.user, body(world, skill=skill.pk))

    assert response.status_code == 201
    assert response.json()["skill"]["id"] == skill.pk
    assert post(world.teacher.user, body(world, skill=skill.pk, skill_id=skill.pk)).status_code == 201


def test_skill_and_skill_id_naming_two_skills_are_refused(world):
    one, two = f.SkillFactory(subject=world.session.subject), f.SkillFactory(subject=world.session.subject)

    assert_invalid(post(world.teacher.user, body(world, skill=one.pk, skill_id=two.pk)), "skill")


def test_errors_name_skill_when_the_client_used_skill(world):
    other_skill = f.SkillFactory(subject=f.SubjectFactory(school=world.school))

    payload = assert_invalid(post(world.teacher.user, body(world, skill=other_skill.pk)), "skill")

    assert "skill_id" not in payload["fields"]


def test_the_session_must_include_the_student(world):
    payload = assert_invalid(
        post(world.owner, body(world, session_id=world.other_session.pk, teacher_id=world.teacher.pk)), "session_id"
    )

    assert payload["fields"]["session_id"] == ["The student does not attend this session."]


def test_a_teacher_may_not_tie_an_assessment_to_another_teachers_session(world):
    theirs = f.session_for(world.other_teacher, world.student, subject=world.session.subject)

    payload = assert_invalid(post(world.teacher.user, body(world, session_id=theirs.pk)), "session_id")

    assert payload["fields"]["session_id"] == ["No such session in the student's school."]
    assert post(world.owner, body(world, session_id=theirs.pk)).status_code == 201


@pytest.mark.parametrize("field", ["subject_id", "skill_id", "session_id"])
def test_ids_from_another_school_answer_like_unknown_ids(world, other_world, field):
    other_ids = {
        "subject_id": other_world.session.subject_id,
        "skill_id": f.SkillFactory(subject=other_world.session.subject).pk,
        "session_id": other_world.session.pk,
    }
    # the same id space: an unknown id is one past the largest
    unknown_ids = {"subject_id": 10**9, "skill_id": 10**9, "session_id": 10**9}

    foreign = assert_invalid(
        post(world.owner, body(world, teacher_id=world.teacher.pk, **{field: other_ids[field]})), field
    )
    unknown = assert_invalid(
        post(world.owner, body(world, teacher_id=world.teacher.pk, **{field: unknown_ids[field]})), field
    )

    assert foreign == unknown


def test_the_service_checks_what_the_api_also_checks(world):
    teacher = viewer(world.teacher.user)
    base = {"student_id": world.student.pk, "subject_id": world.session.subject_id, "kind": "quiz"}
    cases = [
        ({"kind": "essay", "score": Decimal(1), "max_score": Decimal(2)}, "kind"),
        ({"score": Decimal(1), "max_score": Decimal("1000000")}, "max_score"),
        ({"score": Decimal(1), "max_score": Decimal(2), "comments": "x" * 5001}, "comments"),
    ]
    for overrides, field in cases:
        with pytest.raises(ValidationFailed) as refused:
            assessment_create(viewer=teacher, **{**base, **overrides})
        assert field in refused.value.fields

    with pytest.raises(Forbidden):
        assessment_create(viewer=viewer(world.guardian), **base, score=Decimal(1), max_score=Decimal(2))


# --- Recomputation. -------------------------------------------------------------------------------


def test_levels_follow_the_evidence(world):
    subject = world.session.subject

    record(world.teacher.user, student=world.student, subject=subject, score="5", max_score="10")
    assert StudentProgress.objects.get(skill=None).level == Level.ATTEMPTED
    record(world.teacher.user, student=world.student, subject=subject, score="5", max_score="10")
    assert StudentProgress.objects.get(skill=None).level == Level.FAMILIAR
    record(world.teacher.user, student=world.student, subject=subject, score="10", max_score="10")
    record(world.teacher.user, student=world.student, subject=subject, score="10", max_score="10")
    progress = StudentProgress.objects.get(skill=None)
    assert progress.level == Level.PROFICIENT  # (100 + 80 + 32 + 25.6) / 2.952 = 80.49
    assert progress.percentage == Decimal("80.49")
    record(world.teacher.user, student=world.student, subject=subject, score="10", max_score="10")
    progress = StudentProgress.objects.get(skill=None)
    assert progress.level == Level.MASTERED
    assert progress.assessments_count == 5
    assert progress.trend == Trend.UP  # all within 28 days: the last 3 (100, 100, 100) against (50, 50)


def test_trend_uses_the_last_28_days_against_the_28_before(world):
    subject = world.session.subject
    now = timezone.now()
    for days, score in [(40, "9"), (35, "9"), (3, "6")]:
        record(
            world.teacher.user,
            student=world.student,
            subject=subject,
            score=score,
            assessed_at=now - timedelta(days=days),
        )

    assert StudentProgress.objects.get(skill=None).trend == Trend.DOWN


def test_recomputation_reads_only_the_latest_twenty_but_counts_everything(world):
    subject = world.session.subject
    now = timezone.now()
    for day in range(25, 5, -1):
        stored(world.student, subject, world.teacher, percentage="100.00", assessed_at=now - timedelta(days=day))
    for day in range(200, 190, -1):  # older than everything: no longer moves the standing
        stored(world.student, subject, world.teacher, percentage="0.00", assessed_at=now - timedelta(days=day))

    record(world.teacher.user, student=world.student, subject=subject, score="10", max_score="10")

    progress = StudentProgress.objects.get(skill=None)
    assert progress.percentage == Decimal("100.00")
    assert progress.assessments_count == 31
    assert progress.level == Level.MASTERED


def test_scope_evidence_is_one_query(world, django_assert_num_queries):
    subject = world.session.subject
    skill = f.SkillFactory(subject=subject)
    for day in range(30):
        stored(
            world.student,
            subject,
            world.teacher,
            assessed_at=timezone.now() - timedelta(days=day + 1),
            skill=skill if day % 2 else None,
        )

    with django_assert_num_queries(1):
        evidence, total = scope_evidence(student_id=world.student.pk, subject_id=subject.pk, skill_id=None)
    with django_assert_num_queries(1):
        skill_evidence, skill_total = scope_evidence(
            student_id=world.student.pk, subject_id=subject.pk, skill_id=skill.pk
        )

    assert (len(evidence), total) == (20, 30)
    assert (len(skill_evidence), skill_total) == (15, 15)
    assert evidence == sorted(evidence, key=lambda item: item.assessed_at, reverse=True)
    assert scope_evidence(student_id=world.other_student.pk, subject_id=subject.pk, skill_id=None) == ([], 0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_assessments_of_one_scope_recompute_one_after_the_other():
    """A's transaction has recomputed and is about to commit when B records: B must wait for A and count
    A's assessment, or B's recomputation (from before A committed) would overwrite A's."""
    world = build_world()
    subject = world.session.subject
    record(world.teacher.user, student=world.student, subject=subject)
    a_recomputed = threading.Event()
    real_emit = realtime_services.event_emit
    errors = []

    def slow_emit(**kwargs):
        if threading.current_thread().name == "A" and kwargs["type"] == EventType.ASSESSMENT_CREATED:
            a_recomputed.set()
            time.sleep(0.5)  # B starts now, while A still holds its transaction open
        return real_emit(**kwargs)

    def run(wait_for=None):
        try:
            if wait_for is not None:
                wait_for.wait(timeout=5)
            record(world.teacher.user, student=world.student, subject=subject, score="9")
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    with mock.patch("chalkboard.progress.services.event_emit", side_effect=slow_emit):
        threads = [threading.Thread(target=run, name="A"), threading.Thread(target=run, args=(a_recomputed,), name="B")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []
    progress = StudentProgress.objects.get(student=world.student, subject=subject, skill=None)
    assert progress.assessments_count == 3 == ProgressAssessment.objects.count()
