"""What the APIs cannot reach: races between a check and a write, and direct service calls."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management import call_command

from chalkboard.common.errors import Forbidden, ValidationFailed
from chalkboard.schools import services
from chalkboard.schools.access import Viewer
from chalkboard.schools.models import Membership, Role, School, Subject
from tests import factories as f

pytestmark = pytest.mark.django_db


def owner_of(school: School) -> Viewer:
    return Viewer.for_user(f.member(school=school, role=Role.OWNER))


def test_a_subject_name_taken_between_the_check_and_the_insert_is_a_validation_error(monkeypatch):
    school = f.SchoolFactory()
    f.SubjectFactory(school=school, name="Algebra")
    monkeypatch.setattr(services, "_subject_name_check", lambda **kwargs: None)

    with pytest.raises(ValidationFailed) as refused:
        services.subject_create(viewer=owner_of(school), school=school, name="Algebra")

    assert refused.value.fields == {"name": [services.SUBJECT_NAME_TAKEN]}
    assert Subject.objects.filter(school=school).count() == 1


def test_school_update_reports_every_bad_field_at_once():
    school = f.SchoolFactory()

    with pytest.raises(ValidationFailed) as refused:
        services.school_update(viewer=owner_of(school), school=school, timezone="Nowhere", currency="xx")

    assert set(refused.value.fields or {}) == {"timezone", "currency"}


def test_the_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    assert "/api/teachers/{teacher_id}/" in (tmp_path / "schema.yaml").read_text()


def test_a_pay_bound_out_of_range_is_refused_by_the_service_too():
    school = f.SchoolFactory()

    with pytest.raises(ValidationFailed) as refused:
        services.school_update(viewer=owner_of(school), school=school, overrun_minutes=721, paid_amend_days=-1)

    assert refused.value.fields == {
        "overrun_minutes": ["Give a whole number from 0 to 720."],
        "paid_amend_days": ["Give a whole number from 0 to 366."],
    }
    school.refresh_from_db()
    assert (school.overrun_minutes, school.paid_amend_days) == (30, 30)


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules", "Europe/Nowhere"])
def test_a_zone_that_is_no_place_is_refused_by_the_model_validator_too(zone):
    school = f.SchoolFactory.build(timezone=zone)

    with pytest.raises(DjangoValidationError) as refused:
        school.full_clean(exclude=["created_at", "updated_at"])

    assert "timezone" in refused.value.message_dict


def test_every_school_write_checks_its_viewer_itself_whoever_calls_it(world):
    teacher = Viewer.for_user(world.teacher.user)
    subject = f.SubjectFactory(school=world.school, name="Physics")
    membership = Membership.objects.get(user=world.other_teacher.user, school=world.school, role=Role.TEACHER)
    writes = [
        lambda: services.school_update(viewer=teacher, school=world.school, name="Taken over"),
        lambda: services.subject_create(viewer=teacher, school=world.school, name="Chemistry"),
        lambda: services.subject_update(viewer=teacher, subject=subject, name="Renamed"),
        lambda: services.subject_delete(viewer=teacher, subject=subject),
        lambda: services.skill_create(viewer=teacher, subject=subject, name="Optics"),
        lambda: services.membership_revoke(viewer=teacher, membership=membership),
    ]
    for write in writes:
        with pytest.raises(Forbidden):
            write()

    world.school.refresh_from_db()
    subject.refresh_from_db()
    membership.refresh_from_db()
    assert world.school.name != "Taken over"
    assert (subject.name, subject.skills.count()) == ("Physics", 0)
    assert not Subject.objects.filter(school=world.school, name="Chemistry").exists()
    assert membership.is_active
