"""Failed logins, counted so that a stranger's guesses lock out the stranger and not the account's owner.

Three counters, each one atomic ``INCR`` in the shared cache (``chalkboard.common.throttling``):

- ``login_address``: every attempt from one address, whatever the account;
- ``login_account_address``: failed attempts on one account from one address. This is the lock a
  guesser runs into, and it locks only that address: the owner signs in from anywhere else;
- ``login_account``: failed attempts on one account from the addresses that have never signed in to it,
  a much higher ceiling that stops a guesser spread over many addresses. The addresses the owner has
  signed in from (``KNOWN_ADDRESS_DAYS``) do not count against it and are not refused by it, so even
  that attack does not lock the owner out of the places they usually sign in from.

Every attempt is counted before the password is checked, so concurrent guesses cannot slip past a limit;
a success takes its own attempt back. An IPv6 address counts by its /64, the network one subscriber
gets: rotating through it gives no fresh guesses. The account is counted by a digest of its email,
never by the email itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
from dataclasses import dataclass

from django.core.cache import cache

from chalkboard.common.throttling import Quota, quota_take, window_release

KNOWN_ADDRESS_DAYS = 90
IPV6_NETWORK_BITS = 64


def account_ident(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def address_ident(address: str) -> str:
    """The address as its own limit counts it: an IPv4 address, or an IPv6 address's /64."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_NETWORK_BITS), strict=False))
    return str(parsed)


def _known_key(account: str, address: str) -> str:
    return f"login_known:{account}:{address}"


@dataclass(frozen=True)
class LoginAttempt:
    """One counted attempt on an account from an address: ``refused`` is the quota that refuses it."""

    account: str
    address: str
    counted_against_account: bool
    refused: Quota | None


def login_address_take(*, address: str) -> Quota | None:
    """Count an attempt from ``address``; the quota if it refuses the attempt."""
    quota = quota_take(scope="login_address", ident=address_ident(address))
    return quota if quota is not None and not quota.allowed else None


def login_attempt_take(*, email: str, address: str) -> LoginAttempt:
    """Count an attempt on the account of ``email`` from ``address``, before its password is checked."""
    account, where = account_ident(email), address_ident(address)
    pair = quota_take(scope="login_account_address", ident=f"{account}:{where}")
    if pair is not None and not pair.allowed:
        return LoginAttempt(account, where, counted_against_account=False, refused=pair)
    if _is_known(account, where):
        return LoginAttempt(account, where, counted_against_account=False, refused=None)
    ceiling = quota_take(scope="login_account", ident=account)
    refused = ceiling if ceiling is not None and not ceiling.allowed else None
    return LoginAttempt(account, where, counted_against_account=True, refused=refused)


def login_attempt_succeeded(attempt: LoginAttempt) -> None:
    """The password was right: the attempt was no failure, and the address is now one the owner uses."""
    window_release(scope="login_account_address", ident=f"{attempt.account}:{attempt.address}")
    if attempt.counted_against_account:
        window_release(scope="login_account", ident=attempt.account)
    with contextlib.suppress(Exception):  # without the cache the address is simply not remembered
        cache.set(_known_key(attempt.account, attempt.address), 1, timeout=KNOWN_ADDRESS_DAYS * 86400)


def _is_known(account: str, address: str) -> bool:
    try:
        return cache.get(_known_key(account, address)) is not None
    except Exception:  # a cache that is gone knows no address: the ceiling applies
        return False
