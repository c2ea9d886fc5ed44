"""The two schools every security test runs against, with one object of every kind and every actor.

``world`` (from ``tests/conftest.py``) is the school under test; ``other_world`` is another school whose
people are the "member of another school" actors. Both are filled alike, so that a list answered to the
wrong person would show rows from the other school.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient

from chalkboard.accounts.models import User
from chalkboard.calendars.models import CalendarFeed
from chalkboard.calendars.services import feed_create
from chalkboard.completion import services as completion
from chalkboard.earnings.models import EarningEntry, Payout
from chalkboard.earnings.services import earnings_approve, payout_create
from chalkboard.invitations.models import Invitation
from chalkboard.invitations.services import invitation_create
from chalkboard.people.models import TeachingAssignment
from chalkboard.progress.models import ProgressAssessment, ProgressGoal
from chalkboard.scheduling.models import Session
from chalkboard.schools.access import Viewer
from chalkboard.schools.models import Membership, Role, Skill, Subject
from chalkboard.webhooks.models import Delivery, DeliveryStatus, Endpoint
from chalkboard.webhooks.services import endpoint_create
from tests import factories as f
from tests.conftest import SchoolWorld, client_for

# The columns of the permission matrix, in the order the table writes them.
ACTORS = (
    "owner",
    "admin",
    "teacher",  # teaches "the object" (the session, the student, the entries...)
    "other_teacher",  # teaches in the same school, not the object
    "student",  # the student of the object
    "other_student",
    "guardian",  # the guardian of ``student``
    "other_guardian",  # the guardian of ``other_student``
    "foreign_owner",  # owner, admin and teacher of another school
    "foreign_admin",
    "foreign_teacher",
    "revoked",  # the owner, with a token revoked by logout
    "anonymous",
)
FAMILY = frozenset({"student", "other_student", "guardian", "other_guardian"})
FOREIGN = frozenset({"foreign_owner", "foreign_admin", "foreign_teacher"})
UNAUTHENTICATED = frozenset({"revoked", "anonymous"})

STUDENT_RECORD = "Private record: staff only."
NOTE_TEXTS = {"shared": "shared note", "staff": "staff note", "admin": "admin note"}


@dataclass
class Filled:
    """One school of the scene: the ``SchoolWorld`` and the objects added to it."""

    world: SchoolWorld
    subject: Subject
    spare_subject: Subject  # referenced by nothing, so it may be deleted
    skill: Skill
    started: Session  # the teacher's, begun two hours ago, still scheduled
    completed: Session  # the teacher's, completed: its entry is pending
    approved_entry: EarningEntry
    held_entry: EarningEntry  # the teacher's, completed seven weeks late: held for the school's review
    payout: Payout
    other_teacher_entry: EarningEntry
    assessment: ProgressAssessment
    other_assessment: ProgressAssessment
    goal: ProgressGoal
    other_goal: ProgressGoal
    invitation: Invitation  # the owner's, of an address with no account, to be a student
    feed: CalendarFeed  # the owner's calendar feed of the school
    feed_token: str  # the secret of its address
    webhook_endpoint: Endpoint  # the owner's webhook endpoint of the school
    webhook_delivery: Delivery  # a delivery of one of the school's events to it, delivered

    @property
    def pending_entry(self) -> EarningEntry:
        return EarningEntry.objects.get(session=self.completed)

    def ids(self) -> dict[str, Any]:
        """The ids the table's paths and bodies name (and the feed's secret, which its address names)."""
        w = self.world
        return {
            "school": w.school.pk,
            "session": w.session.pk,
            "started": self.started.pk,
            "completed": self.completed.pk,
            "subject": self.subject.pk,
            "spare_subject": self.spare_subject.pk,
            "skill": self.skill.pk,
            "teacher": w.teacher.pk,
            "other_teacher": w.other_teacher.pk,
            "student": w.student.pk,
            "guardian": w.guardian.pk,
            "membership": Membership.objects.get(user=w.teacher.user, school=w.school, role=Role.TEACHER).pk,
            "assessment": self.assessment.pk,
            "goal": self.goal.pk,
            "pending_entry": self.pending_entry.pk,
            "approved_entry": self.approved_entry.pk,
            "held_entry": self.held_entry.pk,
            "payout": self.payout.pk,
            "invitation": self.invitation.pk,
            "assignment": TeachingAssignment.objects.get(teacher=w.teacher, student=w.student).pk,
            "feed": self.feed.pk,
            "feed_token": self.feed_token,
            "webhook_endpoint": self.webhook_endpoint.pk,
            "webhook_delivery": self.webhook_delivery.pk,
        }


def _complete(session: Session, *, by: User, minutes: int = 50) -> EarningEntry:
    viewer = Viewer.for_user(by)
    marks = [
        completion.AttendanceMark(student_id=seat.student_id, status="present") for seat in session.attendees.all()
    ]
    completion.session_complete(viewer=viewer, session_id=session.pk, attendance=marks, actual_duration_minutes=minutes)
    return EarningEntry.objects.get(session=session)


def fill(world: SchoolWorld) -> Filled:
    """Everything the table needs an object of, in ``world``'s school."""
    now = timezone.now()
    w = world
    subject = w.session.subject
    w.student.notes = STUDENT_RECORD
    w.student.save(update_fields=["notes"])
    w.other_student.notes = STUDENT_RECORD
    w.other_student.save(update_fields=["notes"])
    skill = f.SkillFactory(subject=subject)
    spare_subject = f.SubjectFactory(school=w.school)
    started = f.session_for(w.teacher, w.student, subject=subject, starts_at=now - timedelta(hours=2))
    completed = f.session_for(w.teacher, w.student, subject=subject, starts_at=now - timedelta(days=3))
    _complete(completed, by=w.teacher.user)
    f.note_on(completed, author=w.teacher.user, visibility="staff", text=NOTE_TEXTS["staff"])
    approved_session = f.session_for(w.teacher, w.student, subject=subject, starts_at=now - timedelta(days=4))
    paid_session = f.session_for(w.teacher, w.student, subject=subject, starts_at=now - timedelta(days=5))
    approved_entry = _complete(approved_session, by=w.teacher.user)
    late_session = f.session_for(w.teacher, w.student, subject=subject, starts_at=now - timedelta(days=50))
    held_entry = _complete(late_session, by=w.teacher.user)
    paid_entry = _complete(paid_session, by=w.teacher.user)
    other_session = f.session_for(w.other_teacher, w.other_student, subject=subject, starts_at=now - timedelta(days=3))
    other_teacher_entry = _complete(other_session, by=w.other_teacher.user)
    f.note_on(other_session, author=w.other_teacher.user, visibility="admin", text=NOTE_TEXTS["admin"])
    earnings_approve(viewer=Viewer.for_user(w.owner), school=w.school, entry_ids=[approved_entry.pk, paid_entry.pk])
    payout = payout_create(
        viewer=Viewer.for_user(w.owner), school=w.school, teacher_id=w.teacher.pk, entry_ids=[paid_entry.pk]
    )
    assessment = ProgressAssessment.objects.create(
        school=w.school,
        student=w.student,
        subject=subject,
        skill=skill,
        teacher=w.teacher,
        session=completed,
        kind="quiz",
        score=Decimal("8"),
        max_score=Decimal("10"),
        percentage=Decimal("80.00"),
        assessed_at=now - timedelta(days=3),
    )
    other_assessment = ProgressAssessment.objects.create(
        school=w.school,
        student=w.other_student,
        subject=subject,
        teacher=w.other_teacher,
        kind="test",
        score=Decimal("5"),
        max_score=Decimal("10"),
        percentage=Decimal("50.00"),
        assessed_at=now - timedelta(days=2),
    )
    goal = ProgressGoal.objects.create(
        student=w.student,
        subject=subject,
        title="Fractions at 80%",
        target_percentage=Decimal("80"),
        created_by=w.owner,
    )
    other_goal = ProgressGoal.objects.create(
        student=w.other_student, subject=subject, title="Algebra", target_percentage=Decimal("70"), created_by=w.owner
    )
    invitation, _ = invitation_create(
        viewer=Viewer.for_user(w.owner), school=w.school, email=f"invitee.{w.school.pk}@example.test", role="student"
    )
    feed, feed_token = feed_create(viewer=Viewer.for_user(w.owner), kind="school", school_id=w.school.pk)
    webhook_endpoint, _ = endpoint_create(
        viewer=Viewer.for_user(w.owner), school_id=w.school.pk, url="https://hooks.example.com/in", event_types=[]
    )
    webhook_delivery = Delivery.objects.create(
        endpoint=webhook_endpoint,
        event_id=0,
        event_type="session.updated",
        payload="{}",
        status=DeliveryStatus.DELIVERED,
        next_attempt_at=now,
        delivered_at=now,
    )
    return Filled(
        world=w,
        subject=subject,
        spare_subject=spare_subject,
        skill=skill,
        started=started,
        completed=completed,
        approved_entry=approved_entry,
        held_entry=held_entry,
        payout=payout,
        other_teacher_entry=other_teacher_entry,
        assessment=assessment,
        other_assessment=other_assessment,
        goal=goal,
        other_goal=other_goal,
        invitation=invitation,
        feed=feed,
        feed_token=feed_token,
        webhook_endpoint=webhook_endpoint,
        webhook_delivery=webhook_delivery,
    )


# Which school, and which role there, each actor speaks for (the foreign actors are the other school's).
PERSONA: dict[str, tuple[str, str]] = {
    "owner": ("home", "owner"),
    "admin": ("home", "admin"),
    "teacher": ("home", "teacher"),
    "other_teacher": ("home", "other_teacher"),
    "student": ("home", "student"),
    "other_student": ("home", "other_student"),
    "guardian": ("home", "guardian"),
    "other_guardian": ("home", "other_guardian"),
    "foreign_owner": ("away", "owner"),
    "foreign_admin": ("away", "admin"),
    "foreign_teacher": ("away", "teacher"),
    "revoked": ("home", "owner"),
    "anonymous": ("home", "anonymous"),
}


@dataclass
class Scene:
    home: Filled
    away: Filled
    clients: dict[str, APIClient] = field(default_factory=dict)

    def persona(self, actor: str) -> tuple[Filled, str]:
        side, role = PERSONA[actor]
        return (self.home if side == "home" else self.away), role

    def user(self, actor: str) -> User | None:
        if actor == "anonymous":
            return None
        filled, role = self.persona(actor)
        return filled.world.user(role)

    def client(self, actor: str) -> APIClient:
        return self.clients[actor]

    def authorization(self, actor: str) -> str | None:
        """The ``Authorization`` header the actor's client sends (``None`` for ``anonymous``): the socket is
        opened with the same credential as the actor's HTTP requests, revoked for ``revoked``."""
        return self.clients[actor]._credentials.get("HTTP_AUTHORIZATION")

    def emails(self, side: str) -> set[str]:
        filled = self.home if side == "home" else self.away
        return set(
            Membership.objects.filter(school=filled.world.school).values_list("user__email", flat=True).distinct()
        )


def build_scene(world: SchoolWorld, other_world: SchoolWorld, *, actors: Any = ACTORS) -> Scene:
    scene = Scene(home=fill(world), away=fill(other_world))
    for actor in actors:
        scene.clients[actor] = client_for(scene.user(actor))
    if "revoked" in scene.clients:
        assert scene.clients["revoked"].post("/api/auth/logout/").status_code == 204
    return scene


def walk(value: Any) -> Iterator[tuple[str | None, Any]]:
    """Every (key, value) pair in a JSON document, at any depth (``None`` for list items and the root)."""
    yield None, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def leaks(scene: Scene, actor: str, body: Any) -> list[str]:
    """What the body (an HTTP answer, or a message on the dashboard socket) shows that the actor may never see."""
    _, role = scene.persona(actor)
    other_side = "home" if actor in FOREIGN else "away"
    other_school = (scene.home if other_side == "home" else scene.away).world.school.name
    forbidden_text = scene.emails(other_side) | {other_school}
    forbidden_keys: set[str] = set()
    forbidden_levels: set[str] = set()
    if actor in FAMILY:
        forbidden_text |= {NOTE_TEXTS["staff"], NOTE_TEXTS["admin"], STUDENT_RECORD}
        forbidden_keys |= {"rates", "hourly_rate"}
        forbidden_levels |= {"staff", "admin"}
    elif role in ("teacher", "other_teacher"):
        forbidden_text |= {NOTE_TEXTS["admin"], STUDENT_RECORD}
        forbidden_levels.add("admin")
        if role == "other_teacher":  # every staff note of the school is on the other teacher's sessions
            forbidden_text.add(NOTE_TEXTS["staff"])
    found = []
    for key, value in walk(body):
        if key in forbidden_keys:
            found.append(f"key {key!r}")
        if isinstance(value, str) and value in forbidden_text:
            found.append(f"text {value!r}")
        if isinstance(value, dict) and "text" in value and value.get("visibility") in forbidden_levels:
            found.append(f"a {value['visibility']} note")
    return found
