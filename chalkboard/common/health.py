"""Liveness and readiness probes. Plain Django views: no authentication, no throttling."""

from __future__ import annotations

import logging
import uuid

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger("chalkboard.health")


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:  # any failure here means "not ready", never a crash
        logger.warning("readiness: database did not answer")
        return False


def _cache_ok() -> bool:
    key = f"readyz:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", timeout=5)
        ok = cache.get(key) == "1"
        cache.delete(key)
        return ok
    except Exception:
        logger.warning("readiness: cache did not answer")
        return False


def readyz(request: HttpRequest) -> JsonResponse:
    database, cache_ok = _database_ok(), _cache_ok()
    # Without its cache Chalkboard still answers (from the database), so a cache outage is "degraded".
    if not database:
        state, code = "unavailable", 503
    elif not cache_ok:
        state, code = "degraded", 200
    else:
        state, code = "ok", 200
    checks = {"database": "ok" if database else "down", "cache": "ok" if cache_ok else "down"}
    return JsonResponse({"status": state, "checks": checks}, status=code)
