from __future__ import annotations

from unittest import mock

import pytest
import time_machine
from django.core.cache import cache

from chalkboard.accounts.lockout import (
    account_ident,
    address_ident,
    login_attempt_succeeded,
    login_attempt_take,
)


@pytest.mark.parametrize(
    ("address", "counted"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # an IPv4 client seen through an IPv6 socket
        ("unknown", "unknown"),  # no address at all (REMOTE_ADDR missing): counted as given
    ],
)
def test_addresses_are_counted_as_one_subscriber_holds_them(address, counted):
    assert address_ident(address) == counted


def test_the_account_is_counted_by_a_digest_of_its_normalised_email():
    assert account_ident(" Ana@Example.test ") == account_ident("ana@example.test")
    assert "ana" not in account_ident("ana@example.test")


@time_machine.travel("2026-11-27 10:00:10", tick=False)
def test_a_cache_that_fails_outright_knows_no_address_and_remembers_none():
    with mock.patch.object(cache, "set", side_effect=ConnectionError):
        attempt = login_attempt_take(email="ana@example.test", address="203.0.113.7")
        login_attempt_succeeded(attempt)  # no error: the address is simply not remembered
    assert cache.get(f"login_known:{attempt.account}:{attempt.address}") is None
    with mock.patch.object(cache, "get", side_effect=ConnectionError):
        again = login_attempt_take(email="ana@example.test", address="203.0.113.7")
    assert again.counted_against_account is True  # not known: the ceiling applies
