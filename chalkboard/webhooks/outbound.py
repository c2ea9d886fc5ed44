"""Calling a webhook endpoint, safely (docs/webhooks.md, "Safe outbound calls").

An endpoint's address is chosen by a school's staff, and the call comes from inside the deployment: left
alone, it could reach what only the deployment can (its database, Redis, a cloud's metadata service). So:

- the name is resolved when the call is made, and every address it resolves to must be a public one
  (``address_allowed``): not loopback, private, link-local (the metadata services), shared, multicast,
  reserved or unspecified, unless ``WEBHOOKS_ALLOWED_NETWORKS`` lets it through;
- the connection goes to the address that was checked, never to a second lookup of the name (a name that
  answers a public address, then a private one, gains nothing); TLS still checks the certificate against
  the name;
- https only where ``WEBHOOKS_REQUIRE_HTTPS`` (production); short timeouts; no redirect is followed; and
  the answer is read up to ``EXCERPT_BYTES``, never further.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from urllib3.exceptions import HTTPError, NewConnectionError, TimeoutError

from chalkboard.webhooks.models import AttemptOutcome

CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 10.0
EXCERPT_BYTES = 1024
USER_AGENT = "Chalkboard-Webhooks/1"

SCHEME_REFUSED = "An endpoint's address starts with https:// (or http://, where plain http is allowed)."
HTTPS_REQUIRED = "An endpoint's address starts with https://."
CREDENTIALS_REFUSED = "An endpoint's address carries no user name or password: authenticate with the signature."
HOST_REQUIRED = "An endpoint's address names a host."
ADDRESS_REFUSED = "That address is not a public one: webhooks go only to the public internet."
UNRESOLVED = "The endpoint's name does not resolve."

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    pass


@cache
def _allowed_networks(networks: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(network) for network in networks)


def address_allowed(address: Address) -> bool:
    """A public unicast address, or one in ``WEBHOOKS_ALLOWED_NETWORKS``. An IPv6 address that carries an IPv4
    one (``::ffff:10.0.0.1``) is judged by the IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    allowed = _allowed_networks(tuple(settings.WEBHOOKS_ALLOWED_NETWORKS))
    if any(address.version == network.version and address in network for network in allowed):
        return True
    return address.is_global and not address.is_multicast


def url_problem(url: str) -> str | None:
    """Why this address can never be an endpoint's (checked when an endpoint is made or changed, and again
    before every call), or ``None``. A name is resolved only when a call is made."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        return SCHEME_REFUSED
    if parts.scheme == "http" and settings.WEBHOOKS_REQUIRE_HTTPS:
        return HTTPS_REQUIRED
    if parts.username is not None or parts.password is not None:
        return CREDENTIALS_REFUSED
    if not parts.hostname:
        return HOST_REQUIRED
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return None
    return None if address_allowed(address) else ADDRESS_REFUSED


def resolve(host: str, port: int) -> Address:
    """The address to connect to: the first the name resolves to, once every one of them is allowed."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise AddressRefused(UNRESOLVED) from error
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found]
    if not addresses or not all(address_allowed(address) for address in addresses):
        raise AddressRefused(ADDRESS_REFUSED)
    return addresses[0]


@dataclass(frozen=True)
class Outcome:
    outcome: AttemptOutcome
    status_code: int | None = None
    latency_ms: int | None = None
    excerpt: str = ""
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.outcome == AttemptOutcome.DELIVERED


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST ``body`` to ``url`` under the rules above: what happened, never an exception for the endpoint's
    own failures."""
    problem = url_problem(url)
    if problem is not None:
        return Outcome(AttemptOutcome.REFUSED, error=problem)
    parts = urlsplit(url)
    assert parts.hostname is not None  # noqa: S101 (url_problem checked it)  # nosec B101
    secure = parts.scheme == "https"
    try:
        port = parts.port or (443 if secure else 80)
        address = resolve(parts.hostname, port)
    except (AddressRefused, ValueError) as refused:
        return Outcome(AttemptOutcome.REFUSED, error=str(refused))
    pool: urllib3.HTTPConnectionPool
    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS)
    if secure:
        pool = urllib3.HTTPSConnectionPool(
            str(address), port, timeout=timeout, maxsize=1, server_hostname=parts.hostname,
            assert_hostname=parts.hostname, cert_reqs="CERT_REQUIRED",
        )  # fmt: skip
    else:
        pool = urllib3.HTTPConnectionPool(str(address), port, timeout=timeout, maxsize=1)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    started = time.monotonic()
    try:
        response = pool.urlopen(
            "POST", target, body=body, headers={**headers, "Host": parts.netloc, "User-Agent": USER_AGENT},
            redirect=False, retries=False, preload_content=False, assert_same_host=False,
        )  # fmt: skip
        try:
            excerpt = response.read(EXCERPT_BYTES, decode_content=False)
        finally:
            response.release_conn()
    except NewConnectionError as error:  # (a ConnectTimeoutError too, for urllib3's history: first)
        return Outcome(AttemptOutcome.CONNECTION_ERROR, latency_ms=_since(started), error=_brief(error))
    except TimeoutError as error:
        return Outcome(AttemptOutcome.TIMEOUT, latency_ms=_since(started), error=_brief(error))
    except (HTTPError, OSError) as error:
        return Outcome(AttemptOutcome.CONNECTION_ERROR, latency_ms=_since(started), error=_brief(error))
    finally:
        pool.close()
    delivered = 200 <= response.status < 300
    return Outcome(
        AttemptOutcome.DELIVERED if delivered else AttemptOutcome.HTTP_ERROR,
        status_code=response.status,
        latency_ms=_since(started),
        excerpt=excerpt.decode("utf-8", "replace"),
    )


def _since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _brief(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]
