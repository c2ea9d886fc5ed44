"""What the APIs do not reach on their own: direct service calls and the plain selectors."""

from __future__ import annotations

import pytest

from chalkboard.activity.models import ActivityLog
from chalkboard.common.errors import NotFound, ValidationFailed
from chalkboard.people import selectors, services
from chalkboard.schools.access import Viewer

pytestmark = pytest.mark.django_db


def test_teacher_update_needs_a_school_for_school_level_fields(world):
    with pytest.raises(ValidationFailed) as refused:
        services.teacher_update(teacher=world.teacher, by=world.owner, clear_group_rate=True)

    assert "school_id" in (refused.value.fields or {})


def test_deactivating_a_student_who_already_left_records_nothing(world):
    world.student.is_active = False
    world.student.save()
    world.student.user.memberships.update(is_active=False)

    services.student_deactivate(student=world.student, by=world.owner)

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
