"""Who may open the dashboard socket, and what happens to a connection whose credentials stop being valid."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from channels.db import database_sync_to_async
from django.utils import timezone
from knox.models import AuthToken

from chalkboard.realtime.auth import allowed_hosts_origin_validator
from chalkboard.realtime.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED
from chalkboard.realtime.services import ticket_issue
from chalkboard.schools.models import Membership, Role
from config.asgi import application
from tests import factories as f
from tests.conftest import client_for
from tests.realtime.conftest import (
    abearer,
    aemit,
    closed_with,
    connect_as,
    open_socket,
    receive,
    run_async,
    ticket_protocols,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def assert_works(communicator) -> None:
    await communicator.send_json_to({"type": "ping"})
    assert await receive(communicator) == [{"type": "pong"}]
    await communicator.disconnect()


async def assert_refused(headers=None, query: str = "", protocols=None) -> None:
    """The handshake is accepted, then closed with 4401 before anything else is said."""
    communicator, connected = await open_socket(headers, query, protocols)
    assert connected
    output = await communicator.receive_output(timeout=3)
    assert output == {"type": "websocket.close", "code": CLOSE_UNAUTHORIZED}
    await communicator.disconnect(code=CLOSE_UNAUTHORIZED)


def new_ticket(user) -> str:
    response = client_for(user).post("/api/auth/ws-ticket/")
    assert response.status_code == 200
    return response.json()["ticket"]


aticket = database_sync_to_async(new_ticket)


@run_async
async def test_a_bearer_header_opens_the_socket(world):
    await assert_works(await connect_as(world.teacher.user))


@run_async
async def test_a_ticket_opens_the_socket_once(world):
    ticket = await aticket(world.admin)
    communicator, connected = await open_socket(protocols=ticket_protocols(ticket))
    assert connected
    await assert_works(communicator)

    await assert_refused(protocols=ticket_protocols(ticket))


@run_async
async def test_an_expired_ticket_is_refused(world):
    ticket = await aticket(world.admin)
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        await assert_refused(protocols=ticket_protocols(ticket))


@run_async
async def test_a_ticket_dies_with_its_token(world):
    def ticket_of_a_revoked_token() -> str:
        instance, _ = AuthToken.objects.create(user=world.admin)
        ticket, _ = ticket_issue(token=instance)
        instance.delete()
        return ticket

    await assert_refused(protocols=ticket_protocols(await database_sync_to_async(ticket_of_a_revoked_token)()))


@pytest.mark.parametrize(
    "header",
    [
        b"Bearer not-a-token",
        b"Bearer " + b"f" * 64,
        b"Bearer",
        b"Bearer two parts",
        b"Basic dXNlcjpwYXNz",
        b"Bearer \xff\xfe",
        b"",
    ],
)
@run_async
async def test_bad_credentials_are_refused(world, header):
    await assert_refused([(b"authorization", header)])


@run_async
async def test_no_credentials_are_refused(world):
    await assert_refused()
    await assert_refused(protocols=["chalkboard"])
    await assert_refused(protocols=ticket_protocols(""))
    await assert_refused(protocols=ticket_protocols("made-up"))


@run_async
async def test_a_revoked_token_is_refused(world):
    headers = await abearer(world.admin)
    response = await database_sync_to_async(
        lambda: client_for(None).post("/api/auth/logout/", HTTP_AUTHORIZATION=headers[0][1].decode())
    )()
    assert response.status_code == 204
    await assert_refused(headers)


@run_async
async def test_an_expired_token_is_refused(world):
    headers = await abearer(world.admin)
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        await assert_refused(headers)


@run_async
async def test_an_inactive_user_is_refused(world):
    headers = await abearer(world.admin)
    world.admin.is_active = False
    await database_sync_to_async(world.admin.save)(update_fields=["is_active"])
    await assert_refused(headers)


@run_async
async def test_a_bad_header_is_not_rescued_by_a_ticket(world):
    ticket = await aticket(world.admin)
    await assert_refused([(b"authorization", b"Bearer wrong")], protocols=ticket_protocols(ticket))


@pytest.mark.parametrize("role", ["student", "other_student", "guardian", "other_guardian"])
@run_async
async def test_users_without_a_staff_or_teaching_role_are_refused_with_4403(world, role):
    communicator = await connect_as(world.user(role))
    assert await closed_with(communicator) == CLOSE_FORBIDDEN


@run_async
async def test_a_user_with_no_school_at_all_is_refused_with_4403(db):
    communicator = await connect_as(await database_sync_to_async(f.UserFactory)())
    assert await closed_with(communicator) == CLOSE_FORBIDDEN


@run_async
async def test_a_token_revoked_while_connected_closes_the_socket(world, fast_poll):
    def token() -> tuple[AuthToken, str]:
        instance, raw = AuthToken.objects.create(user=world.teacher.user)
        return instance, raw

    instance, raw = await database_sync_to_async(token)()
    communicator, connected = await open_socket([(b"authorization", f"Bearer {raw}".encode())])
    assert connected
    await assert_pong(communicator)
    await database_sync_to_async(instance.delete)()
    assert await closed_with(communicator) == CLOSE_UNAUTHORIZED


@run_async
async def test_a_token_that_expires_while_connected_closes_the_socket(world, fast_poll):
    communicator = await connect_as(world.teacher.user)
    await assert_pong(communicator)
    await database_sync_to_async(AuthToken.objects.update)(expiry=timezone.now() - timedelta(seconds=1))
    assert await closed_with(communicator) == CLOSE_UNAUTHORIZED


@run_async
async def test_a_ticket_connection_lives_on_its_token(world, fast_poll):
    def issue() -> tuple[AuthToken, str]:
        instance, _ = AuthToken.objects.create(user=world.admin)
        ticket, _ = ticket_issue(token=instance)
        return instance, ticket

    instance, ticket = await database_sync_to_async(issue)()
    communicator, connected = await open_socket(protocols=ticket_protocols(ticket))
    assert connected
    await assert_pong(communicator)
    await database_sync_to_async(instance.delete)()
    assert await closed_with(communicator) == CLOSE_UNAUTHORIZED


@run_async
async def test_losing_every_role_while_connected_closes_the_socket_with_4403(world, fast_poll):
    communicator = await connect_as(world.teacher.user)
    await assert_pong(communicator)
    await database_sync_to_async(Membership.objects.filter(user=world.teacher.user).update)(is_active=False)
    await database_sync_to_async(_roles_changed)(world.teacher.user)
    assert await closed_with(communicator) == CLOSE_FORBIDDEN


@run_async
async def test_roles_gained_while_connected_are_heard(world, other_world, fast_poll):
    communicator = await connect_as(world.teacher.user)
    await assert_pong(communicator)

    def promote() -> None:
        f.member(school=other_world.school, role=Role.ADMIN, user=world.teacher.user)
        _roles_changed(world.teacher.user)

    await database_sync_to_async(promote)()
    # The next poll follows the new role.
    event = await aemit(other_world.school.pk, other_world.teacher.pk)
    assert [m["id"] for m in await receive(communicator)] == [event.pk]
    await communicator.disconnect()


async def assert_pong(communicator) -> None:
    await communicator.send_json_to({"type": "ping"})
    assert await receive(communicator) == [{"type": "pong"}]


def _roles_changed(user) -> None:
    from chalkboard.common.cache import user_scope, versions_bump

    versions_bump([user_scope(user.pk)])


@run_async
async def test_tokens_are_the_same_as_the_http_apis(world):
    """A token from the login endpoint opens the socket."""

    def login() -> str:
        response = client_for(None).post(
            "/api/auth/token/", {"email": world.admin.email, "password": f.PASSWORD}, format="json"
        )
        return response.json()["token"]

    token = await database_sync_to_async(login)()
    communicator, connected = await open_socket([(b"authorization", f"Bearer {token}".encode())])
    assert connected
    await assert_works(communicator)


# --- Origin ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", [b"https://evil.example", b"http://127.0.0.1.evil.example:8000", b"null"])
@run_async
async def test_a_page_on_another_host_may_not_open_the_socket(world, origin):
    headers = [(b"origin", origin), *(await abearer(world.admin))]
    communicator, connected = await open_socket(headers)
    assert not connected
    await communicator.disconnect()


@pytest.mark.parametrize("origin", [b"http://localhost:8000", b"http://127.0.0.1:8000", b"https://testserver"])
@run_async
async def test_a_page_on_an_allowed_host_may(world, origin):
    communicator, connected = await open_socket([(b"origin", origin), *(await abearer(world.admin))])
    assert connected
    await assert_works(communicator)


@run_async
async def test_a_client_without_origin_is_not_a_browser_and_may(world):
    await assert_works(await connect_as(world.admin))


def test_in_development_without_allowed_hosts_the_local_hosts_are_allowed(settings):
    settings.DEBUG = True
    settings.ALLOWED_HOSTS = []
    validator = allowed_hosts_origin_validator(application)
    assert validator.allowed_origins == ["localhost", "127.0.0.1", "[::1]"]

    settings.DEBUG = False
    assert allowed_hosts_origin_validator(application).allowed_origins == []


@run_async
async def test_two_credentials_offered_as_subprotocols_are_refused(world):
    first, second = await aticket(world.admin), await aticket(world.admin)
    await assert_refused(protocols=["chalkboard", f"chalkboard.ticket.{first}", f"chalkboard.ticket.{second}"])


# --- A signed-in page's session ------------------------------------------------------------------------


def session_cookie(user) -> bytes:
    """The session cookie of ``user`` signed in on the sign-in page."""
    from django.test import Client

    browser = Client()
    assert browser.post("/", {"email": user.email, "password": f.PASSWORD}).status_code == 302
    return f"sessionid={browser.cookies['sessionid'].value}; csrftoken=x".encode()


asession_cookie = database_sync_to_async(session_cookie)
PAGE_ORIGIN = (b"origin", b"http://testserver")


@run_async
async def test_a_signed_in_pages_session_opens_the_socket_and_hears_what_the_api_would(world):
    cookie = await asession_cookie(world.admin)
    communicator, connected = await open_socket([PAGE_ORIGIN, (b"cookie", cookie)], protocols=["chalkboard"])
    assert connected
    event = await aemit(world.school.pk, None)
    assert [message["id"] for message in await receive(communicator)] == [event.pk]
    await communicator.disconnect()


@run_async
async def test_a_session_is_no_credential_without_an_origin_or_beside_another_credential(world):
    cookie = await asession_cookie(world.admin)
    await assert_refused([(b"cookie", cookie)])  # not a browser's page
    await assert_refused([PAGE_ORIGIN, (b"cookie", cookie), (b"authorization", b"Bearer wrong")])
    await assert_refused([PAGE_ORIGIN, (b"cookie", b"sessionid=not-a-session")])
    await assert_refused([PAGE_ORIGIN, (b"cookie", b"csrftoken=only")])
    await assert_refused([PAGE_ORIGIN])  # a page of ours, not signed in


@run_async
async def test_a_session_from_a_page_on_another_host_may_not_open_the_socket(world):
    cookie = await asession_cookie(world.admin)
    _, connected = await open_socket([(b"origin", b"https://evil.example"), (b"cookie", cookie)])
    assert not connected


@run_async
async def test_signing_out_closes_the_pages_socket(world, fast_poll):
    from django.contrib.sessions.models import Session

    cookie = await asession_cookie(world.teacher.user)
    communicator, connected = await open_socket([PAGE_ORIGIN, (b"cookie", cookie)])
    assert connected
    await assert_pong(communicator)
    key = cookie.decode().split(";")[0].removeprefix("sessionid=")

    def sign_out() -> None:
        from importlib import import_module

        from django.conf import settings

        import_module(settings.SESSION_ENGINE).SessionStore(session_key=key).delete()
        assert not Session.objects.filter(session_key=key).exists()

    await database_sync_to_async(sign_out)()
    assert await closed_with(communicator) == CLOSE_UNAUTHORIZED


@run_async
async def test_a_changed_password_ends_the_sessions_socket(world, fast_poll):
    cookie = await asession_cookie(world.teacher.user)
    communicator, connected = await open_socket([PAGE_ORIGIN, (b"cookie", cookie)])
    assert connected
    await assert_pong(communicator)

    def change_password() -> None:
        world.teacher.user.set_password("a-new-password-entirely")
        world.teacher.user.save()

    await database_sync_to_async(change_password)()
    assert await closed_with(communicator) == CLOSE_UNAUTHORIZED
    await assert_refused([PAGE_ORIGIN, (b"cookie", cookie)])
