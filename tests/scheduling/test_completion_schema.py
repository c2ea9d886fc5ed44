from __future__ import annotations

import yaml
from django.core.management import call_command


def test_the_schema_documents_completion_and_earnings_without_warnings(tmp_path):
    path = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))

    schema = yaml.safe_load(path.read_text())
    paths = schema["paths"]
    complete = paths["/api/sessions/{session_id}/complete/"]
    assert set(complete) >= {"post", "put"}
    assert {p["name"] for p in complete["post"]["parameters"]} >= {"Idempotency-Key", "session_id"}
    assert set(complete["post"]["responses"]) == {"200", "400", "401", "403", "404", "409", "429"}
    earnings = paths["/api/teachers/{teacher_id}/earnings/"]["get"]
    assert set(earnings["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert {p["name"] for p in earnings["parameters"]} >= {"from", "to", "group_by", "school", "format"}
    assert {
        "/api/earnings/approve/",
        "/api/earnings/entries/",
        "/api/payouts/",
        "/api/sessions/{session_id}/no-show/",
    } <= set(paths)
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from POST /api/auth/token/.",
    }
