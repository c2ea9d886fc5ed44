from __future__ import annotations

import zoneinfo

import pytest
from django.core.exceptions import ValidationError

from chalkboard.schools.models import Membership, validate_timezone
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_the_model_validator_accepts_only_iana_zones():
    validate_timezone("Europe/Lisbon")
    with pytest.raises(ValidationError):
        validate_timezone("Mars/Olympus")


def test_a_school_knows_its_zone(world):
    assert world.school.zone == zoneinfo.ZoneInfo("Europe/Lisbon")


def test_names_read_well(world):
    subject = f.SubjectFactory(school=world.school, name="Algebra")
    skill = f.SkillFactory(subject=subject, name="Fractions")
    membership = Membership.objects.get(user=world.admin)

    assert str(world.school) == "Lisbon Tutors"
    assert (str(subject), str(skill)) == ("Algebra", "Fractions")
    assert str(membership) == f"{world.admin.pk} admin @ {world.school.pk}"
    assert str(world.teacher) == world.teacher.user.full_name
    assert str(world.student) == world.student.user.full_name
