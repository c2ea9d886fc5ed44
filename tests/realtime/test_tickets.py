from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from knox.models import AuthToken

from chalkboard.realtime.models import WebSocketTicket
from chalkboard.realtime.services import ticket_consume, ticket_issue, tickets_purge_expired
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

TICKET_URL = "/api/auth/ws-ticket/"


def token_of(user) -> AuthToken:
    instance, _ = AuthToken.objects.create(user=user)
    return instance


def test_a_ticket_is_stored_hashed_and_expires_after_thirty_seconds(world):
    token = token_of(world.teacher.user)
    with time_machine.travel("2026-03-01 10:00:00+00:00", tick=False):
        ticket, expires_at = ticket_issue(token=token)

    stored = WebSocketTicket.objects.get()
    assert stored.digest == hashlib.sha256(ticket.encode()).hexdigest()
    assert ticket not in (stored.digest, stored.token_digest)
    assert stored.token_digest == token.digest
    assert expires_at == stored.expires_at == datetime(2026, 3, 1, 10, 0, 30, tzinfo=UTC)


def test_a_ticket_gives_its_token_once(world):
    token = token_of(world.teacher.user)
    ticket, _ = ticket_issue(token=token)

    assert ticket_consume(ticket=ticket) == token
    assert ticket_consume(ticket=ticket) is None
    assert not WebSocketTicket.objects.exists()


def test_an_unknown_ticket_gives_nothing(world):
    assert ticket_consume(ticket="not-a-ticket") is None
    assert ticket_consume(ticket="\udcff odd") is None


def test_an_expired_ticket_gives_nothing_and_is_spent(world):
    ticket, _ = ticket_issue(token=token_of(world.teacher.user))
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        assert ticket_consume(ticket=ticket) is None
    assert not WebSocketTicket.objects.exists()


def test_revoking_the_token_kills_its_tickets(world):
    token = token_of(world.teacher.user)
    ticket, _ = ticket_issue(token=token)
    token.delete()
    assert ticket_consume(ticket=ticket) is None


def test_a_ticket_of_a_deactivated_user_gives_nothing(world):
    ticket, _ = ticket_issue(token=token_of(world.teacher.user))
    world.teacher.user.is_active = False
    world.teacher.user.save(update_fields=["is_active"])
    assert ticket_consume(ticket=ticket) is None


def test_a_ticket_spent_by_someone_else_in_between_gives_nothing(world):
    """Two handshakes with one ticket both find it; only the one whose delete removed it may pass."""
    ticket, _ = ticket_issue(token=token_of(world.teacher.user))

    def the_other_handshake_deletes_first(execute, sql, params, many, context):
        if sql.startswith('DELETE FROM "realtime_websocketticket"'):
            execute(sql, params, many, context)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(the_other_handshake_deletes_first):
        assert ticket_consume(ticket=ticket) is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_uses_of_a_ticket_let_one_in(world):
    token = token_of(world.teacher.user)
    results = []
    for _ in range(5):
        ticket, _ = ticket_issue(token=token)
        barrier = threading.Barrier(2)
        outcome: list[AuthToken | None] = []

        def use(ticket=ticket, barrier=barrier, outcome=outcome):
            try:
                barrier.wait(5)
                outcome.append(ticket_consume(ticket=ticket))
            finally:
                connection.close()

        threads = [threading.Thread(target=use) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        results.append(sorted(outcome, key=lambda found: found is None))

    assert results == [[token, None]] * 5


def test_expired_tickets_are_purged(world):
    token = token_of(world.teacher.user)
    ticket_issue(token=token)
    with time_machine.travel(timezone.now() - timedelta(minutes=5)):
        ticket_issue(token=token)
        ticket_issue(token=token)

    assert tickets_purge_expired() == 2
    assert WebSocketTicket.objects.count() == 1


# --- POST /api/auth/ws-ticket/ ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "role",
    ["owner", "admin", "teacher", "other_teacher", "student", "other_student", "guardian", "other_guardian"],
)
def test_every_signed_in_user_may_ask_for_a_ticket(world, role):
    response = client_for(world.user(role)).post(TICKET_URL)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"ticket", "expires_at"}
    assert len(body["ticket"]) >= 40
    stored = WebSocketTicket.objects.get()
    assert stored.digest == hashlib.sha256(body["ticket"].encode()).hexdigest()
    assert AuthToken.objects.get(digest=stored.token_digest).user == world.user(role)


def test_a_member_of_another_school_gets_a_ticket_that_is_theirs(world, other_world):
    body = client_for(other_world.admin).post(TICKET_URL).json()
    assert ticket_consume(ticket=body["ticket"]).user == other_world.admin


def test_anonymous_and_bad_tokens_get_no_ticket(world, api_client):
    assert api_client.post(TICKET_URL).status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION="Bearer nope")
    response = api_client.post(TICKET_URL)
    assert response.status_code == 401
    assert response.json()["status"] == 401
    assert not WebSocketTicket.objects.exists()


def test_only_post_is_allowed(world):
    assert client_for(world.teacher.user).get(TICKET_URL).status_code == 405


def test_a_body_is_ignored(world):
    response = client_for(world.teacher.user).post(TICKET_URL, {"anything": ["odd", 1]}, format="json")
    assert response.status_code == 200
