"""Invitations over HTTP: a school's list and withdrawal, the invitee's list, the token acceptance."""

from __future__ import annotations

import pytest

from chalkboard.invitations.models import Invitation
from tests.conftest import client_for
from tests.schools.helpers import ids

pytestmark = pytest.mark.django_db


def members_url(school):
    return f"/api/schools/{school.pk}/members/"


def test_the_school_lists_and_withdraws_its_invitations(world, other_world):
    owner = client_for(world.owner)
    sent = owner.post(members_url(world.school), {"email": "kid@example.test", "role": "student"}, format="json")
    client_for(other_world.owner).post(
        members_url(other_world.school), {"email": "kid@example.test", "role": "student"}, format="json"
    )
    url = f"/api/schools/{world.school.pk}/invitations/"

    assert ids(owner.get(url)) == [sent.json()["id"]]
    assert client_for(world.teacher.user).get(url).status_code == 403
    assert owner.get(f"{url}{sent.json()['id']}/").json()["status"] == "pending"
    assert client_for(world.teacher.user).delete(f"{url}{sent.json()['id']}/").status_code == 403
    assert Invitation.objects.get(pk=sent.json()["id"]).revoked_at is None
    assert client_for(world.admin).delete(f"{url}{sent.json()['id']}/").status_code == 204
    assert owner.get(f"{url}{sent.json()['id']}/").json()["status"] == "revoked"
    assert Invitation.objects.get(pk=sent.json()["id"]).revoked_at is not None
    assert Invitation.objects.get(school=other_world.school).revoked_at is None
    assert owner.get(f"{url}999999/").status_code == 404


def test_the_invitee_lists_only_their_pending_invitations(world):
    owner = client_for(world.owner)
    kept = owner.post(members_url(world.school), {"email": world.guardian.email, "role": "teacher"}, format="json")
    owner.post(members_url(world.school), {"email": world.other_guardian.email, "role": "teacher"}, format="json")

    assert ids(client_for(world.guardian).get("/api/invitations/")) == [kept.json()["id"]]
    Invitation.objects.filter(pk=kept.json()["id"]).update(revoked_at="2020-01-01T00:00:00Z")
    assert ids(client_for(world.guardian).get("/api/invitations/")) == []


def test_an_unknown_token_is_bad_input(world):
    response = client_for(None).post(
        "/api/invitations/accept/", {"token": "nope", "password": "a long enough secret 1234"}, format="json"
    )

    assert response.status_code == 400
    assert "token" in response.json()["fields"]


def test_guessing_tokens_is_limited_like_logging_in_from_the_address(world):
    from tests.security.test_limits import rates

    client = client_for(None)
    body = {"token": "guess", "password": "a long enough secret 1234"}
    with rates(login_address="2/min"):
        answers = [client.post("/api/invitations/accept/", body, format="json") for _ in range(3)]

    assert [answer.status_code for answer in answers] == [400, 400, 429]
    assert answers[2].json()["code"] == "throttled"
    assert "Retry-After" in answers[2]
