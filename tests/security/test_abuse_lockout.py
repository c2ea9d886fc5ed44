"""Abuse cases: lock-outs a stranger cannot trigger.

Failed logins are counted per account *and* address, so a stranger's guesses lock out the stranger, not
the account's owner; a much higher ceiling per account stops a guesser spread over many addresses, and
it spares the addresses the owner has signed in from. Without the shared cache, the login limits are
counted in each process instead of being dropped."""

from __future__ import annotations

from unittest import mock

import pytest
import time_machine
from django.core.cache import cache

from tests import factories as f
from tests.security.test_limits import NOW, error_shape, rates

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/auth/token/"
HOME = "198.51.100.7"
ATTACKER = "203.0.113.66"


def login(client, email, password=f.PASSWORD, *, address):
    return client.post(TOKEN_URL, {"email": email, "password": password}, format="json", REMOTE_ADDR=address)


@time_machine.travel(NOW, tick=False)
def test_a_stranger_guessing_from_elsewhere_does_not_lock_the_owner_out(api_client):
    owner = f.UserFactory()
    with rates(login_account_address="5/min", login_account="100/min"):
        guesses = [login(api_client, owner.email, "guess", address=ATTACKER).status_code for _ in range(10)]
        at_home = login(api_client, owner.email, address=HOME)
        # The owner's success does not reset the stranger's count: even the right password is refused there.
        stranger_again = login(api_client, owner.email, address=ATTACKER)

    assert guesses == [400] * 5 + [429] * 5
    assert at_home.status_code == 200
    assert at_home.json()["user"]["id"] == owner.pk
    assert error_shape(stranger_again, 429)["code"] == "throttled"
    assert stranger_again["RateLimit-Limit"] == "5"


@time_machine.travel(NOW, tick=False)
def test_a_guesser_spread_over_many_addresses_hits_the_per_account_ceiling_but_the_owners_addresses_do_not(
    api_client,
):
    owner = f.UserFactory()
    with rates(login_account_address="5/min", login_account="20/min"):
        assert login(api_client, owner.email, address=HOME).status_code == 200  # an address the owner uses
        spread = [login(api_client, owner.email, "guess", address=f"203.0.113.{n}").status_code for n in range(30)]
        new_address = login(api_client, owner.email, address="192.0.2.200")
        at_home = login(api_client, owner.email, address=HOME)

    assert spread == [400] * 20 + [429] * 10
    assert error_shape(new_address, 429)["code"] == "throttled"  # the right password, from a new address
    assert new_address["RateLimit-Limit"] == "20"
    assert at_home.status_code == 200
    assert at_home.json()["user"]["id"] == owner.pk


@time_machine.travel(NOW, tick=False)
def test_addresses_of_one_ipv6_network_count_as_one(api_client):
    """A /64 is what one IPv6 subscriber gets: rotating through it must not give fresh guesses."""
    owner = f.UserFactory()
    with rates(login_account_address="5/min", login_account="1000/min", login_address="1000/min"):
        rotated = [
            login(api_client, owner.email, "guess", address=f"2001:db8:1:2::{n:x}").status_code for n in range(8)
        ]
        elsewhere = login(api_client, owner.email, address="2001:db8:1:3::1")

    assert rotated == [400] * 5 + [429] * 3
    assert elsewhere.status_code == 200


@time_machine.travel(NOW, tick=False)
def test_the_account_is_not_written_into_the_cache_keys(api_client):
    owner = f.UserFactory(email="private.person@example.test")
    with (
        mock.patch.object(cache, "incr", wraps=cache.incr) as incr,
        mock.patch.object(cache, "add", wraps=cache.add) as add,
    ):
        login(api_client, owner.email, "guess", address=ATTACKER)
    keys = [str(call.args[0]) for call in [*incr.call_args_list, *add.call_args_list]]
    assert any(key.startswith("throttle:login_account_address:") for key in keys)
    assert not [key for key in keys if "private.person" in key]


@time_machine.travel(NOW, tick=False)
def test_without_the_shared_cache_guessing_is_still_limited_in_each_process(api_client):
    """An attacker who takes Redis down (or guesses during an outage) is not let through uncounted."""
    owner = f.UserFactory()
    with (
        rates(login_account_address="5/min", login_account="100/min"),
        # django-redis with IGNORE_EXCEPTIONS answers None for a cache that is gone.
        mock.patch.object(cache, "incr", return_value=None),
        mock.patch.object(cache, "add", return_value=None),
        mock.patch.object(cache, "get", return_value=None),
        mock.patch.object(cache, "decr", return_value=None),
    ):
        guesses = [login(api_client, owner.email, "guess", address=ATTACKER).status_code for _ in range(8)]
        at_home = login(api_client, owner.email, address=HOME)

    assert guesses == [400] * 5 + [429] * 3
    assert at_home.status_code == 200
