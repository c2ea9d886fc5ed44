"""What waits for a school's staff: pending and held entries, per teacher and in all, as the viewer sees them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from chalkboard.earnings.models import EarningEntry
from chalkboard.earnings.selectors import earnings_awaiting_in_school
from chalkboard.schools.access import Viewer

pytestmark = pytest.mark.django_db


def entry(world, teacher, amount: str, status: str) -> EarningEntry:
    return EarningEntry.objects.create(
        school=world.school,
        teacher=teacher,
        amount=Decimal(amount),
        currency=world.school.currency,
        minutes=60,
        hourly_rate=Decimal("30.00"),
        earned_at=timezone.now(),
        status=status,
        hold_reason="Held for review." if status == "held" else "",
    )


def test_staff_see_every_teachers_and_a_teacher_only_their_own(world, other_world):
    entry(world, world.teacher, "0.10", "pending")
    entry(world, world.teacher, "0.20", "pending")
    entry(world, world.other_teacher, "5.00", "held")
    entry(world, world.teacher, "9.00", "approved")
    entry(other_world, other_world.teacher, "70.00", "pending")

    staff = earnings_awaiting_in_school(viewer=Viewer.for_user(world.owner), school_id=world.school.pk)
    teacher = earnings_awaiting_in_school(viewer=Viewer.for_user(world.teacher.user), school_id=world.school.pk)
    outsider = earnings_awaiting_in_school(viewer=Viewer.for_user(other_world.owner), school_id=world.school.pk)

    assert staff == {
        "pending": {"entries": 2, "amount": "0.30"},
        "held": {"entries": 1, "amount": "5.00"},
        "by_teacher": {
            world.teacher.pk: {"pending": {"entries": 2, "amount": "0.30"}, "held": {"entries": 0, "amount": "0.00"}},
            world.other_teacher.pk: {
                "pending": {"entries": 0, "amount": "0.00"},
                "held": {"entries": 1, "amount": "5.00"},
            },
        },
    }
    assert teacher["pending"] == {"entries": 2, "amount": "0.30"}
    assert set(teacher["by_teacher"]) == {world.teacher.pk}
    assert outsider == {
        "pending": {"entries": 0, "amount": "0.00"},
        "held": {"entries": 0, "amount": "0.00"},
        "by_teacher": {},
    }
