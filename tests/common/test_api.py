from __future__ import annotations

import pytest
from rest_framework.exceptions import ValidationError

from chalkboard.common.api import MAX_ID, AwareDateTimeField, IdField, error_responses


def test_an_id_fits_the_database_columns():
    assert IdField().run_validation(str(MAX_ID)) == MAX_ID
    for value in (0, MAX_ID + 1):
        with pytest.raises(ValidationError):
            IdField().run_validation(value)


def test_a_naive_time_is_refused_rather_than_guessed():
    with pytest.raises(ValidationError) as refused:
        AwareDateTimeField().run_validation("2025-03-01T15:00:00")
    assert refused.value.detail == ["Give the time with its offset, e.g. 2025-03-01T15:00:00+00:00."]


@pytest.mark.parametrize(("strip", "message"), [(True, "offset"), (False, "wrong format")])
def test_strip_tells_a_spaced_naive_time_as_naive(strip, message):
    with pytest.raises(ValidationError) as refused:
        AwareDateTimeField(strip=strip).run_validation(" 2025-03-01T15:00:00")
    assert message in str(refused.value.detail[0])


def test_a_bounded_time_stays_between_1970_and_2999():
    assert AwareDateTimeField().run_validation("1900-01-01T00:00:00+00:00").year == 1900
    with pytest.raises(ValidationError) as refused:
        AwareDateTimeField(bounded=True).run_validation("1900-01-01T00:00:00+00:00")
    assert refused.value.detail == ["Give a time between 1970 and 2999."]


def test_error_responses_describe_each_status():
    documented = error_responses(400, 403, 404, 409)

    assert list(documented) == [400, 403, 404, 409]
    assert all(response.description for response in documented.values())
