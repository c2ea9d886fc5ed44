from __future__ import annotations

import pytest
from django.db import transaction

from chalkboard.common.cache import school_scope, student_scope, teacher_scope, versions_get
from chalkboard.realtime.models import Event, EventType
from chalkboard.realtime.services import event_emit, school_changed

pytestmark = pytest.mark.django_db(transaction=True)


def test_event_is_recorded_and_versions_bumped_on_commit(world):
    scopes = [teacher_scope(world.teacher.pk, world.school.pk), student_scope(world.student.pk)]
    assert set(versions_get(scopes).values()) == {0}
    with transaction.atomic():
        event = event_emit(
            type=EventType.SESSION_UPDATED,
            school_id=world.school.pk,
            teacher_id=world.teacher.pk,
            student_ids=[world.student.pk],
            data={"session_id": world.session.pk},
        )
        assert set(versions_get(scopes).values()) == {0}

    assert Event.objects.get() == event
    assert set(versions_get(scopes).values()) == {1}


def test_a_rolled_back_write_records_and_bumps_nothing(world):
    scope = school_scope(world.school.pk)
    before = versions_get([scope])[scope]
    with pytest.raises(RuntimeError), transaction.atomic():
        event_emit(type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=None, data={})
        school_changed(school_id=world.school.pk)
        raise RuntimeError

    assert not Event.objects.exists()
    assert versions_get([scope])[scope] == before


def test_school_changed_bumps_the_school(world):
    scope = school_scope(world.school.pk)
    before = versions_get([scope])[scope]
    school_changed(school_id=world.school.pk)
    assert versions_get([scope])[scope] == before + 1
