"""Recording an assessment from a page: who may, the API's input rules with errors at their fields, the
student's progress following, and a form sent twice recording once."""

from __future__ import annotations

import re

import pytest

from chalkboard.progress.models import ProgressAssessment, StudentProgress
from tests import factories as f
from tests.web.test_pages import signed_in

pytestmark = pytest.mark.django_db

KEY = re.compile(r'name="form_key" value="([^"]+)"')


def url(student) -> str:
    return f"/app/students/{student.pk}/assessments/new/"


def form_key(client, student) -> str:
    match = KEY.search(client.get(url(student)).content.decode())
    assert match is not None
    return match.group(1)


def test_a_teacher_of_the_student_records_an_assessment_and_the_progress_follows(world):
    subject = f.SubjectFactory(school=world.school, name="Physics")
    client = signed_in(world.teacher.user)

    response = client.post(
        url(world.student),
        {"form_key": form_key(client, world.student), "subject_id": subject.pk, "skill_id": "", "kind": "quiz",
         "score": "8", "max_score": "10", "comments": "Good."},
    )  # fmt: skip

    assert response.status_code == 302
    assert response["Location"] == f"/app/students/{world.student.pk}/progress/"
    recorded = ProgressAssessment.objects.get(student=world.student, subject=subject)
    assert (str(recorded.score), str(recorded.max_score), recorded.kind) == ("8.00", "10.00", "quiz")
    assert StudentProgress.objects.filter(student=world.student, subject=subject).exists()


def test_the_same_form_sent_twice_records_once(world):
    subject = f.SubjectFactory(school=world.school)
    client = signed_in(world.teacher.user)
    body = {"form_key": form_key(client, world.student), "subject_id": subject.pk, "kind": "test",
            "score": "5", "max_score": "10"}  # fmt: skip

    assert client.post(url(world.student), body).status_code == 302
    assert client.post(url(world.student), body).status_code == 302

    assert ProgressAssessment.objects.filter(student=world.student, subject=subject).count() == 1


def test_wrong_input_is_shown_at_its_fields_and_the_form_may_be_sent_again(world):
    subject = f.SubjectFactory(school=world.school)
    other_school_subject = f.SubjectFactory()
    client = signed_in(world.teacher.user)
    key = form_key(client, world.student)

    bad_score = client.post(
        url(world.student),
        {"form_key": key, "subject_id": subject.pk, "kind": "quiz", "score": "11", "max_score": "10"},
    )
    foreign = client.post(
        url(world.student),
        {"form_key": key, "subject_id": other_school_subject.pk, "kind": "quiz", "score": "1", "max_score": "10"},
    )
    fixed = client.post(
        url(world.student), {"form_key": key, "subject_id": subject.pk, "kind": "quiz", "score": "9", "max_score": "10"}
    )

    assert bad_score.status_code == 400
    assert 'id="score-error"' in bad_score.content.decode()
    assert foreign.status_code == 400
    assert 'id="subject-error"' in foreign.content.decode()
    assert fixed.status_code == 302
    assert list(ProgressAssessment.objects.filter(student=world.student).values_list("score", flat=True)) == [9]


def test_the_form_lists_the_schools_subjects_and_skills_and_the_progress_page_links_to_it(world):
    subject = f.SubjectFactory(school=world.school, name="Chemistry")
    f.SkillFactory(subject=subject, name="Titration")
    client = signed_in(world.teacher.user)

    form = client.get(url(world.student)).content.decode()
    progress = client.get(f"/app/students/{world.student.pk}/progress/").content.decode()

    assert ">Chemistry</option>" in form
    assert '<optgroup label="Chemistry">' in form
    assert ">Titration</option>" in form
    assert f'href="{url(world.student)}"' in progress


@pytest.mark.parametrize("role", ["other_teacher", "student", "guardian"])
def test_whoever_may_not_assess_the_student_is_refused_and_nothing_is_recorded(world, role):
    subject = f.SubjectFactory(school=world.school)
    client = signed_in(world.user(role))

    page = client.get(url(world.student))
    sent = client.post(
        url(world.student), {"form_key": "k", "subject_id": subject.pk, "kind": "quiz", "score": "1", "max_score": "2"}
    )
    progress = client.get(f"/app/students/{world.student.pk}/progress/")

    assert page.status_code in {403, 404}
    assert sent.status_code == page.status_code
    assert not ProgressAssessment.objects.filter(student=world.student).exists()
    assert url(world.student) not in progress.content.decode()
