"""Webhook deliveries under `make bench`: the time from an event's commit to its arrival at a local receiver,
and deliveries per second, with the one job worker `bin/serve-production` starts (`JOB_WORKERS=1`: one
process of four threads).

Runs in the bench process, on the bench database and Redis, while the servers run: a receiver on
127.0.0.1 (the servers allow that network for the bench only) answers 204 at once; endpoints are made through
their service for the staff of the bench's schools; events are committed here as a service commits them, and
the worker does the rest (planning, signing, delivering) as in production. The endpoints are deleted after.

- latency: one endpoint, 200 events committed at 20 a second; from each commit to its arrival.
- throughput, one endpoint: 1,000 events committed at once; an endpoint's deliveries go one at a time, in
  order, so this is the sequential rate.
- throughput, eight endpoints in eight schools: 250 events each, at once; the worker's threads deliver to
  several endpoints side by side.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LATENCY_EVENTS = 200
LATENCY_RATE = 20
BURST_EVENTS = 1000
SPREAD_SCHOOLS = 8
SPREAD_EVENTS = 250
WAIT_SECONDS = 300


class Arrivals:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.at: dict[int, float] = {}
        self.repeats = 0
        self.bad_signatures = 0

    def count(self, event_ids: set[int]) -> int:
        with self.lock:
            return len(event_ids & self.at.keys())


@contextmanager
def receiver(arrivals: Arrivals, secrets: dict[str, str]) -> Iterator[int]:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            arrived = time.time()
            event_id = json.loads(body)["data"]["id"]
            endpoint = self.path.rsplit("/", 1)[-1]
            try:
                Webhook(secrets[endpoint]).verify(body, dict(self.headers.items()), json_parse=False)
                verified = True
            except (WebhookVerificationError, KeyError):
                verified = False
            with arrivals.lock:
                arrivals.repeats += event_id in arrivals.at
                arrivals.bad_signatures += not verified
                arrivals.at.setdefault(event_id, arrived)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _staff_of_schools(count: int) -> list[tuple[int, Any]]:
    from chalkboard.schools.models import Membership, Role

    owners = Membership.objects.filter(role=Role.OWNER, is_active=True).select_related("user").order_by("school_id")
    chosen: dict[int, Any] = {}
    for membership in owners:
        chosen.setdefault(membership.school_id, membership.user)
        if len(chosen) == count:
            break
    return list(chosen.items())


def _emit(school_id: int, count: int) -> tuple[list[int], float]:
    """``count`` events of the school in one transaction; their ids and the time it committed."""
    from django.db import transaction

    from chalkboard.realtime.models import EventType
    from chalkboard.realtime.services import EventDraft, events_emit

    drafts = [EventDraft(EventType.SESSION_UPDATED, school_id, None, {"bench": n}) for n in range(count)]
    with transaction.atomic():
        events = events_emit(drafts)
    return [event.pk for event in events], time.time()


def _wait(arrivals: Arrivals, ids: set[int]) -> float:
    deadline = time.monotonic() + WAIT_SECONDS
    while arrivals.count(ids) < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(ids) - arrivals.count(ids)} of {len(ids)} deliveries missing")
        time.sleep(0.01)
    with arrivals.lock:
        return max(arrivals.at[event_id] for event_id in ids)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def webhooks_run() -> dict[str, Any]:
    from chalkboard.schools.access import Viewer
    from chalkboard.webhooks.services import endpoint_create, endpoint_delete

    arrivals, secrets = Arrivals(), dict[str, str]()
    schools = _staff_of_schools(SPREAD_SCHOOLS)
    made = []
    with receiver(arrivals, secrets) as port:
        try:
            for school_id, owner in schools:
                endpoint, secret = endpoint_create(
                    viewer=Viewer.for_user(owner),
                    school_id=school_id,
                    url=f"http://127.0.0.1:{port}/bench/{school_id}",
                    event_types=[],
                    description="make bench",
                )
                secrets[str(school_id)] = secret
                made.append((endpoint, owner))
            first_school = schools[0][0]

            latencies = []
            for _ in range(LATENCY_EVENTS):
                (event_id,), committed = _emit(first_school, 1)
                latencies.append((event_id, committed))
                time.sleep(1 / LATENCY_RATE)
            _wait(arrivals, {event_id for event_id, _ in latencies})
            delays = [(arrivals.at[event_id] - committed) * 1000 for event_id, committed in latencies]

            ids, committed = _emit(first_school, BURST_EVENTS)
            one_rate = BURST_EVENTS / (_wait(arrivals, set(ids)) - committed)

            spread_ids: set[int] = set()
            started = time.time()
            for school_id, _ in schools:
                ids, _ = _emit(school_id, SPREAD_EVENTS)
                spread_ids |= set(ids)
            spread_rate = len(spread_ids) / (_wait(arrivals, spread_ids) - started)
        finally:
            for endpoint, owner in made:
                endpoint_delete(viewer=Viewer.for_user(owner), endpoint=endpoint)
    return {
        "latency_events": len(delays),
        "latency_p50_ms": round(statistics.median(delays), 1),
        "latency_p99_ms": round(_percentile(delays, 0.99), 1),
        "latency_max_ms": round(max(delays), 1),
        "one_endpoint_per_second": round(one_rate, 1),
        "endpoints": len(schools),
        "spread_per_second": round(spread_rate, 1),
        "repeats": arrivals.repeats,
        "bad_signatures": arrivals.bad_signatures,
    }
