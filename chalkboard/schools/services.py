"""Writes to schools, memberships, subjects and skills."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone as django_timezone

from chalkboard.accounts.models import User
from chalkboard.activity.services import activity_record
from chalkboard.common.cache import school_scope, user_scope, versions_bump_on_commit
from chalkboard.common.errors import Conflict, Forbidden, ValidationFailed
from chalkboard.common.services import model_update
from chalkboard.common.timezones import is_iana_zone
from chalkboard.schools.access import STAFF, Action, Viewer
from chalkboard.schools.models import (
    DEFAULT_LATE_CLAIM_DAYS,
    DEFAULT_OVERRUN_MINUTES,
    DEFAULT_PAID_AMEND_DAYS,
    MAX_OVERRUN_MINUTES,
    MAX_REVIEW_DAYS,
    Membership,
    Role,
    School,
    Skill,
    Subject,
)
from chalkboard.schools.signals import membership_deactivated

INVALID_TIMEZONE = "Not an IANA time zone (for example Europe/Lisbon)."
INVALID_CURRENCY = "Not an ISO 4217 currency code (three upper-case letters, for example EUR)."
SCHOOL_HAS_HISTORY = "A school with sessions, assessments or earnings cannot be deleted."
ONLY_OWNER_DELETES = "Only an owner may delete the school."
ONLY_OWNER_MANAGES_STAFF = "Only an owner may grant or remove the owner and admin roles."
LAST_OWNER = "The school's last active owner cannot be removed."
SUBJECT_NAME_TAKEN = "The school already has a subject with this name."
SKILL_NAME_TAKEN = "The subject already has a skill with this name."
SUBJECT_IN_USE = "Sessions or assessments refer to this subject: it cannot be deleted."

PAY_BOUND_RANGE = "Give a whole number from 0 to {high}."
# The school's bounds on pay that needs no review, and on amending paid sessions, with their maximum.
PAY_BOUNDS = {
    "late_claim_days": MAX_REVIEW_DAYS,
    "overrun_minutes": MAX_OVERRUN_MINUTES,
    "paid_amend_days": MAX_REVIEW_DAYS,
}

_CURRENCY = re.compile(r"^[A-Z]{3}$")


def school_audit(
    *,
    actor: User,
    verb: str,
    object_type: str,
    object_id: int | None,
    school_id: int | None,
    teacher_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Audit a change to a school's people, subjects or settings, and rebuild every cached page of the school
    once it commits (their names, rates and settings appear on dashboards and progress pages)."""
    activity_record(
        actor=actor,
        verb=verb,
        object_type=object_type,
        object_id=object_id,
        school_id=school_id,
        teacher_id=teacher_id,
        data=data,
    )
    if school_id is not None:
        versions_bump_on_commit([school_scope(school_id)])


def _check_school_fields(*, timezone: str | None, currency: str | None) -> None:
    errors: dict[str, list[str]] = {}
    if timezone is not None and not is_iana_zone(timezone):
        errors["timezone"] = [INVALID_TIMEZONE]
    if currency is not None and not _CURRENCY.match(currency):
        errors["currency"] = [INVALID_CURRENCY]
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], fields=errors)


def _check_pay_bounds(bounds: Mapping[str, int | None]) -> None:
    """Each bound given within its range (the API's serializer says the same; this is for any other caller)."""
    errors = {
        name: [PAY_BOUND_RANGE.format(high=PAY_BOUNDS[name])]
        for name, value in bounds.items()
        if value is not None and not 0 <= value <= PAY_BOUNDS[name]
    }
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], fields=errors)


def _holds(user: User, school: School, role: str) -> bool:
    return Membership.objects.filter(user=user, school=school, role=role, is_active=True).exists()


def normalize_email(email: str) -> str:
    return email.strip().lower()


@transaction.atomic
def school_create(
    *,
    by: User,
    name: str,
    timezone: str,
    currency: str,
    no_show_billable: bool = True,
    late_claim_days: int = DEFAULT_LATE_CLAIM_DAYS,
    overrun_minutes: int = DEFAULT_OVERRUN_MINUTES,
    paid_amend_days: int = DEFAULT_PAID_AMEND_DAYS,
) -> School:
    """A new school, owned by the user who creates it. Any signed-in user may open one: it starts with its
    owner alone, and reaches nobody else until they accept an invitation."""
    bounds = {
        "late_claim_days": late_claim_days,
        "overrun_minutes": overrun_minutes,
        "paid_amend_days": paid_amend_days,
    }
    _check_school_fields(timezone=timezone, currency=currency)
    _check_pay_bounds(bounds)
    school = School.objects.create(
        name=name, timezone=timezone, currency=currency, no_show_billable=no_show_billable, **bounds
    )
    Membership.objects.create(user=by, school=school, role=Role.OWNER)
    memberships_changed(school_id=school.pk, user_ids=[by.pk])
    school_audit(actor=by, verb="school.created", object_type="school", object_id=school.pk, school_id=school.pk)
    return school


@transaction.atomic
def school_update(
    *,
    school: School,
    viewer: Viewer,
    name: str | None = None,
    timezone: str | None = None,
    currency: str | None = None,
    no_show_billable: bool | None = None,
    late_claim_days: int | None = None,
    overrun_minutes: int | None = None,
    paid_amend_days: int | None = None,
) -> School:
    """Change the given fields (``None`` leaves a field as it is)."""
    viewer.require(Action.SCHOOL_MANAGE, school.pk)
    bounds = {
        "late_claim_days": late_claim_days,
        "overrun_minutes": overrun_minutes,
        "paid_amend_days": paid_amend_days,
    }
    _check_school_fields(timezone=timezone, currency=currency)
    _check_pay_bounds(bounds)
    changes = model_update(
        instance=school,
        data={"name": name, "timezone": timezone, "currency": currency, "no_show_billable": no_show_billable, **bounds},
    )
    if not changes:
        return school
    school_audit(
        actor=viewer.user,
        verb="school.updated",
        object_type="school",
        object_id=school.pk,
        school_id=school.pk,
        data={"fields": sorted(changes)},
    )
    return school


@transaction.atomic
def school_delete(*, school: School, viewer: Viewer) -> None:
    """Delete a school that has no history. One with sessions (or anything that depends on them) stays."""
    school = School.objects.select_for_update().get(pk=school.pk)
    if not _holds(viewer.user, school, Role.OWNER):
        raise Forbidden(ONLY_OWNER_DELETES)
    if school.sessions.exists():
        raise Conflict(SCHOOL_HAS_HISTORY)
    school_audit(
        actor=viewer.user,
        verb="school.deleted",
        object_type="school",
        object_id=school.pk,
        school_id=None,
        data={"name": school.name},
    )
    members = list(Membership.objects.filter(school=school).values_list("user_id", flat=True).distinct())
    try:
        school.delete()
    except (ProtectedError, RestrictedError) as error:
        raise Conflict(SCHOOL_HAS_HISTORY) from error
    memberships_changed(school_id=school.pk, user_ids=members)


def memberships_changed(*, school_id: int, user_ids: Iterable[int]) -> None:
    """Every write to memberships calls this: roles decide access, so the users' cached roles and the
    school's cached pages go stale when the transaction commits (and only if it does)."""
    versions_bump_on_commit([school_scope(school_id), *(user_scope(user_id) for user_id in user_ids)])


def membership_ensure(*, user: User, school: School, role: str) -> tuple[Membership, bool]:
    """The user's ``role`` in the school, created or reactivated. Returns it and whether it was not active before."""
    membership, created = Membership.objects.get_or_create(user=user, school=school, role=role)
    if not created:
        if membership.is_active:
            return membership, False
        membership.is_active = True
        membership.save(update_fields=["is_active", "updated_at"])
    memberships_changed(school_id=school.pk, user_ids=[user.pk])
    return membership, True


def membership_deactivate(*, membership: Membership) -> None:
    """Turn one membership off, with what follows from it: a student's record goes inactive, a guardian's
    links to the school's students go. For services that already checked the rules and record the change."""
    membership.is_active = False
    membership.save(update_fields=["is_active", "updated_at"])
    memberships_changed(school_id=membership.school_id, user_ids=[membership.user_id])
    membership_deactivated.send(sender=Membership, membership=membership)
    if membership.role == Role.STUDENT:
        membership.user.student_profiles.filter(school_id=membership.school_id).update(
            is_active=False, updated_at=django_timezone.now()
        )
    elif membership.role == Role.GUARDIAN:
        membership.user.wards.filter(student__school_id=membership.school_id).delete()


@transaction.atomic
def membership_revoke(*, membership: Membership, viewer: Viewer) -> Membership:
    """Deactivate a membership. Only an owner removes ``owner`` or ``admin``; the last active owner stays."""
    viewer.require(Action.MEMBERS_MANAGE, membership.school_id)
    # One change to a school's roles at a time, so two owners cannot remove each other at once.
    school = School.objects.select_for_update().get(pk=membership.school_id)
    membership = Membership.objects.get(pk=membership.pk)
    if membership.role in STAFF and not _holds(viewer.user, school, Role.OWNER):
        raise Forbidden(ONLY_OWNER_MANAGES_STAFF)
    if not membership.is_active:
        return membership
    if (
        membership.role == Role.OWNER
        and not Membership.objects.filter(school=school, role=Role.OWNER, is_active=True)
        .exclude(pk=membership.pk)
        .exists()
    ):
        raise Conflict(LAST_OWNER)
    membership_deactivate(membership=membership)
    school_audit(
        actor=viewer.user,
        verb="membership.revoked",
        object_type="membership",
        object_id=membership.pk,
        school_id=school.pk,
        teacher_id=membership.user_id if membership.role == Role.TEACHER else None,
        data={"user_id": membership.user_id, "role": membership.role},
    )
    return membership


def _distinct_names(names: Iterable[str]) -> list[str]:
    """Names trimmed, without blanks or case-insensitive repeats, in their first order."""
    seen: set[str] = set()
    result = []
    for raw in names:
        name = raw.strip()
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            result.append(name)
    return result


@contextmanager
def _unique_name(message: str) -> Iterator[None]:
    """A name taken concurrently, between the check and the write, is refused like one taken before."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as error:
        raise ValidationFailed(message, fields={"name": [message]}) from error


def _subject_name_check(*, school_id: int, name: str, exclude_id: int = 0) -> None:
    taken = Subject.objects.filter(school_id=school_id, name__iexact=name).exclude(pk=exclude_id)
    if taken.exists():
        raise ValidationFailed(SUBJECT_NAME_TAKEN, fields={"name": [SUBJECT_NAME_TAKEN]})


@transaction.atomic
def subject_create(*, school: School, viewer: Viewer, name: str, skills: Iterable[str] = ()) -> Subject:
    viewer.require(Action.SUBJECTS_MANAGE, school.pk)
    name = name.strip()
    _subject_name_check(school_id=school.pk, name=name)
    with _unique_name(SUBJECT_NAME_TAKEN):
        subject = Subject.objects.create(school=school, name=name)
    Skill.objects.bulk_create([Skill(subject=subject, name=skill) for skill in _distinct_names(skills)])
    school_audit(
        actor=viewer.user,
        verb="subject.created",
        object_type="subject",
        object_id=subject.pk,
        school_id=school.pk,
        data={"name": name},
    )
    return subject


@transaction.atomic
def subject_update(*, subject: Subject, viewer: Viewer, name: str | None = None) -> Subject:
    viewer.require(Action.SUBJECTS_MANAGE, subject.school_id)
    if name is None or name.strip() == subject.name:
        return subject
    name = name.strip()
    _subject_name_check(school_id=subject.school_id, name=name, exclude_id=subject.pk)
    previous = subject.name
    subject.name = name
    with _unique_name(SUBJECT_NAME_TAKEN):
        subject.save(update_fields=["name", "updated_at"])
    school_audit(
        actor=viewer.user,
        verb="subject.updated",
        object_type="subject",
        object_id=subject.pk,
        school_id=subject.school_id,
        data={"name": name, "previous_name": previous},
    )
    return subject


@transaction.atomic
def subject_delete(*, subject: Subject, viewer: Viewer) -> None:
    """Delete a subject nothing refers to. Sessions and assessments protect theirs (409)."""
    viewer.require(Action.SUBJECTS_MANAGE, subject.school_id)
    school_audit(
        actor=viewer.user,
        verb="subject.deleted",
        object_type="subject",
        object_id=subject.pk,
        school_id=subject.school_id,
        data={"name": subject.name},
    )
    try:
        subject.delete()
    except ProtectedError as error:
        raise Conflict(SUBJECT_IN_USE) from error


@transaction.atomic
def skill_create(*, subject: Subject, viewer: Viewer, name: str) -> Skill:
    viewer.require(Action.SUBJECTS_MANAGE, subject.school_id)
    name = name.strip()
    if Skill.objects.filter(subject=subject, name__iexact=name).exists():
        raise ValidationFailed(SKILL_NAME_TAKEN, fields={"name": [SKILL_NAME_TAKEN]})
    with _unique_name(SKILL_NAME_TAKEN):
        skill = Skill.objects.create(subject=subject, name=name)
    school_audit(
        actor=viewer.user,
        verb="skill.created",
        object_type="skill",
        object_id=skill.pk,
        school_id=subject.school_id,
        data={"subject_id": subject.pk, "name": name},
    )
    return skill
