"""The student progress page over HTTP: what each role sees is what the API's progress page gives them, who
may open it (the API's readers; 404 for anyone else, as for an unknown id), live only for those the socket
serves, the the family's switcher."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chalkboard.progress.models import ProgressGoal
from chalkboard.web.pages import PAGE_CSP
from chalkboard.web.templatetags.chalkboard_progress import chart_points, day, skill_name, words
from tests import factories as f
from tests.conftest import build_world, client_for
from tests.progress.conftest import record
from tests.progress.test_progress_page import held, populate
from tests.web.test_pages import signed_in

pytestmark = pytest.mark.django_db

NOTES = ("shared note", "staff note", "admin note")  # the world's notes on the student's session
NOT_FOUND = "There is nothing here that you can see"
LIVE = 'data-live="/ws/dashboard/"'
DASH = "\u2013"  # what the page shows for a figure it does not have


def progress_url(student) -> str:
    return f"/app/students/{student.pk}/progress/"


def api_progress(user, student) -> dict:
    response = client_for(user).get(f"/api/students/{student.pk}/progress/")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def progressed(world):
    """Progress in a subject and one of its skills, a goal, a held session and a comment."""
    subject = world.session.subject
    skill = f.SkillFactory(subject=subject, name="Fractions")
    now = timezone.now()
    record(world.teacher.user, student=world.student, subject=subject, score="6", assessed_at=now - timedelta(days=9))
    record(
        world.teacher.user,
        student=world.student,
        subject=subject,
        score="9",
        skill_id=skill.pk,
        comments="Neat working",
        assessed_at=now - timedelta(days=2),
    )
    ProgressGoal.objects.create(
        student=world.student,
        subject=subject,
        skill=skill,
        title="Fractions without help",
        target_percentage=Decimal(85),
        due_date=date(2027, 3, 31),
    )
    held(world.teacher, world.student, subject=subject, attendance="present")
    return world


# --- What each role sees. ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin", "teacher", "student", "guardian"])
def test_each_reader_sees_what_the_api_gives_them(progressed, role):
    world = progressed
    user = world.user(role)
    api = api_progress(user, world.student)

    response = signed_in(user).get(progress_url(world.student))

    body = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == PAGE_CSP
    assert response["Cache-Control"] == "no-store"
    assert "style=" not in body
    assert "<script>" not in body
    assert f"<h1>{api['student']['name']} " in body
    [entry] = api["subjects"]
    assert f'<h2 id="subject-{entry["subject"]["id"]}">{entry["subject"]["name"]}</h2>' in body
    assert f"<dd>{entry['percentage']}%</dd>" in body
    assert f"<dd>{words(entry['level'])}</dd>" in body
    assert f'<dd class="trend-{entry["trend"]}">{words(entry["trend"])}</dd>' in body
    assert f"<dd>{entry['assessments_count']}</dd>" in body
    for skill in entry["skills"]:
        assert f'<th scope="row">{skill["skill"]["name"]}</th>' in body
        assert f"<td>{skill['percentage']}%</td>" in body
    for goal in entry["goals"]:
        assert goal["title"] in body
        assert f"<td>{goal['target_percentage']}%</td>" in body
        assert f"<td>{day(goal['due_date'])}</td>" in body
    assert len(entry["history"]) == 2
    assert body.count("<circle ") == len(entry["history"])
    for assessment in api["recent_assessments"]:
        assert f"{assessment['score']} / {assessment['max_score']} ({assessment['percentage']}%)" in body
    assert "Neat working" in body
    attendance = api["attendance"]
    assert f"<dt>Sessions</dt><dd>{attendance['sessions']}</dd>" in body
    assert f"<dt>Present</dt><dd>{attendance['present']}</dd>" in body
    assert "<dt>Attended</dt><dd>100%</dd>" in body
    shown = {note["text"] for note in api["notes"]}
    assert shown
    for text in NOTES:
        assert (text in body) == (text in shown), text


def test_a_guardian_reads_the_shared_note_and_never_the_staff_or_admin_notes(world):
    body = signed_in(world.guardian).get(progress_url(world.student)).content.decode()

    assert "shared note" in body
    assert "Shared with the family" in body
    assert "staff note" not in body
    assert "admin note" not in body


def test_the_teacher_reads_the_notes_of_their_own_sessions_and_staff_read_every_note(world):
    teacher = signed_in(world.teacher.user).get(progress_url(world.student)).content.decode()
    owner = signed_in(world.owner).get(progress_url(world.student)).content.decode()

    assert "shared note" in teacher
    assert "staff note" in teacher
    assert "admin note" not in teacher
    assert all(text in owner for text in NOTES)
    assert "For the teacher and admins" in owner
    assert "For admins only" in owner


def test_a_student_with_nothing_recorded_yet_has_an_empty_page(world):
    body = signed_in(world.owner).get(progress_url(world.other_student)).content.decode()

    assert "No progress recorded yet." in body
    assert "No assessments yet." in body
    assert "No notes yet." in body
    assert f"<dt>Attended</dt><dd>{DASH}</dd>" in body
    assert "<svg" not in body


def test_a_subject_with_a_goal_and_nothing_assessed_says_so(world):
    subject = f.SubjectFactory(school=world.school, name="Geography")
    ProgressGoal.objects.create(student=world.student, subject=subject, title="Capitals", target_percentage=50)

    body = signed_in(world.guardian).get(progress_url(world.student)).content.decode()

    section = body[body.index(f'id="subject-{subject.pk}"') :]
    assert "<dd>Not started</dd>" in section
    assert "Nothing assessed yet." in section
    assert "Capitals" in section
    assert f"<td>{DASH}</td>" in section  # no due date
    assert "Not yet" in section


def test_notes_and_comments_are_shown_as_text(world):
    f.note_on(world.session, author=world.teacher.user, text="<b>bold</b>\nsecond line")

    body = signed_in(world.guardian).get(progress_url(world.student)).content.decode()

    assert "&lt;b&gt;bold&lt;/b&gt;<br>second line" in body
    assert "<b>bold</b>" not in body


# --- Who may open it. ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["other_teacher", "other_student", "other_guardian"])
def test_anyone_the_api_refuses_gets_the_page_of_an_unknown_id(world, other_world, role):
    record(world.teacher.user, student=world.student, subject=world.session.subject)
    api = client_for(world.user(role)).get(f"/api/students/{world.student.pk}/progress/")

    response = signed_in(world.user(role)).get(progress_url(world.student))

    assert api.status_code == 404
    assert response.status_code == 404
    assert NOT_FOUND in response.content.decode()
    assert world.student.user.full_name not in response.content.decode()


@pytest.mark.parametrize("role", ["owner", "teacher", "student", "guardian"])
def test_nobody_of_another_school_opens_the_page(world, other_world, role):
    client = signed_in(other_world.user(role))

    theirs = client.get(progress_url(world.student))
    unknown = client.get("/app/students/999999/progress/")

    assert theirs.status_code == unknown.status_code == 404
    assert NOT_FOUND in theirs.content.decode()
    assert world.student.user.full_name not in theirs.content.decode()


def test_an_anonymous_visitor_is_sent_to_sign_in(world):
    response = Client().get(progress_url(world.student))

    assert response.status_code == 302
    assert response["Location"] == f"/?next=%2Fapp%2Fstudents%2F{world.student.pk}%2Fprogress%2F"


def test_the_page_only_answers_get(world):
    client = signed_in(world.owner)

    assert client.post(progress_url(world.student)).status_code == 405


# --- Live only for those the socket serves. -----------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin", "teacher"])
def test_staff_and_teachers_get_a_live_page(world, role):
    body = signed_in(world.user(role)).get(progress_url(world.student)).content.decode()

    assert LIVE in body
    assert 'id="live"' in body


@pytest.mark.parametrize("role", ["student", "guardian"])
def test_students_and_guardians_whom_the_socket_refuses_get_a_page_without_live_updates(world, role):
    body = signed_in(world.user(role)).get(progress_url(world.student)).content.decode()

    assert LIVE not in body
    assert 'id="live"' not in body


def test_a_teacher_who_is_also_a_guardian_elsewhere_gets_no_live_page_for_their_child(world, other_world):
    f.guardian_of(other_world.student, user=world.teacher.user)

    child = signed_in(world.teacher.user).get(progress_url(other_world.student)).content.decode()

    assert "shared note" in child
    assert LIVE not in child


# --- Where students and guardians land. ---------------------------------------------------------------------


def test_a_student_lands_on_their_own_progress(world):
    response = signed_in(world.student.user).get("/app/", follow=True)

    assert response.redirect_chain == [(progress_url(world.student), 302)]
    assert world.student.user.full_name in response.content.decode()


def test_a_student_in_two_schools_lands_on_their_record_in_the_first(world, other_world):
    first, second = sorted([world, other_world], key=lambda each: each.school.pk)
    later = f.student_in(second.school)
    earlier = f.student_in(first.school, user=later.user)

    response = signed_in(later.user).get("/app/")

    assert later.pk < earlier.pk
    assert response["Location"] == progress_url(earlier)


def test_a_guardian_lands_on_their_childs_progress(world):
    response = signed_in(world.guardian).get("/app/")

    assert response.status_code == 302
    assert response["Location"] == progress_url(world.student)


def test_a_guardian_of_several_children_lands_on_the_first(world):
    f.guardian_of(f.student_in(world.school), user=world.guardian)

    response = signed_in(world.guardian).get("/app/")

    assert response["Location"] == progress_url(world.student)


def test_a_student_who_is_also_a_guardian_lands_on_their_own_record_first(world):
    parent = f.student_in(world.school)  # an adult learner whose child studies here too
    f.guardian_of(world.other_student, user=parent.user)

    response = signed_in(parent.user).get("/app/")
    page = signed_in(parent.user).get(progress_url(parent)).content.decode()

    assert response["Location"] == progress_url(parent)
    assert f'<a href="{progress_url(world.other_student)}">' in page


def test_staff_and_teachers_who_are_also_guardians_land_where_they_did(world, other_world):
    f.guardian_of(other_world.student, user=world.owner)
    f.guardian_of(other_world.student, user=world.teacher.user)

    owner = signed_in(world.owner).get("/app/")
    teacher = signed_in(world.teacher.user).get("/app/")

    assert owner["Location"] == f"/app/schools/{world.school.pk}/"
    assert teacher["Location"] == f"/app/teachers/{world.teacher.pk}/dashboard/?school={world.school.pk}"


# --- The family's switcher. ---------------------------------------------------------------------------------


def test_a_student_sees_no_switcher(world):
    body = signed_in(world.student.user).get(progress_url(world.student)).content.decode()

    assert world.student.user.full_name in body
    assert 'aria-label="Family"' not in body


def test_a_guardian_of_several_children_switches_between_them(world):
    younger = f.student_in(world.school)
    f.guardian_of(younger, user=world.guardian)
    client = signed_in(world.guardian)

    first = client.get(progress_url(world.student)).content.decode()
    other = client.get(progress_url(younger)).content.decode()

    assert 'aria-label="Family"' in first
    assert f'<a href="{progress_url(world.student)}" aria-current="page">{world.student.user.full_name}</a>' in first
    assert f'<a href="{progress_url(younger)}">{younger.user.full_name}</a>' in first
    assert f'<a href="{progress_url(younger)}" aria-current="page">{younger.user.full_name}</a>' in other


def test_a_teacher_who_is_also_a_guardian_gets_the_switcher_on_their_childrens_pages_only(world, other_world):
    f.guardian_of(other_world.other_student, user=world.teacher.user)
    f.guardian_of(other_world.student, user=world.teacher.user)
    teacher = signed_in(world.teacher.user)

    pupil = teacher.get(progress_url(world.student)).content.decode()
    child = teacher.get(progress_url(other_world.student)).content.decode()

    assert 'aria-label="Family"' not in pupil
    assert 'aria-label="Family"' in child


# --- Cost. ---------------------------------------------------------------------------------------------------

# the user, their roles, their children, the student; the page's six parts; the family's records (switcher)
PAGE_QUERIES = 11


@pytest.mark.parametrize(("subjects", "assessments"), [(1, 2), (3, 12)])
def test_the_page_costs_a_fixed_number_of_queries(world, subjects, assessments, django_assert_num_queries):
    populate(world, subjects=subjects, assessments=assessments)
    client = signed_in(world.guardian)

    with django_assert_num_queries(PAGE_QUERIES):
        body = client.get(progress_url(world.student)).content.decode()

    assert body.count('<section class="card wide" aria-labelledby="subject-') == subjects


# --- Formatting. ---------------------------------------------------------------------------------------------


def test_the_history_chart_spreads_the_points_and_puts_a_lone_one_in_the_middle():
    two = chart_points([{"date": "2026-01-01", "percentage": "0.00"}, {"date": "2026-02-01", "percentage": "100.00"}])
    one = chart_points([{"date": "2026-01-01", "percentage": "50.00"}])

    assert [(point["x"], point["y"]) for point in two] == [("40.0", "100.0"), ("310.0", "10.0")]
    assert two[0]["date"] == "2026-01-01"
    assert [(point["x"], point["y"]) for point in one] == [("175.0", "55.0")]
    assert chart_points([]) == []


def test_days_codes_and_skill_names_read_as_words():
    skills = [{"skill": {"id": 7, "name": "Fractions"}}]

    assert day("2027-03-31") == "31 Mar 2027"
    assert day(None) == ""
    assert words("not_started") == "Not started"
    assert skill_name(7, skills) == "Fractions"
    assert skill_name(None, skills) == ""


def test_the_page_of_a_school_in_another_zone_shows_its_times(db):
    tokyo = build_world(name="Tokyo Tutors", timezone="Asia/Tokyo")
    moment = timezone.now().replace(hour=23, minute=30, second=0, microsecond=0) - timedelta(days=1)
    record(tokyo.teacher.user, student=tokyo.student, subject=tokyo.session.subject, assessed_at=moment)

    body = signed_in(tokyo.guardian).get(progress_url(tokyo.student)).content.decode()

    local = moment + timedelta(hours=9)
    assert f"{local:%a} {local.day} {local:%b}, 08:30" in body
    assert re.search(r"on \d{1,2} \w{3} \d{4}", body)


@pytest.mark.redis
def test_the_page_comes_from_the_cache_the_api_filled(progressed):
    world = progressed
    client = signed_in(world.guardian)
    api_progress(world.student.user, world.student)  # the family's page, built once

    with CaptureQueriesContext(connection) as queries:
        body = client.get(progress_url(world.student)).content.decode()

    assert "Fractions without help" in body
    assert not [query["sql"] for query in queries if "progress_" in query["sql"] or "sessionnote" in query["sql"]]
