from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.exceptions import ValidationError

from chalkboard.common.api import DateOrTimeField


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_the_progress_endpoints_are_documented(schema):
    paths = schema["paths"]

    assert set(paths["/api/assessments/"]) == {"get", "post"}
    assert set(paths["/api/students/{student_id}/progress/"]) == {"get"}
    assert set(paths["/api/students/{student_id}/goals/"]) == {"get", "post"}
    assert set(paths["/api/goals/{goal_id}/"]) == {"get", "patch", "delete"}
    listed = {parameter["name"] for parameter in paths["/api/assessments/"]["get"]["parameters"]}
    assert {"student_id", "subject_id", "teacher_id", "from", "to", "page", "page_size"} <= listed


def test_errors_are_documented_in_the_one_error_shape(schema):
    error = schema["components"]["schemas"]["ErrorOutput"]
    create = schema["paths"]["/api/assessments/"]["post"]["responses"]

    assert set(error["properties"]) == {"status", "code", "message", "fields"}
    assert set(create) == {"201", "400", "401", "403", "429"}
    example = create["400"]["content"]["application/json"]["examples"]
    assert next(iter(example.values()))["value"]["fields"] == {
        "score": ["The score must be between 0 and the maximum score."]
    }


def test_the_progress_page_schema_names_the_contract_keys(schema):
    page = schema["components"]["schemas"]["StudentProgressOutput"]["properties"]
    subject = schema["components"]["schemas"]["ProgressSubject"]["properties"]

    assert set(page) == {"student", "subjects", "recent_assessments", "attendance", "notes"}
    assert {"subject", "level", "percentage", "trend", "goals", "skills", "history"} <= set(subject)


@pytest.mark.parametrize("value", [12, None, ["2026-01-01"]])
def test_from_and_to_accept_only_text(value):
    with pytest.raises(ValidationError):
        DateOrTimeField().run_validation(value)
