from __future__ import annotations

import pytest

from chalkboard.common.services import model_update
from chalkboard.schools.models import School
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_only_the_fields_that_change_are_saved(django_assert_num_queries):
    school = f.SchoolFactory(name="Old", currency="EUR")

    with django_assert_num_queries(1) as queries:
        previous = model_update(instance=school, data={"name": "New", "currency": "EUR", "timezone": None})

    assert previous == {"name": "Old"}
    assert '"currency"' not in queries.captured_queries[0]["sql"]
    assert School.objects.get(pk=school.pk).name == "New"


def test_nothing_changed_saves_nothing(django_assert_num_queries):
    school = f.SchoolFactory(name="Same")

    with django_assert_num_queries(0):
        assert model_update(instance=school, data={"name": "Same", "currency": None}) == {}


def test_without_save_the_fields_are_set_for_the_caller_to_save(django_assert_num_queries):
    school = f.SchoolFactory(name="Old")

    with django_assert_num_queries(0):
        assert model_update(instance=school, data={"name": "New"}, save=False) == {"name": "Old"}
    assert school.name == "New"
    assert School.objects.get(pk=school.pk).name == "Old"
