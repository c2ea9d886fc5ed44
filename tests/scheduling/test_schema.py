from __future__ import annotations

from drf_spectacular.generators import SchemaGenerator


def test_the_schema_documents_the_sessions_api():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]

    assert set(paths["/api/sessions/"]) == {"get", "post"}
    assert set(paths["/api/sessions/{session_id}/"]) == {"get", "patch"}
    assert set(paths["/api/sessions/{session_id}/cancel/"]) == {"post"}
    listing = paths["/api/sessions/"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {
        "school",
        "teacher",
        "student",
        "subject",
        "status",
        "from",
        "to",
        "ordering",
        "page",
        "page_size",
    }
    assert set(paths["/api/sessions/{session_id}/"]["patch"]["responses"]) >= {"200", "400", "403", "404", "409"}
    assert schema["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer", "description": "A token from POST /api/auth/token/."}
    }
