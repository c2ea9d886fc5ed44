"""Invitations through their services: who may send them, when they hold, and what accepting makes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from chalkboard.accounts.models import User
from chalkboard.common.errors import Conflict, Forbidden, ValidationFailed
from chalkboard.invitations import services
from chalkboard.invitations.models import Invitation, InvitationStatus
from chalkboard.people.models import GuardianLink, SchoolTeacher, Student, TeacherRate
from chalkboard.people.services import (
    RateInput,
    guardian_invitation_details,
    student_invitation_details,
    teacher_invitation_details,
)
from chalkboard.schools.access import Viewer
from chalkboard.schools.models import Membership, Role
from tests import factories as f
from tests.conftest import SchoolWorld

pytestmark = pytest.mark.django_db
PASSWORD = "a long enough secret 1234"


def invite(world: SchoolWorld, email: str, role: str = Role.STUDENT, by: User | None = None, **details: Any):
    return services.invitation_create(
        viewer=Viewer.for_user(by or world.owner), school=world.school, email=email, role=role, details=details
    )


def test_an_admin_may_not_invite_staff_and_a_teacher_invites_nobody(world: SchoolWorld) -> None:
    with pytest.raises(Forbidden):
        invite(world, "boss@example.test", Role.OWNER, by=world.admin)
    with pytest.raises(Forbidden):
        invite(world, "kid@example.test", Role.STUDENT, by=world.teacher.user)
    assert not Invitation.objects.exists()


def test_a_new_invitation_withdraws_the_older_one_to_the_same_role(world: SchoolWorld) -> None:
    first, _ = invite(world, "Kid@Example.test")
    second, _ = invite(world, "kid@example.test")

    first.refresh_from_db()
    assert first.status_at(timezone.now()) == InvitationStatus.REVOKED
    assert second.status_at(timezone.now()) == InvitationStatus.PENDING
    assert second.email == "kid@example.test"
    assert str(second) == f"student @ {world.school.pk}"  # never the address, in logs or the admin


def test_the_letter_goes_on_commit_and_a_mail_failure_loses_only_the_letter(
    world: SchoolWorld, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        _, token = invite(world, "kid@example.test")
    assert [letter.to for letter in mail.outbox] == [["kid@example.test"]]
    assert token in mail.outbox[0].body

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("mail server down")

    monkeypatch.setattr(services, "send_mail", broken)
    with django_capture_on_commit_callbacks(execute=True):
        invitation, _ = invite(world, "other@example.test")
    assert Invitation.objects.filter(pk=invitation.pk).exists()
    assert len(mail.outbox) == 1


def test_an_invitation_is_accepted_once(world: SchoolWorld) -> None:
    invitation, _ = invite(world, world.other_guardian.email)
    services.invitation_accept(invitation=invitation, user=world.other_guardian)

    with pytest.raises(Conflict) as refused:
        services.invitation_accept(invitation=invitation, user=world.other_guardian)
    assert refused.value.message == services.NOT_PENDING[InvitationStatus.ACCEPTED]


def test_an_expired_invitation_is_refused(world: SchoolWorld) -> None:
    invitation, token = invite(world, "late@example.test")
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    with pytest.raises(ValidationFailed):
        services.invitation_accept_with_token(token=token, password=PASSWORD)
    assert not User.objects.filter(email="late@example.test").exists()


def test_an_invitation_holds_only_while_its_sender_may_send_it(world: SchoolWorld) -> None:
    invitation, _ = invite(world, world.other_guardian.email, Role.ADMIN)
    Membership.objects.filter(user=world.owner, school=world.school).update(is_active=False)

    with pytest.raises(Conflict) as refused:
        services.invitation_accept(invitation=invitation, user=world.other_guardian)
    assert refused.value.message == services.INVITER_GONE

    orphan, _ = invite(world, "orphan@example.test", by=world.admin)
    Invitation.objects.filter(pk=orphan.pk).update(invited_by=None)
    with pytest.raises(Conflict):
        services.invitation_accept(invitation=orphan, user=f.UserFactory(email="orphan@example.test"))
    assert not Membership.objects.filter(user__email="orphan@example.test").exists()


def test_a_weak_password_is_refused_before_anything_is_made(world: SchoolWorld) -> None:
    _, token = invite(world, "weak@example.test")

    with pytest.raises(ValidationFailed) as refused:
        services.invitation_accept_with_token(token=token, password="123")
    assert "password" in (refused.value.fields or {})
    assert not User.objects.filter(email="weak@example.test").exists()


def test_a_token_names_an_address_that_got_an_account_since(world: SchoolWorld) -> None:
    _, token = invite(world, "racer@example.test")
    f.UserFactory(email="racer@example.test")

    with pytest.raises(Conflict):
        services.invitation_accept_with_token(token=token, password=PASSWORD)


def test_withdrawing(world: SchoolWorld) -> None:
    staff_invitation, _ = invite(world, "boss@example.test", Role.ADMIN)
    with pytest.raises(Forbidden):
        services.invitation_revoke(viewer=Viewer.for_user(world.admin), invitation=staff_invitation)

    services.invitation_revoke(viewer=Viewer.for_user(world.owner), invitation=staff_invitation)
    with pytest.raises(Conflict):
        services.invitation_revoke(viewer=Viewer.for_user(world.owner), invitation=staff_invitation)


def test_a_teacher_accepting_gets_the_schools_record_subjects_and_rates(world: SchoolWorld) -> None:
    subject = world.session.subject
    gone = f.SubjectFactory(school=world.school)
    details = teacher_invitation_details(
        school=world.school,
        default_hourly_rate=Decimal("31"),
        group_hourly_rate=Decimal("21"),
        bio="Ours.",
        subject_ids=[subject.pk],
        rates=[
            RateInput(subject_id=subject.pk, is_group=False, hourly_rate=Decimal("40")),
            RateInput(subject_id=gone.pk, is_group=False, hourly_rate=Decimal("41")),
        ],
    )
    invitation, _ = invite(world, world.other_guardian.email, Role.TEACHER, **details)
    gone.delete()  # a subject that left the school since is dropped

    services.invitation_accept(invitation=invitation, user=world.other_guardian)

    teacher = world.other_guardian.teacher
    assert SchoolTeacher.objects.get(teacher=teacher, school=world.school).bio == "Ours."
    assert list(teacher.subjects.all()) == [subject]
    rates = TeacherRate.objects.filter(teacher=teacher).values_list("subject_id", "is_group", "hourly_rate")
    assert sorted(rates, key=str) == sorted(
        [(None, False, Decimal("31")), (None, True, Decimal("21")), (subject.pk, False, Decimal("40"))], key=str
    )


def test_a_bare_teacher_invitation_makes_the_profile_only(world: SchoolWorld) -> None:
    invitation, _ = invite(world, world.other_guardian.email, Role.TEACHER)

    services.invitation_accept(invitation=invitation, user=world.other_guardian)

    assert SchoolTeacher.objects.get(teacher=world.other_guardian.teacher, school=world.school).bio == ""
    assert not TeacherRate.objects.filter(teacher=world.other_guardian.teacher).exists()


def test_a_student_accepting_keeps_only_guardians_still_in_the_school(world: SchoolWorld) -> None:
    details = student_invitation_details(
        school=world.school, grade="4", notes="", guardian_ids=[world.guardian.pk, world.other_guardian.pk]
    )
    invitation, _ = invite(world, "pupil@example.test", **details)
    Membership.objects.filter(user=world.other_guardian, role=Role.GUARDIAN).update(is_active=False)
    user = f.UserFactory(email="pupil@example.test")

    services.invitation_accept(invitation=invitation, user=user)

    student = Student.objects.get(user=user)
    assert (student.grade, student.is_active) == ("4", True)
    assert set(student.guardian_links.values_list("guardian_id", flat=True)) == {world.guardian.pk}


def test_a_current_student_accepting_an_empty_invitation_changes_nothing(world: SchoolWorld) -> None:
    invitation, _ = invite(world, world.student.user.email)
    before = Student.objects.get(pk=world.student.pk).updated_at

    services.invitation_accept(invitation=invitation, user=world.student.user)

    assert Student.objects.get(pk=world.student.pk).updated_at == before


def test_a_guardian_accepting_is_linked_to_the_students_named(world: SchoolWorld) -> None:
    details = guardian_invitation_details(
        school=world.school, student_ids=[world.other_student.pk], relationship="aunt"
    )
    invitation, _ = invite(world, world.guardian.email, Role.GUARDIAN, **details)

    services.invitation_accept(invitation=invitation, user=world.guardian)

    links = GuardianLink.objects.filter(guardian=world.guardian).values_list("student_id", "relationship")
    assert sorted(links) == sorted([(world.student.pk, "aunt"), (world.other_student.pk, "aunt")])
