"""Making, rotating and revoking calendar feeds. Each takes the acting viewer and checks it.

A feed's address carries a 256-bit secret, returned once (on making and on rotating) and stored as its
SHA-256 only. Rotating replaces the secret at once: the old address stops working; revoking deletes the feed.
"""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from chalkboard.accounts.models import User
from chalkboard.calendars.models import CalendarFeed, FeedKind
from chalkboard.calendars.selectors import KIND_ROLES, feed_list
from chalkboard.common.errors import Forbidden, ValidationFailed
from chalkboard.common.secrets_digest import secret_digest
from chalkboard.people.models import Student, Teacher
from chalkboard.schools.access import Viewer

# 32 random bytes as 64 hex digits: the logs' redaction already writes any such string as [redacted].
TOKEN_BYTES = 32
MAX_FEEDS_PER_PERSON = 20
UNKNOWN_SCHOOL = "Unknown school."
UNKNOWN_STUDENT = "Unknown student, or not yours."
STUDENT_REQUIRED = "A student feed names the student."
STUDENT_NOT_ALLOWED = "Only a student feed names a student."
KIND_FORBIDDEN = {
    FeedKind.TEACHER: "Only the school's teachers have a teacher feed there.",
    FeedKind.STUDENT: "Only a student or their guardian has a student's feed.",
    FeedKind.SCHOOL: "Only the school's owners and admins have its feed.",
}
TOO_MANY = f"You have {MAX_FEEDS_PER_PERSON} calendar feeds already: revoke one first."


def _new_token() -> tuple[str, str]:
    token = secrets.token_hex(TOKEN_BYTES)
    return token, secret_digest(token)


@sensitive_variables("token")
def feed_create(
    *, viewer: Viewer, kind: str, school_id: int, student_id: int | None = None
) -> tuple[CalendarFeed, str]:
    """A new feed of the viewer's own, and its secret. 400 for a school the viewer is not in (as for one that
    does not exist); then 403 for a kind their roles there do not give; then 400 for a student who is not
    theirs (or not of the school), or a student named where the kind has none."""
    if school_id not in viewer.roles:
        raise ValidationFailed(UNKNOWN_SCHOOL, fields={"school_id": [UNKNOWN_SCHOOL]})
    teacher = Teacher.objects.filter(pk=viewer.teacher_id).first() if kind == FeedKind.TEACHER else None
    if not viewer.has_role(school_id, *KIND_ROLES[kind]) or (kind == FeedKind.TEACHER and teacher is None):
        raise Forbidden(KIND_FORBIDDEN[FeedKind(kind)])
    if kind == FeedKind.STUDENT:
        if student_id is None:
            raise ValidationFailed(STUDENT_REQUIRED, fields={"student_id": [STUDENT_REQUIRED]})
        in_school = Student.objects.filter(pk=student_id, school_id=school_id).exists()
        if student_id not in viewer.own_and_ward_student_ids or not in_school:
            raise ValidationFailed(UNKNOWN_STUDENT, fields={"student_id": [UNKNOWN_STUDENT]})
    elif student_id is not None:
        raise ValidationFailed(STUDENT_NOT_ALLOWED, fields={"student_id": [STUDENT_NOT_ALLOWED]})
    token, digest = _new_token()
    with transaction.atomic():
        # The viewer's row serializes their concurrent requests, so the limit holds under a burst.
        User.objects.select_for_update().filter(pk=viewer.user_id).first()
        if feed_list(viewer=viewer).count() >= MAX_FEEDS_PER_PERSON:
            raise ValidationFailed(TOO_MANY, code="too_many_feeds")
        feed = CalendarFeed.objects.create(
            owner=viewer.user,
            school_id=school_id,
            kind=kind,
            teacher=teacher,
            student_id=student_id if kind == FeedKind.STUDENT else None,
            token_hash=digest,
        )
    return feed, token


@sensitive_variables("token")
def feed_rotate(*, viewer: Viewer, feed: CalendarFeed) -> str:
    """A new secret for one of the viewer's feeds; the old address answers 404 from now on."""
    if feed.owner_id != viewer.user_id:
        raise Forbidden()
    token, digest = _new_token()
    feed.token_hash, feed.rotated_at = digest, timezone.now()
    feed.save(update_fields=["token_hash", "rotated_at", "updated_at"])
    return token


def feed_revoke(*, viewer: Viewer, feed: CalendarFeed) -> None:
    """Delete one of the viewer's feeds: its address answers 404 from now on."""
    if feed.owner_id != viewer.user_id:
        raise Forbidden()
    feed.delete()
