from __future__ import annotations

import pytest
from django.urls import NoReverseMatch, reverse


def test_ids_round_trip_through_urls():
    assert reverse("teacher-dashboard", kwargs={"teacher_id": 42}) == "/api/teachers/42/dashboard/"


@pytest.mark.parametrize("teacher_id", [0, 10**18])
def test_ids_no_row_can_have_make_no_url(teacher_id):
    with pytest.raises(NoReverseMatch):
        reverse("teacher-dashboard", kwargs={"teacher_id": teacher_id})
