from __future__ import annotations

import asyncio
import logging

import pytest
from django.db import transaction
from django.test import override_settings

from chalkboard.realtime import publishing
from chalkboard.realtime.models import Event, EventType
from chalkboard.realtime.publishing import event_groups, event_publish, staff_group, teacher_group
from chalkboard.realtime.services import event_emit


def test_an_event_concerns_its_school_staff_and_its_teacher_there():
    assert event_groups(school_id=3, teacher_id=7) == ["school.3.staff", "teacher.7.school.3"]
    assert event_groups(school_id=3, teacher_id=None) == ["school.3.staff"]
    assert staff_group(3) == "school.3.staff"
    assert teacher_group(7, 3) == "teacher.7.school.3"


def test_without_a_channel_layer_publishing_does_nothing(monkeypatch):
    def must_not_send(*args, **kwargs):
        raise AssertionError("nothing to send through")

    monkeypatch.setattr(publishing, "_send_all", must_not_send)
    with override_settings(CHANNEL_LAYERS={}):
        event_publish(event_id=1, school_id=1, teacher_id=None)


def test_a_channel_layer_that_fails_is_logged_and_never_raised(monkeypatch, caplog):
    class Down(ConnectionError):
        pass

    async def down(self, group, message):
        raise Down("redis is down")

    monkeypatch.setattr(type(publishing.get_channel_layer()), "group_send", down)
    with caplog.at_level(logging.WARNING, logger="chalkboard.realtime"):
        event_publish(event_id=41, school_id=1, teacher_id=2)

    assert "could not publish event 41" in caplog.text


def test_a_channel_layer_that_hangs_gives_up_after_the_timeout(monkeypatch, caplog):
    async def hang(self, group, message):
        await asyncio.sleep(30)

    monkeypatch.setattr(type(publishing.get_channel_layer()), "group_send", hang)
    monkeypatch.setattr(publishing, "PUBLISH_TIMEOUT_SECONDS", 0.05)
    with caplog.at_level(logging.WARNING, logger="chalkboard.realtime"):
        event_publish(event_id=42, school_id=1, teacher_id=None)

    assert "could not publish event 42" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_publish_failure_does_not_break_the_writer(world, monkeypatch):
    async def down(self, group, message):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(type(publishing.get_channel_layer()), "group_send", down)
    with transaction.atomic():
        event = event_emit(
            type=EventType.SESSION_COMPLETED, school_id=world.school.pk, teacher_id=world.teacher.pk, data={}
        )

    assert Event.objects.get().pk == event.pk
