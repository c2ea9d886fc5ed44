"""What the APIs cannot reach: races between a check and a write, and direct service calls."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from chalkboard.common.errors import ValidationFailed
from chalkboard.schools import services
from chalkboard.schools.models import Subject
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_a_subject_name_taken_between_the_check_and_the_insert_is_a_validation_error(monkeypatch):
    school = f.SchoolFactory()
    f.SubjectFactory(school=school, name="Algebra")
    monkeypatch.setattr(services, "_subject_name_check", lambda **kwargs: None)

    with pytest.raises(ValidationFailed) as refused:
        services.subject_create(school=school, by=f.UserFactory(), name="Algebra")

    assert refused.value.fields == {"name": [services.SUBJECT_NAME_TAKEN]}
    assert Subject.objects.filter(school=school).count() == 1


def test_school_update_reports_every_bad_field_at_once():
    school = f.SchoolFactory()

    with pytest.raises(ValidationFailed) as refused:
        services.school_update(school=school, by=f.UserFactory(), timezone="Nowhere", currency="xx")

    assert set(refused.value.fields or {}) == {"timezone", "currency"}


def test_the_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    assert "/api/teachers/{teacher_id}/" in (tmp_path / "schema.yaml").read_text()
