from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from knox.models import AuthToken

from chalkboard.realtime import selectors
from chalkboard.realtime.log import event_horizon_read
from chalkboard.realtime.models import Event, EventType
from chalkboard.realtime.selectors import (
    RESYNC_BACKLOG_TOO_LARGE,
    RESYNC_SINCE_TOO_OLD,
    RESYNC_SINCE_UNKNOWN,
    Audience,
    event_messages_after,
    replay_start,
    token_valid,
)
from chalkboard.schools.access import Viewer
from chalkboard.schools.models import Role
from tests import factories as f

pytestmark = pytest.mark.django_db


def audience(user) -> Audience:
    return Audience.of(Viewer.for_user(user))


def add(school_id: int, teacher_id: int | None, type: str = EventType.SESSION_UPDATED, **data) -> Event:
    return Event.objects.create(type=type, school_id=school_id, teacher_id=teacher_id, data=data)


def horizon() -> int:
    found = event_horizon_read()
    assert not found.writers  # nobody else writes the log here
    return found.latest


def visible_ids(user, after_id: int = 0, limit: int = 100) -> list[int]:
    return [
        m["id"]
        for m in event_messages_after(audience=audience(user), after_id=after_id, upto_id=horizon(), limit=limit)
    ]


def start(user, since: int | None) -> tuple[int, str | None]:
    return replay_start(audience=audience(user), since=since, horizon=horizon())


def test_audiences_follow_the_roles(world):
    school = world.school.pk
    assert audience(world.owner) == Audience(world.owner.pk, frozenset({school}), frozenset())
    assert audience(world.admin) == Audience(world.admin.pk, frozenset({school}), frozenset())
    teacher = audience(world.teacher.user)
    assert teacher == Audience(world.teacher.pk, frozenset(), frozenset({school}))
    for role in ("student", "guardian"):
        assert audience(world.user(role)).hears_nothing
    assert not teacher.hears_nothing


def test_an_owner_who_teaches_hears_the_whole_school_and_a_teacher_elsewhere_only_their_own(world, other_world):
    f.member(school=other_world.school, role=Role.ADMIN, user=world.teacher.user)
    f.teacher_in(other_world.school, user=world.owner)
    owner = audience(world.owner)
    assert owner == Audience(world.owner.pk, frozenset({world.school.pk}), frozenset({other_world.school.pk}))
    assert audience(world.teacher.user) == Audience(
        world.teacher.pk, frozenset({other_world.school.pk}), frozenset({world.school.pk})
    )


def test_who_sees_which_event(world, other_world):
    school, other = world.school.pk, other_world.school.pk
    own = add(school, world.teacher.pk).pk
    colleague = add(school, world.other_teacher.pk).pk
    schoolwide = add(school, None).pk
    elsewhere = add(other, other_world.teacher.pk).pk
    # The teacher's id on an event of a school where they do not teach shows nothing to them.
    foreign_with_my_id = add(other, world.teacher.pk).pk

    assert visible_ids(world.teacher.user) == [own]
    assert visible_ids(world.other_teacher.user) == [colleague]
    assert visible_ids(world.admin) == visible_ids(world.owner) == [own, colleague, schoolwide]
    assert visible_ids(other_world.admin) == [elsewhere, foreign_with_my_id]
    for role in ("student", "other_student", "guardian", "other_guardian"):
        assert visible_ids(world.user(role)) == []


def test_messages_are_the_contract_envelope_oldest_first_after_an_id_and_limited(world):
    with time_machine.travel("2026-03-01 09:30:00.123456+00:00", tick=False):
        first = add(world.school.pk, world.teacher.pk, EventType.ASSESSMENT_CREATED, assessment_id=7, score="8.5")
    second = add(world.school.pk, None).pk
    third = add(world.school.pk, None).pk

    messages = event_messages_after(audience=audience(world.admin), after_id=0, upto_id=third, limit=2)
    assert messages[0] == {
        "id": first.pk,
        "type": "assessment.created",
        "occurred_at": "2026-03-01T09:30:00.123456Z",
        "school_id": world.school.pk,
        "teacher_id": world.teacher.pk,
        "data": {"assessment_id": 7, "score": "8.5"},
    }
    assert [m["id"] for m in messages] == [first.pk, second]
    assert visible_ids(world.admin, after_id=second) == [third]
    assert visible_ids(world.admin, after_id=third) == []
    assert [
        m["id"] for m in event_messages_after(audience=audience(world.admin), after_id=0, upto_id=second, limit=5)
    ] == [first.pk, second]


@pytest.mark.parametrize("rows", [3, 6])
def test_reading_events_is_one_query_whatever_their_number(world, rows, django_assert_num_queries):
    for _ in range(rows):
        add(world.school.pk, world.teacher.pk)
    viewer_audience = audience(world.teacher.user)
    with django_assert_num_queries(1):
        assert len(event_messages_after(audience=viewer_audience, after_id=0, upto_id=10**9, limit=100)) == rows


def test_the_horizon_is_the_newest_id(world):
    add(world.school.pk, None)
    newest = add(world.school.pk, None).pk
    assert horizon() == newest


@pytest.mark.postgres
def test_on_postgresql_the_horizon_is_the_highest_id_handed_out_even_when_rolled_back_or_pruned(world):
    newest = add(world.school.pk, None).pk
    Event.objects.filter(pk=newest).delete()
    assert horizon() == newest


def test_without_since_a_connection_starts_at_its_hubs_horizon(world):
    assert start(world.admin, since=None) == (horizon(), None)
    newest = add(world.school.pk, None)
    assert start(world.admin, since=None) == (newest.pk, None)
    assert replay_start(audience=audience(world.admin), since=None, horizon=newest.pk - 1) == (newest.pk - 1, None)


def test_since_within_the_log_replays_from_there(world):
    first = add(world.school.pk, None)
    add(world.school.pk, None)
    assert start(world.admin, since=first.pk) == (first.pk, None)
    # The id just before the oldest kept event: nothing after it is gone.
    assert start(world.admin, since=first.pk - 1) == (first.pk - 1, None)


def test_since_zero_on_an_empty_log_is_fine(world):
    assert not Event.objects.exists()
    assert start(world.admin, since=0) == (0, None)


def test_since_before_pruned_events_resyncs(world):
    pruned = add(world.school.pk, None)
    kept = add(world.school.pk, None)
    newest = add(world.school.pk, None)
    since = pruned.pk - 1
    pruned.delete()
    assert kept.pk > since + 1
    assert start(world.admin, since=since) == (newest.pk, RESYNC_SINCE_TOO_OLD)


def test_since_that_was_never_issued_resyncs(world):
    newest = add(world.school.pk, None)
    assert start(world.admin, since=newest.pk + 1) == (newest.pk, RESYNC_SINCE_UNKNOWN)
    Event.objects.all().delete()
    if connection.vendor == "postgresql":
        # Everything was pruned, but the sequence remembers handing the client's id out: nothing came after it.
        assert start(world.admin, since=newest.pk) == (newest.pk, None)
        assert start(world.admin, since=newest.pk + 1) == (newest.pk, RESYNC_SINCE_UNKNOWN)
    else:
        # Everything was pruned: nothing tells what came after the client's id.
        assert start(world.admin, since=newest.pk) == (0, RESYNC_SINCE_UNKNOWN)


def test_since_ahead_of_this_hub_is_kept(world):
    """A client that saw an id from a process whose hub reads further ahead starts after it."""
    add(world.school.pk, None)
    newest = add(world.school.pk, None)
    assert replay_start(audience=audience(world.admin), since=newest.pk, horizon=newest.pk - 1) == (newest.pk, None)


def test_a_backlog_over_the_limit_resyncs_and_only_visible_events_count(world, monkeypatch):
    monkeypatch.setattr(selectors, "BACKLOG_LIMIT", 2)
    begin = add(world.school.pk, None).pk
    add(world.school.pk, world.other_teacher.pk)
    add(world.school.pk, world.other_teacher.pk)
    add(world.school.pk, world.teacher.pk)
    newest = add(world.school.pk, world.teacher.pk).pk

    assert start(world.teacher.user, since=begin) == (begin, None)
    assert start(world.admin, since=begin) == (newest, RESYNC_BACKLOG_TOO_LARGE)


def test_a_token_is_valid_until_revoked_expired_or_its_user_deactivated(world):
    instance, _ = AuthToken.objects.create(user=world.teacher.user)
    assert token_valid(digest=instance.digest) == instance
    assert token_valid(digest="0" * 128) is None

    with time_machine.travel(instance.expiry + timedelta(seconds=1)):
        assert token_valid(digest=instance.digest) is None

    forever, _ = AuthToken.objects.create(user=world.teacher.user, expiry=None)
    assert token_valid(digest=forever.digest) == forever

    world.teacher.user.is_active = False
    world.teacher.user.save(update_fields=["is_active"])
    assert token_valid(digest=forever.digest) is None
