"""What the APIs do not reach on their own: direct service calls and the plain selectors."""

from __future__ import annotations

import pytest

from chalkboard.activity.models import ActivityLog
from chalkboard.common.errors import Forbidden, NotFound, ValidationFailed
from chalkboard.people import selectors, services
from chalkboard.people.models import SchoolTeacher, TeachingAssignment
from chalkboard.schools.access import Viewer
from chalkboard.schools.models import Membership, Role

pytestmark = pytest.mark.django_db


def test_teacher_update_needs_a_school_for_school_level_fields(world):
    with pytest.raises(ValidationFailed) as refused:
        services.teacher_update(viewer=Viewer.for_user(world.owner), teacher=world.teacher, clear_group_rate=True)

    assert "school_id" in (refused.value.fields or {})


def test_deactivating_a_student_who_already_left_records_nothing(world):
    world.student.is_active = False
    world.student.save()
    world.student.user.memberships.update(is_active=False)

    services.student_deactivate(viewer=Viewer.for_user(world.owner), student=world.student)

    assert not ActivityLog.objects.filter(verb="student.deactivated").exists()


def test_student_get_for_viewer(world, other_world):
    viewer = Viewer.for_user(world.teacher.user)

    assert selectors.student_get_for_viewer(viewer=viewer, student_id=world.student.pk) == world.student
    with pytest.raises(NotFound):
        selectors.student_get_for_viewer(viewer=viewer, student_id=world.other_student.pk)
    with pytest.raises(NotFound):
        selectors.student_get_for_viewer(viewer=viewer, student_id=other_world.student.pk)


def test_teacher_get_for_viewer(world, other_world):
    viewer = Viewer.for_user(world.admin)

    assert selectors.teacher_get_for_viewer(viewer=viewer, teacher_id=world.teacher.pk) == world.teacher
    with pytest.raises(NotFound):
        selectors.teacher_get_for_viewer(viewer=viewer, teacher_id=other_world.teacher.pk)


def test_school_records_and_assignments_name_who_they_join(world):
    from chalkboard.people.models import SchoolTeacher, TeachingAssignment

    record, _ = SchoolTeacher.objects.get_or_create(teacher=world.teacher, school=world.school)
    assignment, _ = TeachingAssignment.objects.get_or_create(
        teacher=world.teacher, student=world.student, defaults={"school": world.school}
    )

    assert str(record) == f"{world.teacher.pk} @ {world.school.pk}"
    assert str(assignment) == f"{world.teacher.pk} teaches {world.student.pk}"


def test_every_people_write_checks_its_viewer_itself_whoever_calls_it(world):
    """The views check before parsing, for the order of answers; the services check again, so no caller
    (a page, a job, a future view) can forget to."""
    teacher = Viewer.for_user(world.teacher.user)
    assignment = services.assignment_create(
        viewer=Viewer.for_user(world.owner), student=world.student, teacher_id=world.teacher.pk
    )
    writes = [
        lambda: services.student_update(viewer=teacher, student=world.student, grade="Hacked"),
        lambda: services.student_deactivate(viewer=teacher, student=world.student),
        lambda: services.assignment_create(viewer=teacher, student=world.other_student, teacher_id=world.teacher.pk),
        lambda: services.assignment_delete(viewer=teacher, assignment=assignment),
        lambda: services.teacher_deactivate(viewer=teacher, teacher=world.other_teacher, school=world.school),
        lambda: services.teacher_update(viewer=teacher, teacher=world.other_teacher, school=world.school, bio="Mine"),
        lambda: services.teacher_update(viewer=teacher, teacher=world.teacher, school=world.school, subject_ids=[]),
        lambda: services.guardian_update(viewer=teacher, guardian=world.guardian, school=world.school, student_ids=[]),
        lambda: services.guardian_remove(viewer=teacher, guardian=world.guardian, school=world.school),
    ]
    for write in writes:
        with pytest.raises(Forbidden):
            write()

    world.student.refresh_from_db()
    assert world.student.grade != "Hacked"
    assert world.student.is_active
    assert TeachingAssignment.objects.filter(pk=assignment.pk).exists()
    assert not TeachingAssignment.objects.filter(student=world.other_student, teacher=world.teacher).exists()
    assert Membership.objects.get(user=world.other_teacher.user, school=world.school, role=Role.TEACHER).is_active
    assert world.guardian.wards.filter(student__school=world.school).exists()


def test_a_teacher_writes_their_own_bio_through_the_service(world):
    services.teacher_update(
        viewer=Viewer.for_user(world.teacher.user), teacher=world.teacher, school=world.school, bio="Loves maths"
    )

    assert SchoolTeacher.objects.get(teacher=world.teacher, school=world.school).bio == "Loves maths"
