"""Background jobs, on Dramatiq (docs/webhooks.md says why).

- **PostgreSQL + Redis** (``JOBS_BROKER_URL``, by default ``REDIS_URL``): the queues live in Redis and workers
  are processes of their own (``bin/jobs-worker``), any number of them on any number of hosts. A worker takes
  a job off its queue only when the job has ended (Dramatiq acknowledges late): the jobs of a worker killed
  mid-way (SIGKILL, a lost host) go back on the queue once its heartbeat is ``JOBS_HEARTBEAT_TIMEOUT_MS``
  old, and another worker runs them again. Every job is written to be run again: it reads what is left to
  do from the database, so its effect happens once.
- **The embedded default** (no Redis): Dramatiq's stub broker keeps the queue in the server's memory, and a
  worker inside the server (``worker_start_in_server``, from ``config.asgi``) runs it: ``make run`` needs
  nothing more. What the queue held is gone with the process, never what the jobs act on: that is in the
  database, and the next job of the same kind, or ``manage.py webhooks_sweep``, picks it up.
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
from django.conf import settings
from django.db import close_old_connections, connections
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware
from dramatiq.worker import WorkerThread

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
        broker = RedisBroker(
            url=settings.JOBS_BROKER_URL,
            namespace=settings.JOBS_NAMESPACE,
            heartbeat_timeout=settings.JOBS_HEARTBEAT_TIMEOUT_MS,
            maintenance_chance=settings.JOBS_MAINTENANCE_CHANCE,
        )
    else:
        broker = StubBroker()
    broker.add_middleware(DatabaseConnections())
    dramatiq.set_broker(broker)
    return broker


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
