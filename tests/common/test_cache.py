from __future__ import annotations

import threading
import time
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.db import transaction

from chalkboard.common import cache as versioned
from chalkboard.common.cache import (
    cached_versioned,
    school_scope,
    student_scope,
    teacher_scope,
    versions_bump,
    versions_bump_on_commit,
    versions_get,
)


@pytest.fixture(autouse=True)
def _no_missed_bumps():
    versioned._missed_bumps.clear()
    yield
    versioned._missed_bumps.clear()


def test_scope_names():
    assert school_scope(1) == "v:school:1"
    assert teacher_scope(2, 1) == "v:teacher:2:1"
    assert student_scope(3) == "v:student:3"


def test_versions_start_at_zero_and_go_up_by_one_per_bump():
    scopes = [school_scope(1), student_scope(2)]
    assert versions_get(scopes) == {"v:school:1": 0, "v:student:2": 0}

    versions_bump([school_scope(1)])
    versions_bump([school_scope(1), school_scope(1)])  # one bump per scope per call

    assert versions_get(scopes) == {"v:school:1": 2, "v:student:2": 0}


def test_a_bump_of_any_scope_rebuilds_the_entry():
    build = mock.Mock(side_effect=["first", "second", "third"])
    scopes = [school_scope(1), student_scope(2)]

    assert cached_versioned("page", scopes=scopes, build=build, timeout=60) == "first"
    assert cached_versioned("page", scopes=scopes, build=build, timeout=60) == "first"
    versions_bump([student_scope(2)])
    assert cached_versioned("page", scopes=scopes, build=build, timeout=60) == "second"
    versions_bump([school_scope(1)])
    assert cached_versioned("page", scopes=scopes, build=build, timeout=60) == "third"


def test_a_hit_costs_one_round_trip():
    cached_versioned("page", scopes=[school_scope(1)], build=lambda: "value", timeout=60)
    with (
        mock.patch.object(cache, "get_many", wraps=cache.get_many) as get_many,
        mock.patch.object(cache, "add") as add,
        mock.patch.object(cache, "set") as set_,
    ):
        assert cached_versioned("page", scopes=[school_scope(1)], build=lambda: "other", timeout=60) == "value"
    get_many.assert_called_once_with([school_scope(1), "page"])
    add.assert_not_called()
    set_.assert_not_called()


@pytest.mark.django_db(transaction=True)
def test_bump_on_commit_waits_for_the_commit_and_skips_a_rollback():
    with transaction.atomic():
        versions_bump_on_commit([school_scope(1)])
        assert versions_get([school_scope(1)])[school_scope(1)] == 0
    assert versions_get([school_scope(1)])[school_scope(1)] == 1

    with pytest.raises(RuntimeError), transaction.atomic():
        versions_bump_on_commit([school_scope(1)])
        raise RuntimeError
    assert versions_get([school_scope(1)])[school_scope(1)] == 1


@pytest.fixture
def per_scope_cache(monkeypatch):
    """A cache without ``incr_versions`` (the in-process one): versions are bumped one scope at a time. It
    starts empty: in-process caches of one name share their storage, and another test's versions (a test run
    before this one, in whatever order the workers take them) would count here."""
    local = LocMemCache("versions", {})
    local.clear()
    monkeypatch.setattr(versioned, "cache", local)
    yield local
    local.clear()


def _refusing(result=None, error=None):
    """The cache's bump refused: by the Redis cache's one call, or the per-scope ``add``."""
    name = "incr_versions" if hasattr(cache, "incr_versions") else "add"
    return mock.patch.object(cache, name, return_value=result, side_effect=error)


def test_a_version_that_expires_between_add_and_incr_starts_again(per_scope_cache):
    with (
        mock.patch.object(per_scope_cache, "add", side_effect=[False, True]),
        mock.patch.object(per_scope_cache, "incr", side_effect=ValueError),
    ):
        versions_bump(["v:x"])
    assert versioned._missed_bumps == set()


def test_a_bump_the_cache_cannot_take_is_retried_before_the_next_read():
    with _refusing(error=ConnectionError):
        versions_bump([school_scope(9)])
    assert versioned._missed_bumps == {school_scope(9)}

    assert versions_get([school_scope(9)]) == {school_scope(9): 1}
    assert versioned._missed_bumps == set()


def test_a_bump_swallowed_by_the_cache_counts_as_missed():
    with _refusing(result=None if not hasattr(cache, "incr_versions") else False):
        versions_bump([school_scope(9)])
    assert versioned._missed_bumps == {school_scope(9)}


def test_bumps_on_one_scope_at_a_time_without_redis(per_scope_cache):
    versions_bump([school_scope(1), teacher_scope(2, 1)])
    versions_bump([school_scope(1)])
    versions_bump([])

    assert per_scope_cache.get_many([school_scope(1), teacher_scope(2, 1)]) == {
        school_scope(1): 2,
        teacher_scope(2, 1): 1,
    }


def test_on_redis_every_scope_is_bumped_in_one_round_trip_then_the_publication(settings):
    from chalkboard.common.redis_cache import BreakerRedisCache

    redis_cache = BreakerRedisCache("redis://127.0.0.1:6399/0", {"OPTIONS": {}})
    pipe = mock.Mock()
    with mock.patch.object(redis_cache.client, "get_client") as get_client:
        get_client.return_value.pipeline.return_value = pipe
        assert redis_cache.incr_versions(["v:a", "v:b"], 60) is True
        assert redis_cache.incr_versions(["v:a"], 60, publish=("news", "7")) is True

    key_a, key_b = redis_cache.make_key("v:a"), redis_cache.make_key("v:b")
    assert pipe.mock_calls == [
        mock.call.incr(key_a),
        mock.call.expire(key_a, 60),
        mock.call.incr(key_b),
        mock.call.expire(key_b, 60),
        mock.call.execute(),
        mock.call.incr(key_a),
        mock.call.expire(key_a, 60),
        mock.call.publish("news", "7"),
        mock.call.execute(),
    ]


@pytest.mark.redis
def test_versions_bumped_in_one_round_trip_read_back_as_numbers():
    versions_bump([school_scope(1), student_scope(3)])
    versions_bump([school_scope(1)])

    assert versions_get([school_scope(1), student_scope(3)]) == {school_scope(1): 2, student_scope(3): 1}
    assert 0 < cache.ttl(school_scope(1)) <= versioned.VERSION_TIMEOUT


def test_versions_read_as_zero_when_the_cache_is_down():
    versions_bump([school_scope(1)])
    with mock.patch.object(cache, "get_many", side_effect=ConnectionError):
        assert versions_get([school_scope(1)]) == {school_scope(1): 0}


def test_cached_versioned_builds_once_then_serves_the_cache():
    build = mock.Mock(return_value={"a": 1})

    assert cached_versioned("k", scopes=[], build=build, timeout=60) == {"a": 1}
    assert cached_versioned("k", scopes=[], build=build, timeout=60) == {"a": 1}
    assert build.call_count == 1


def test_cached_versioned_with_the_cache_down_builds_every_time():
    build = mock.Mock(return_value=1)
    with mock.patch.object(cache, "get_many", side_effect=ConnectionError):
        assert cached_versioned("k", scopes=[], build=build, timeout=60) == 1
        assert cached_versioned("k", scopes=[], build=build, timeout=60) == 1
    assert build.call_count == 2


def test_cached_versioned_when_the_cache_swallows_errors():
    build = mock.Mock(return_value=1)
    with (
        mock.patch.object(cache, "get", return_value=None),
        mock.patch.object(cache, "add", return_value=None),
        mock.patch.object(cache, "set", side_effect=ConnectionError),
    ):
        assert cached_versioned("k", scopes=[], build=build, timeout=60) == 1
    with mock.patch.object(cache, "add", side_effect=ConnectionError):
        assert cached_versioned("k2", scopes=[], build=build, timeout=60) == 1
    with mock.patch.object(cache, "get", side_effect=ConnectionError):  # gone before the page is stored
        assert cached_versioned("k3", scopes=[], build=build, timeout=60) == 1
    assert build.call_count == 3


def test_only_one_builder_at_a_time_the_others_wait_for_its_value(monkeypatch):
    started, release = threading.Event(), threading.Event()
    calls = []
    real_sleep = versioned.time.sleep

    def waiting(seconds):  # the waiter is polling: only now let the builder finish
        release.set()
        real_sleep(seconds)

    monkeypatch.setattr(versioned.time, "sleep", waiting)

    def slow_build():
        calls.append(1)
        started.set()
        release.wait(5)
        return "fresh"

    results = []
    builder = threading.Thread(
        target=lambda: results.append(cached_versioned("hot", scopes=[], build=slow_build, timeout=60))
    )
    builder.start()
    started.wait(5)
    waiter = threading.Thread(
        target=lambda: results.append(cached_versioned("hot", scopes=[], build=slow_build, timeout=60))
    )
    waiter.start()
    builder.join(5)
    waiter.join(5)

    assert results == ["fresh", "fresh"]
    assert len(calls) == 1


def test_a_waiter_builds_itself_when_the_builder_takes_too_long(monkeypatch):
    monkeypatch.setattr(versioned, "LOCK_WAIT_SECONDS", 0.05)
    cache.add("lock:stuck", 1, timeout=60)

    assert cached_versioned("stuck", scopes=[], build=lambda: "mine", timeout=60) == "mine"
    assert cache.get("stuck").value == "mine"


def test_a_cached_value_that_turned_stale_is_rebuilt():
    build = mock.Mock(side_effect=["old", "new"])
    assert cached_versioned("k", scopes=[], build=build, timeout=60) == "old"

    assert cached_versioned("k", scopes=[], build=build, timeout=60, is_fresh=lambda value: value != "old") == "new"
    assert cache.get("k").value == "new"


def test_a_waiter_takes_a_page_built_at_newer_versions(monkeypatch):
    """Under steady writes the page waited for is replaced by newer ones before the waiter looks: any page
    at its versions or later will do, so it neither waits out the lock nor builds."""
    scope = school_scope(1)
    versions_bump([scope])  # version 1: this request's
    cache.add("lock:page", 1, timeout=60)  # another request builds version 1

    def newer_page_meanwhile(seconds):
        versions_bump([scope])  # version 2, and its page, land while the waiter waits
        cache.set("page", versioned._Entry((2,), "built at 2"), timeout=60)

    monkeypatch.setattr(versioned.time, "sleep", newer_page_meanwhile)
    build = mock.Mock(return_value="built by the waiter")

    assert cached_versioned("page", scopes=[scope], build=build, timeout=60) == "built at 2"
    build.assert_not_called()


def test_a_waiter_whose_page_came_out_too_old_builds_the_next_at_the_versions_current_then(monkeypatch):
    """A write lands while another request builds: the page it stores is older than this request's versions.
    This request then builds the next page, labelled with the versions it found with the lock free (newer than
    its own), so that every request that waited meanwhile takes that page instead of building its own."""
    scope = school_scope(1)
    versions_bump([scope])  # version 1: this request's
    cache.add("lock:page", 1, timeout=60)  # another request is building, at version 0

    def the_other_build_ends(seconds):
        cache.set("page", versioned._Entry((0,), "built at 0"), timeout=60)
        cache.delete("lock:page")
        versions_bump([scope])  # version 2, before this request looks again

    monkeypatch.setattr(versioned.time, "sleep", the_other_build_ends)
    build = mock.Mock(return_value="built by the waiter")

    assert cached_versioned("page", scopes=[scope], build=build, timeout=60) == "built by the waiter"
    build.assert_called_once()
    assert cache.get("page") == versioned._Entry((2,), "built by the waiter")
    assert not cache.get("lock:page")
    # A request that read version 2 while that build ran takes its page.
    assert cached_versioned("page", scopes=[scope], build=build, timeout=60) == "built by the waiter"
    build.assert_called_once()


def test_waiters_on_a_page_under_steady_writes_share_builds(monkeypatch):
    """Eight readers ask for one page five times each while its version is bumped every millisecond or so,
    and a build takes 50 ms: far fewer builds than requests, and each answer built at or after the version
    its request read."""
    scope = school_scope(1)
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            versions_bump([scope])
            time.sleep(0.001)

    builds = []

    def build():
        built_from = int(cache.get(scope, 0))  # what the database holds now, as far as the page can tell
        time.sleep(0.05)
        builds.append(built_from)
        return built_from

    answers = []

    def reader():
        for _ in range(5):
            asked = int(cache.get(scope, 0))
            answers.append((asked, cached_versioned("page", scopes=[scope], build=build, timeout=60)))

    writing = threading.Thread(target=writer)
    writing.start()
    readers = [threading.Thread(target=reader) for _ in range(8)]
    for thread in readers:
        thread.start()
    for thread in readers:
        thread.join(10)
    stop.set()
    writing.join(5)

    assert len(answers) == 40
    assert all(answer >= asked for asked, answer in answers), answers
    # About two builds for each round of the eight readers (9 or 10 in all, measured); one build per version
    # a request found, as before, made 19 to 26.
    assert len(builds) <= 14, f"{len(builds)} builds for 40 requests"


def test_a_waiter_never_takes_a_page_from_versions_the_cache_no_longer_has(monkeypatch):
    """A version key that expired starts again at 1: a page left from its old, higher versions is stale."""
    monkeypatch.setattr(versioned, "LOCK_WAIT_SECONDS", 0.05)
    scope = school_scope(1)
    versions_bump([scope])
    cache.set("page", versioned._Entry((57,), "from before the version expired"), timeout=60)
    cache.add("lock:page", 1, timeout=60)

    assert cached_versioned("page", scopes=[scope], build=lambda: "fresh", timeout=60) == "fresh"


def test_a_builder_never_replaces_a_page_built_at_newer_versions():
    scope = school_scope(1)
    versions_bump([scope])

    def build():  # while this request builds version 1, another stores version 2's page
        versions_bump([scope])
        cache.set("page", versioned._Entry((2,), "built at 2"), timeout=60)
        return "built at 1"

    assert cached_versioned("page", scopes=[scope], build=build, timeout=60) == "built at 1"
    assert cache.get("page").value == "built at 2"
    assert not cache.get("lock:page")


def test_a_rebuilt_entry_is_stored_and_its_lock_released():
    scope = school_scope(1)
    versions_bump([scope])

    with mock.patch.object(cache, "set", wraps=cache.set) as set_:
        assert cached_versioned("page", scopes=[scope], build=lambda: "built at 1", timeout=60) == "built at 1"

    if not hasattr(cache, "set_and_delete"):  # on Redis, the next test's one round trip
        set_.assert_called_once_with("page", versioned._Entry((1,), "built at 1"), timeout=60)
    assert cache.get("page").value == "built at 1"
    assert not cache.get("lock:page")


@pytest.mark.redis
def test_on_redis_the_entry_is_stored_and_its_lock_released_in_one_round_trip():
    scope = school_scope(1)
    versions_bump([scope])
    with mock.patch.object(cache, "set", wraps=cache.set) as set_, mock.patch.object(cache, "delete") as delete:
        cached_versioned("page", scopes=[scope], build=lambda: "built at 1", timeout=60)

    set_.assert_not_called()
    delete.assert_not_called()
    assert cache.get("page").value == "built at 1"
    assert 0 < cache.ttl("page") <= 60
    assert not cache.get("lock:page")


def test_a_cache_that_stores_and_releases_in_one_call_is_asked_once():
    """The store step as ``BreakerRedisCache`` takes it (one call, one round trip), on either cache."""
    scope = school_scope(1)
    versions_bump([scope])

    def store_and_release(key, value, timeout, *, delete):
        cache.set(key, value, timeout=timeout)
        cache.delete(delete)

    with mock.patch.object(cache, "set_and_delete", side_effect=store_and_release, create=True) as both:
        assert cached_versioned("page", scopes=[scope], build=lambda: "built at 1", timeout=60) == "built at 1"

    both.assert_called_once_with("page", versioned._Entry((1,), "built at 1"), 60, delete="lock:page")
    assert cache.get("page").value == "built at 1"
    assert not cache.get("lock:page")


def test_set_and_delete_sends_both_in_one_pipeline_and_answers_for_a_missing_redis():
    from chalkboard.common.redis_cache import BreakerRedisCache

    redis_cache = BreakerRedisCache("redis://127.0.0.1:6399/0", {"OPTIONS": {}})
    pipe = mock.Mock()
    with mock.patch.object(redis_cache.client, "get_client") as get_client:
        get_client.return_value.pipeline.return_value = pipe
        redis_cache.set_and_delete("page", "value", 60, delete="lock")
        assert pipe.mock_calls == [
            mock.call.set(redis_cache.make_key("page"), redis_cache.client.encode("value"), px=60_000),
            mock.call.delete(redis_cache.make_key("lock")),
            mock.call.execute(),
        ]

        pipe.execute.side_effect = ConnectionError("gone")
        redis_cache.set_and_delete("page", "value", 60, delete="lock")  # answered for: nothing stored
        assert not redis_cache.breaker.allow()  # and Redis is known to be away
        pipe.reset_mock()
        redis_cache.set_and_delete("page", "value", 60, delete="lock")
        pipe.execute.assert_not_called()  # not asked again until the breaker tries


def test_a_waiter_whose_cache_goes_away_builds_at_once(monkeypatch):
    cache.add("lock:page", 1, timeout=60)  # another request builds the page
    sleeps = []

    def cache_gone(seconds):
        sleeps.append(seconds)
        monkeypatch.setattr(cache, "get_many", mock.Mock(side_effect=ConnectionError))

    monkeypatch.setattr(versioned.time, "sleep", cache_gone)

    assert cached_versioned("page", scopes=[], build=lambda: "mine", timeout=60) == "mine"
    assert len(sleeps) == 1  # no more waiting for a page that cannot arrive


def _bumping_all_at_once(monkeypatch, answer) -> mock.Mock:
    """A cache with ``incr_versions`` (as on Redis) that answers ``answer``, or raises it."""
    all_at_once = mock.Mock(spec=["incr_versions"])
    if isinstance(answer, Exception):
        all_at_once.incr_versions.side_effect = answer
    else:
        all_at_once.incr_versions.return_value = answer
    monkeypatch.setattr(versioned, "cache", all_at_once)
    return all_at_once


@pytest.mark.parametrize(("answer", "missed"), [(True, set()), (False, {"v:a"}), (RuntimeError("WRONGTYPE"), {"v:a"})])
def test_a_cache_that_bumps_all_at_once_is_asked_once(monkeypatch, answer, missed):
    all_at_once = _bumping_all_at_once(monkeypatch, answer)

    assert versions_bump(["v:a", "v:a"]) is False  # nothing to publish

    all_at_once.incr_versions.assert_called_once_with({"v:a"}, versioned.VERSION_TIMEOUT, publish=None)
    assert versioned._missed_bumps == missed


@pytest.mark.parametrize(("answer", "published"), [(True, True), (False, False), (RuntimeError("WRONGTYPE"), False)])
def test_a_publication_rides_with_the_bumps_and_says_whether_redis_took_it(monkeypatch, answer, published):
    all_at_once = _bumping_all_at_once(monkeypatch, answer)

    assert versions_bump([], publish=("news", "7")) is published

    all_at_once.incr_versions.assert_called_once_with(set(), versioned.VERSION_TIMEOUT, publish=("news", "7"))


def test_without_redis_nothing_is_published(per_scope_cache):
    assert versions_bump([school_scope(1)], publish=("news", "7")) is False
    assert per_scope_cache.get(school_scope(1)) == 1


@pytest.mark.parametrize("refusal", [{"return_value": None}, {"side_effect": ConnectionError}])
def test_one_scope_at_a_time_a_refused_bump_counts_as_missed(per_scope_cache, refusal):
    with mock.patch.object(per_scope_cache, "add", **refusal):
        versions_bump([school_scope(9)])
    assert versioned._missed_bumps == {school_scope(9)}
