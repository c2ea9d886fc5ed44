"""The services enforce their own rules whatever the caller checked before, on the row as it is now."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction

from chalkboard.activity.models import ActivityLog
from chalkboard.common.errors import Conflict, Forbidden
from chalkboard.scheduling.models import Session
from chalkboard.scheduling.selectors import SESSION_MANAGE_FORBIDDEN
from chalkboard.scheduling.services import SESSION_NOT_CANCELLABLE, session_cancel, session_update
from chalkboard.schools.access import Viewer


@pytest.mark.django_db
def test_services_refuse_a_viewer_who_may_only_see_the_session(world):
    guardian = Viewer.for_user(world.guardian)

    with pytest.raises(Forbidden) as update_refused:
        session_update(viewer=guardian, session=world.session, location="Home")
    with pytest.raises(Forbidden) as cancel_refused:
        session_cancel(viewer=guardian, session=world.session)

    assert update_refused.value.message == cancel_refused.value.message == SESSION_MANAGE_FORBIDDEN
    world.session.refresh_from_db()
    assert (world.session.status, world.session.location, world.session.version) == ("scheduled", "", 1)


@pytest.mark.django_db
def test_permission_is_decided_on_the_current_row_not_on_a_stale_copy(world):
    stale = Session.objects.get(pk=world.session.pk)
    Session.objects.filter(pk=stale.pk).update(teacher=world.other_teacher)

    with pytest.raises(Forbidden):
        session_cancel(viewer=Viewer.for_user(world.teacher.user), session=stale)


@pytest.mark.django_db
def test_the_state_is_checked_again_inside_the_transaction(world):
    stale = Session.objects.get(pk=world.session.pk)
    Session.objects.filter(pk=stale.pk).update(status="cancelled")
    owner = Viewer.for_user(world.owner)

    with pytest.raises(Conflict) as cancel_refused:
        session_cancel(viewer=owner, session=stale)
    with pytest.raises(Conflict):
        session_update(viewer=owner, session=stale, location="Home")

    assert cancel_refused.value.message == SESSION_NOT_CANCELLABLE["cancelled"]
    assert not ActivityLog.objects.exists()


def _wait_until_blocked(*, timeout: float = 5.0) -> None:
    """Until another connection waits on a row lock (PostgreSQL)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # Inside a transaction, pg_stat_activity is a snapshot taken at its first read: refresh it.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the cancellation never waited for the row lock")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_cancellation_racing_a_completion_waits_for_it_and_then_refuses(world):
    owner = Viewer.for_user(world.owner)
    session = Session.objects.get(pk=world.session.pk)
    outcome: list[BaseException | Session] = []

    def cancel() -> None:
        try:
            outcome.append(session_cancel(viewer=owner, session=session))
        except Conflict as refused:
            outcome.append(refused)
        finally:
            connections.close_all()

    with transaction.atomic():
        # Another transaction completes the session while holding its row.
        locked = Session.objects.select_for_update().get(pk=session.pk)
        canceller = threading.Thread(target=cancel)
        canceller.start()
        _wait_until_blocked()
        locked.status = "completed"
        locked.completed_at = locked.starts_at + timedelta(hours=1)
        locked.actual_duration_minutes = 60
        locked.save()
    canceller.join(timeout=10)

    assert len(outcome) == 1
    assert isinstance(outcome[0], Conflict)
    assert outcome[0].message == SESSION_NOT_CANCELLABLE["completed"]
    session.refresh_from_db()
    assert (session.status, session.cancelled_at) == ("completed", None)


def _events():
    from chalkboard.realtime.models import Event

    return list(Event.objects.order_by("id").values("type", "teacher_id", "school_id", "data"))


def test_every_session_write_records_an_event(world):
    from datetime import timedelta

    from django.utils import timezone

    from chalkboard.scheduling.services import session_cancel, session_create, session_update
    from chalkboard.schools.access import Viewer

    viewer = Viewer.for_user(world.owner)
    session = session_create(
        viewer=viewer,
        school_id=world.school.pk,
        teacher_id=world.teacher.pk,
        subject_id=world.session.subject_id,
        student_ids=[world.student.pk],
        starts_at=timezone.now() + timedelta(days=2),
        planned_duration_minutes=45,
    )
    session_update(viewer=viewer, session=session, teacher_id=world.other_teacher.pk)
    session_cancel(viewer=viewer, session=session)

    events = _events()
    assert [(e["type"], e["teacher_id"]) for e in events] == [
        ("session.created", world.teacher.pk),
        ("session.updated", world.other_teacher.pk),
        ("session.updated", world.teacher.pk),
        ("session.cancelled", world.other_teacher.pk),
    ]
    assert {e["school_id"] for e in events} == {world.school.pk}
    assert events[-1]["data"]["session"]["status"] == "cancelled"
    assert events[-1]["data"]["session"]["student_ids"] == [world.student.pk]


@pytest.mark.parametrize("session_id", [0, -1, 2**63])
def test_an_id_no_database_row_can_have_is_simply_not_found(world, session_id):
    from chalkboard.common.errors import NotFound
    from chalkboard.scheduling.selectors import session_get_for_viewer
    from chalkboard.schools.access import Viewer

    with pytest.raises(NotFound):
        session_get_for_viewer(viewer=Viewer.for_user(world.owner), session_id=session_id)


def test_a_session_reads_as_its_subject_and_start(world):
    assert str(world.session) == f"{world.session.subject_id} @ {world.session.starts_at:%Y-%m-%d %H:%M}"
