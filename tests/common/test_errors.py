from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, OperationalError
from django.http import Http404
from rest_framework import exceptions

from chalkboard.common.errors import Conflict, NotFound, ValidationFailed, exception_handler


def handle(exc):
    return exception_handler(exc, {})


def test_domain_errors_map_to_their_status_and_shape():
    response = handle(ValidationFailed("Bad.", fields={"score": ["Too high."]}))
    assert response.status_code == 400
    assert response.data == {"status": 400, "code": "invalid", "message": "Bad.", "fields": {"score": ["Too high."]}}

    response = handle(Conflict("Already done.", code="already_completed"))
    assert response.status_code == 409
    assert response.data == {"status": 409, "code": "already_completed", "message": "Already done."}

    assert handle(NotFound()).data == {"status": 404, "code": "not_found", "message": "Not found."}


def test_django_errors_keep_the_shape():
    assert handle(Http404()).data["code"] == "not_found"
    assert handle(PermissionDenied()).status_code == 403


def test_validation_error_with_field_and_non_field_messages():
    exc = exceptions.ValidationError({"non_field_errors": ["Pick one."], "email": ["Required."]})
    response = handle(exc)
    assert response.data == {
        "status": 400,
        "code": "invalid",
        "message": "Pick one.",
        "fields": {"email": ["Required."]},
    }


def test_validation_error_with_a_plain_list():
    response = handle(exceptions.ValidationError(["Something is off."]))
    assert response.data == {"status": 400, "code": "invalid", "message": "Something is off."}


def test_validation_error_with_nested_items():
    exc = exceptions.ValidationError({"attendance": [{"status": ["Not a valid choice."]}, {}]})
    assert handle(exc).data["fields"] == {"attendance": [{"status": ["Not a valid choice."]}, {}]}


def test_throttled_carries_retry_after():
    response = handle(exceptions.Throttled(wait=12))
    assert response.status_code == 429
    assert response["Retry-After"] == "12"
    assert response.data["code"] == "throttled"


def test_api_exception_with_structured_detail_gets_a_generic_message():
    exc = exceptions.APIException({"detail": "x"})
    assert handle(exc).data == {"status": 500, "code": "error", "message": "Request failed."}


def test_database_unavailable_is_a_503_without_details():
    response = handle(OperationalError("connection refused to 10.1.2.3"))
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "10.1.2.3" not in str(response.data)


def test_other_database_errors_are_a_500_without_details():
    response = handle(DatabaseError("relation secret_table does not exist"))
    assert response.status_code == 500
    assert "secret_table" not in str(response.data)


def test_unknown_exceptions_are_left_to_django():
    assert handle(RuntimeError("boom")) is None


@pytest.mark.parametrize("error", [ValidationFailed("x"), Conflict("x"), NotFound("x")])
def test_domain_errors_are_exceptions_with_a_message(error):
    assert str(error) == "x"
