"""Safe retries for writes: the ``Idempotency-Key`` request header.

A client that sends a write with ``Idempotency-Key: <key>`` and does not hear back may send the very same
request again with the same key: the change is made once, and every repeat gets the first answer again
(same status and body, with ``Idempotent-Replayed: true``). Only successful answers are kept: a refused
request changed nothing, so its repeat is simply decided again.

The key is claimed by inserting its record before the view runs, in the same transaction as the change.
A concurrent duplicate's insert waits on the unique index until the first transaction ends: if that one
committed, the duplicate replays its answer; if it rolled back, the duplicate runs. Keys are scoped to the
user, kept for at least ``IDEMPOTENCY_TTL``, and bound to the request they first came with: the same key
on another path or with another body is refused with ``409``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar, cast

from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from chalkboard.common.errors import Conflict, ValidationFailed
from chalkboard.common.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255

KEY_INVALID = f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."
KEY_REUSED = "Idempotency-Key reused with a different request."

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name=HEADER,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Makes a retry safe: the first successful answer to this key is stored and replayed to every repeat "
        f"of the same request (with `{REPLAYED_HEADER}: true`) for at least 24 hours. The same key with "
        "another path or body answers 409."
    ),
)

Handler = TypeVar("Handler", bound=Callable[..., Response])


def _canonical_json(data: Any) -> str:
    return json.dumps(data, cls=JSONEncoder, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_fingerprint(request: Request) -> str:
    """SHA-256 of the request body as canonical JSON: the same data in another layout is the same request."""
    return hashlib.sha256(_canonical_json(request.data).encode()).hexdigest()


def _key_from(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ValidationFailed(KEY_INVALID, fields={HEADER: [KEY_INVALID]})
    return key


def _replay(record: IdempotencyRecord, *, method: str, path: str, request_hash: str) -> Response:
    if (record.method, record.path, record.request_hash) != (method, path, request_hash):
        raise Conflict(KEY_REUSED, code="idempotency_key_reused")
    return Response(json.loads(record.response_body), status=record.status_code, headers={REPLAYED_HEADER: "true"})


def _stored(*, user_id: int, key: str) -> IdempotencyRecord | None:
    """The live record of this key, if any. An expired one is deleted, which frees the key."""
    record = IdempotencyRecord.objects.filter(user_id=user_id, key=key).first()
    if record is not None and record.created_at < timezone.now() - IDEMPOTENCY_TTL:
        record.delete()
        return None
    return record


def idempotent_call(*, request: Request, key: str, run: Callable[[], Response]) -> Response:
    """Run ``run`` once for (user, key); store its successful answer with the change it made."""
    user_id = cast(int, request.user.pk)  # idempotent views are for signed-in users only
    method, path, request_hash = request.method or "", request.path, request_fingerprint(request)
    record = _stored(user_id=user_id, key=key)
    if record is not None:
        return _replay(record, method=method, path=path, request_hash=request_hash)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    user_id=user_id, key=key, method=method, path=path, request_hash=request_hash, status_code=0,
                    response_body="",
                )  # fmt: skip
        except IntegrityError:  # a duplicate committed while this one waited on the key
            record = IdempotencyRecord.objects.get(user_id=user_id, key=key)
            return _replay(record, method=method, path=path, request_hash=request_hash)
        response = run()
        if not 200 <= response.status_code < 300:
            record.delete()
            return response
        record.status_code = response.status_code
        record.response_body = _dumps(response.data)
        record.save(update_fields=["status_code", "response_body"])
    return response


def _dumps(data: Any) -> str:
    """The answer as JSON text, keeping its key order (a JSON column might not)."""
    return json.dumps(data, cls=JSONEncoder, ensure_ascii=False)


def idempotent(handler: Handler) -> Handler:
    """For an API view's write method: honour the ``Idempotency-Key`` header when the client sends one."""

    @functools.wraps(handler)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = _key_from(request)
        if key is None:
            return handler(view, request, *args, **kwargs)
        return idempotent_call(request=request, key=key, run=lambda: handler(view, request, *args, **kwargs))

    return cast(Handler, wrapper)


def idempotency_purge(*, older_than: timedelta = IDEMPOTENCY_TTL) -> int:
    """Delete the records past their retention. Returns how many were deleted."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted
