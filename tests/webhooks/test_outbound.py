"""The safe outbound call: endpoints that are, or resolve to, loopback, private, link-local or metadata
addresses are refused, when made and when delivered to (after DNS, so a name that rebinds gains nothing)."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from chalkboard.webhooks import outbound
from chalkboard.webhooks.models import AttemptOutcome
from tests.webhooks.receivers import Receiver, running


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.2",  # loopback (the tests allow 127.0.0.1 only)
        "::1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # a cloud's metadata service (link-local)
        "100.64.0.1",  # shared address space
        "0.0.0.0",  # noqa: S104 (an address refused, not bound)
        "224.0.0.1",
        "fd00::1",
        "fe80::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.2",
    ],
)
def test_special_addresses_are_refused(address):
    assert not outbound.address_allowed(ipaddress.ip_address(address))
    host = f"[{address}]" if ":" in address else address
    assert outbound.url_problem(f"https://{host}/hooks") == outbound.ADDRESS_REFUSED


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::6810:84e5"])
def test_public_addresses_are_allowed(address):
    assert outbound.address_allowed(ipaddress.ip_address(address))


def test_only_the_allowed_networks_open_an_exception(settings):
    assert outbound.address_allowed(ipaddress.ip_address("127.0.0.1"))  # the tests' own allowance
    settings.WEBHOOKS_ALLOWED_NETWORKS = []
    assert not outbound.address_allowed(ipaddress.ip_address("127.0.0.1"))


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://hooks.example.com/", outbound.SCHEME_REFUSED),
        ("https://user:pass@hooks.example.com/", outbound.CREDENTIALS_REFUSED),
        ("https:///nohost", outbound.HOST_REQUIRED),
        ("https://hooks.example.com/in", None),
        ("http://hooks.example.com/in", None),
    ],
)
def test_the_address_itself(url, problem):
    assert outbound.url_problem(url) == problem


def test_plain_http_is_refused_where_https_is_required(settings):
    settings.WEBHOOKS_REQUIRE_HTTPS = True
    assert outbound.url_problem("http://hooks.example.com/in") == outbound.HTTPS_REQUIRED
    assert outbound.url_problem("https://hooks.example.com/in") is None
    result = outbound.post("http://hooks.example.com/in", body=b"{}", headers={})
    assert (result.outcome, result.error) == (AttemptOutcome.REFUSED, outbound.HTTPS_REQUIRED)


def _resolving(monkeypatch, answers: dict[str, list[str]]) -> None:
    """A resolver that knows these names (addresses themselves resolve as they do)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        try:
            ipaddress.ip_address(host)
            return real(host, port, *args, **kwargs)
        except ValueError:
            pass
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in answers[host]]

    monkeypatch.setattr(outbound.socket, "getaddrinfo", getaddrinfo)


def test_a_name_that_resolves_to_a_private_address_is_refused_when_called(monkeypatch):
    _resolving(monkeypatch, {"hooks.example.com": ["10.0.0.7"], "mixed.example.com": ["93.184.215.14", "10.0.0.7"]})
    for name in ("hooks.example.com", "mixed.example.com"):
        assert outbound.url_problem(f"https://{name}/in") is None  # a name is judged when called
        result = outbound.post(f"https://{name}/in", body=b"{}", headers={})
        assert (result.outcome, result.error) == (AttemptOutcome.REFUSED, outbound.ADDRESS_REFUSED)


def test_a_name_that_does_not_resolve_is_refused(monkeypatch):
    _resolving(monkeypatch, {})
    result = outbound.post("https://nowhere.example.com/in", body=b"{}", headers={})
    assert (result.outcome, result.error) == (AttemptOutcome.REFUSED, outbound.UNRESOLVED)


def test_the_call_goes_to_the_address_that_was_checked_with_the_name_as_host(monkeypatch):
    with running(Receiver()) as receiver:
        _resolving(monkeypatch, {"hooks.example.com": ["127.0.0.1"]})
        result = outbound.post(f"http://hooks.example.com:{receiver.port}/in?x=1", body=b"{}", headers={})
        assert result.delivered
        (request,) = receiver.received
        assert request.headers["host"] == f"hooks.example.com:{receiver.port}"
        assert request.headers["user-agent"] == outbound.USER_AGENT
        assert request.path == "/in?x=1"


def test_https_goes_through_tls_and_a_server_that_does_not_speak_it_is_a_connection_error():
    with running(Receiver()) as receiver:
        result = outbound.post(f"https://127.0.0.1:{receiver.port}/in", body=b"{}", headers={})
    assert result.outcome == AttemptOutcome.CONNECTION_ERROR
    assert "SSL" in result.error
