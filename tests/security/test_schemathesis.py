"""The API fuzzed from its own OpenAPI schema, in-process, as each role.

For every operation of ``/api/schema/`` and every role, a fixed number of requests generated from the
schema (valid ones and invalid ones, derandomized so every run sends the same) must never get a server
error, and every answer must be one the schema documents: its status code, its content type and its body.
Both schools of the permission tests are in the database; half of the requests to an operation with ids in
its path name real objects of the caller's school (the rest are generated), so that bodies and queries are
exercised past the lookup, not only against ids that do not exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chalkboard.accounts.models import User
from chalkboard.accounts.services import token_create
from config.wsgi import application
from tests.conftest import SchoolWorld
from tests.security.scene import Filled, fill

SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
ROLES = ("owner", "teacher", "student", "guardian")
EXAMPLES_PER_RUN = 25  # per operation and role
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def in_test_transaction() -> Iterator[None]:
    """Requests reach the app through WSGI, which closes "old" connections around each request; inside the
    test's transaction that would break it. Django's own test client switches this off the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def real_path_ids(home: Filled, operation: schemathesis.APIOperation) -> dict[str, int | str]:
    """Ids of real objects for the operation's path: the teacher's, their student's, a session that has
    begun (a completed one to amend)."""
    world = home.world
    ids = {
        "school_id": world.school.pk,
        "membership_id": home.ids()["membership"],
        "subject_id": home.subject.pk,
        "teacher_id": world.teacher.pk,
        "student_id": world.student.pk,
        "guardian_id": world.guardian.pk,
        "session_id": home.completed.pk if operation.method.upper() == "PUT" else home.started.pk,
        "goal_id": home.goal.pk,
        "invitation_id": home.invitation.pk,
        "assignment_id": home.ids()["assignment"],
        "feed_id": home.feed.pk,
        "token": home.feed_token,
        "endpoint_id": home.webhook_endpoint.pk,
        "delivery_id": home.webhook_delivery.pk,
    }
    return {name: ids[name] for name in re.findall(r"{(\w+)}", operation.path)}


def test_the_schema_covers_the_api() -> None:
    assert len(OPERATIONS) >= 50
    assert {operation.method.upper() for operation in OPERATIONS} == {"GET", "POST", "PUT", "PATCH", "DELETE"}


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_fuzz(
    operation: schemathesis.APIOperation,
    world: SchoolWorld,
    other_world: SchoolWorld,
    in_test_transaction: None,
) -> None:
    """Each role in turn, on the same scene: each in a savepoint rolled back afterwards (and a cache
    emptied), so that no role's requests (a deletion, say) change what the next one finds."""
    home = fill(world)
    fill(other_world)
    for role in ROLES:
        with transaction.atomic():
            fuzz_as(operation, home, world.user(role))
            transaction.set_rollback(True)
        cache.clear()


def fuzz_as(operation: schemathesis.APIOperation, home: Filled, user: User) -> None:
    token, _ = token_create(user=user)
    # The in-process client does not inflate gzip, which the app applies to large answers.
    auth = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    strategies = [operation.as_strategy(mode, headers=auth) for mode in modes]
    if known := real_path_ids(home, operation):
        strategies += [operation.as_strategy(mode, headers=auth, path_parameters=known) for mode in modes]
    cases = st.one_of(*strategies)

    @settings(
        max_examples=EXAMPLES_PER_RUN,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def run(case: Case) -> None:
        case.headers = {**(case.headers or {}), **auth}
        case.call_and_validate(checks=CHECKS)

    run()
