from __future__ import annotations

import pytest
import time_machine
from django.test import override_settings

from chalkboard.common.throttling import parse_rate, window_hit, window_release
from tests import factories as f
from tests.conftest import client_for


def test_parse_rate():
    assert parse_rate("30/min") == (30, 60)
    assert parse_rate("5/s") == (5, 1)
    assert parse_rate("100/hour") == (100, 3600)
    assert parse_rate("1000/day") == (1000, 86400)


@time_machine.travel("2026-11-27 10:00:10", tick=False)
def test_window_counts_hits_and_resets_with_the_next_window():
    assert window_hit(scope="t", ident="a", rate="2/min") == (True, 51)
    assert window_hit(scope="t", ident="a", rate="2/min")[0] is True
    assert window_hit(scope="t", ident="a", rate="2/min")[0] is False
    assert window_hit(scope="t", ident="b", rate="2/min")[0] is True
    with time_machine.travel("2026-11-27 10:01:00", tick=False):
        assert window_hit(scope="t", ident="a", rate="2/min")[0] is True


@time_machine.travel("2026-11-27 10:00:10", tick=False)
def test_release_takes_back_one_hit():
    window_hit(scope="t", ident="a", rate="1/min")
    window_release(scope="t", ident="a", rate="1/min")
    assert window_hit(scope="t", ident="a", rate="1/min")[0] is True
    window_release(scope="t", ident="never-hit", rate="1/min")  # nothing to take back: no error


@time_machine.travel("2026-11-27 10:00:10", tick=False)
def test_when_another_process_opens_the_window_first_its_count_is_kept(monkeypatch):
    from chalkboard.common import throttling

    real_add = throttling.cache.add

    def raced_add(key, value, timeout):  # another worker's add wins just before ours
        real_add(key, 1, timeout)
        return False

    monkeypatch.setattr(throttling.cache, "add", raced_add)
    assert window_hit(scope="t", ident="a", rate="2/min") == (True, 51)
    assert window_hit(scope="t", ident="a", rate="2/min")[0] is False


@pytest.mark.django_db
@time_machine.travel("2026-11-27 10:00:10", tick=False)
def test_authenticated_users_are_throttled_per_user(settings):
    user = f.UserFactory()
    client = client_for(user)
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "2/min"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        assert client.get("/api/me/").status_code == 200
        assert client.get("/api/me/").status_code == 200
        response = client.get("/api/me/")
        assert response.status_code == 429
        assert response["Retry-After"] == "51"
        assert client_for(f.UserFactory()).get("/api/me/").status_code == 200


def test_with_the_cache_down_requests_are_let_through(monkeypatch):
    from chalkboard.common import throttling

    def down(*args, **kwargs):
        raise ConnectionError

    monkeypatch.setattr(throttling.cache, "add", down)
    monkeypatch.setattr(throttling.cache, "decr", down)
    assert window_hit(scope="t", ident="a", rate="1/min")[0] is True
    window_release(scope="t", ident="a", rate="1/min")
