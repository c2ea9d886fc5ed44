"""Background jobs, on Dramatiq (docs/webhooks.md says why).

- **PostgreSQL + Redis** (``JOBS_BROKER_URL``, by default ``REDIS_URL``): the queues live in Redis and workers
  are processes of their own (``bin/jobs-worker``), any number of them on any number of hosts. A worker takes
  a job off its queue only when the job has ended (Dramatiq acknowledges late): the jobs of a worker killed
  mid-way (SIGKILL, a lost host) go back on the queue once its heartbeat is ``JOBS_HEARTBEAT_TIMEOUT_MS``
  old, and another worker runs them again. Every job is written to be run again: it reads what is left to
  do from the database, so its effect happens once.
- **Queueing never fails a request.** A job queued from a request (``job_send``) asks the Redis server's
  breaker first (``chalkboard.common.breaker``), and the broker's client gives up after
  ``REDIS_TIMEOUT_SECONDS``: with the queue away, the job is not queued, and the request goes on. What the
  job would have done is in the database: the next job of its kind, or ``manage.py webhooks_sweep``, does it.
- **The embedded default** (no Redis): Dramatiq's stub broker keeps the queue in the server's memory, and a
  worker inside the server (``worker_start_in_server``, from ``config.asgi``) runs it: ``make run`` needs
  nothing more. What the queue held is gone with the process, never what the jobs act on: that is in the
  database, and the next job of the same kind, or ``manage.py webhooks_sweep``, picks it up.
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
import redis
from django.conf import settings
from django.db import close_old_connections, connections
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware
from dramatiq.worker import WorkerThread
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

from chalkboard.common.breaker import UNAVAILABLE, breaker_for

logger = logging.getLogger("chalkboard.jobs")


class DatabaseConnections(Middleware):
    """Each job starts and ends as a request does: a connection that is broken or past its age is closed and
    the next query opens a fresh one (Django does this around every request, and nothing does it for a
    worker's threads)."""

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        close_old_connections()

    def after_process_message(
        self, broker: dramatiq.Broker, message: MessageProxy, *, result: Any = None, exception: Any = None
    ) -> None:
        close_old_connections()

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        close_old_connections()

    def before_worker_thread_shutdown(self, broker: dramatiq.Broker, thread: WorkerThread) -> None:
        connections.close_all()  # this thread's: a stopping worker leaves no session behind


def broker_setup() -> dramatiq.Broker:
    """The deployment's broker, set as Dramatiq's global one before any actor is declared (at app loading)."""
    broker: dramatiq.Broker
    if settings.JOBS_BROKER_URL:
        timeout = float(settings.REDIS_TIMEOUT_SECONDS)
        # As the cache's client: a connection that went stale while Redis restarted is retried once on a new
        # one, and a timeout is not retried (it would only double the wait).
        client = redis.Redis.from_url(
            settings.JOBS_BROKER_URL,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        broker = RedisBroker(
            client=client,
            namespace=settings.JOBS_NAMESPACE,
            heartbeat_timeout=settings.JOBS_HEARTBEAT_TIMEOUT_MS,
            maintenance_chance=settings.JOBS_MAINTENANCE_CHANCE,
        )
    else:
        broker = StubBroker()
    broker.add_middleware(DatabaseConnections())
    dramatiq.set_broker(broker)
    return broker


def job_send(actor: dramatiq.Actor[..., Any], *args: Any, delay_ms: int | None = None) -> bool:
    """Queue ``actor(*args)`` (after ``delay_ms``), unless the queue's Redis is away: then nothing is queued,
    once per ``REDIS_RETRY_SECONDS`` at most a timeout is spent finding out, and the caller goes on. Whether
    it was queued."""
    broker = actor.broker
    if not isinstance(broker, RedisBroker):
        actor.send_with_options(args=args, delay=delay_ms)
        return True
    breaker = breaker_for(settings.JOBS_BROKER_URL)
    if not breaker.allow():
        return False
    try:
        actor.send_with_options(args=args, delay=delay_ms)
    except UNAVAILABLE as error:
        breaker.failed(error)
        return False
    breaker.succeeded()
    return True


def worker_start_in_server() -> dramatiq.Worker | None:
    """On the embedded default, a worker inside this server process runs the in-memory queue; elsewhere (the
    queue is in Redis, run by workers of their own) nothing."""
    broker = dramatiq.get_broker()
    if not settings.JOBS_WORKER_IN_SERVER or not isinstance(broker, StubBroker):
        return None
    broker.emit_after("process_boot")
    worker = dramatiq.Worker(broker, worker_threads=settings.JOBS_WORKER_THREADS)
    worker.start()
    logger.info("jobs: a worker runs inside this server (%d threads)", settings.JOBS_WORKER_THREADS)
    return worker
