"""Request limits and the headers every response carries.

Each middleware here does a little pure work before and after the view (no I/O), so it runs in the event
loop under ASGI and in the worker thread under WSGI without switching between them.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, JsonResponse

from chalkboard.common.bodies import BODY_TOO_LARGE, declared_length
from chalkboard.common.errors import error_body
from chalkboard.common.throttling import quota_to_report

GetResponse = Callable[[HttpRequest], Any]

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The interactive docs (Swagger UI from drf-spectacular-sidecar, served by the app itself): scripts, styles
# and images from this origin only, calls to this origin only, and the page's own inline stylesheet by hash.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'{style_hashes}; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
DOCS_PATHS = ("/api/docs/",)
_INLINE_STYLE = re.compile(rb"<style[^>]*>(.*?)</style>", re.DOTALL)

TOO_LARGE = "The request body is larger than {limit} bytes."
LENGTH_REQUIRED = "This server cannot read a body without a Content-Length: send one."


class _PureMiddleware:
    """``before`` may answer early; ``after`` may change the response. Both are cheap and never block."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        return None

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        return response

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self._async:
            return self._acall(request)
        early = self.before(request)
        return self.after(request, early if early is not None else self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        early = self.before(request)
        return self.after(request, early if early is not None else await self.get_response(request))


class RequestSizeLimitMiddleware(_PureMiddleware):
    """``413`` in the error shape for a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``, before anything reads it;
    ``411`` for a body whose length Django cannot know.

    Django enforces that limit only when the body is read through ``request.body`` or a form; DRF's JSON
    parser reads the stream itself, so the limit is enforced here: from ``Content-Length``, or from the
    mark ``chalkboard.common.bodies`` leaves on a body that went over it as it arrived (a chunked body
    has no ``Content-Length``; those wrappers count it and give it one when it fits).

    A ``Transfer-Encoding`` that reaches Django without a ``Content-Length`` is a body no one will read
    (Django reads none without a length): it is refused, never accepted and then dropped.
    """

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        length = declared_length(request.META.get("CONTENT_LENGTH") or None)
        refused = request.META.get(BODY_TOO_LARGE) or getattr(request, "scope", {}).get(BODY_TOO_LARGE)
        if refused or (limit is not None and length is not None and length > limit):
            message = TOO_LARGE.format(limit=limit)
            return JsonResponse(error_body(status_code=413, code="too_large", message=message), status=413)
        if length is None and request.META.get("HTTP_TRANSFER_ENCODING"):
            body = error_body(status_code=411, code="length_required", message=LENGTH_REQUIRED)
            return JsonResponse(body, status=411)
        return None


def _docs_policy(response: HttpResponseBase) -> str:
    content: bytes = getattr(response, "content", b"")
    if response.get("Content-Encoding") == "gzip":
        content = gzip.decompress(content)
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(style).digest()).decode()}'"
        for style in _INLINE_STYLE.findall(content)
    )
    return DOCS_CSP.format(style_hashes=hashes)


class SecurityHeadersMiddleware(_PureMiddleware):
    """A strict ``Content-Security-Policy`` (the docs page gets the one Swagger UI needs), and
    ``Cache-Control: no-store`` on API answers that do not choose their own: they carry tokens and
    personal data that no cache should keep.

    ``nosniff``, ``Referrer-Policy`` and ``Cross-Origin-Opener-Policy`` come from Django's
    ``SecurityMiddleware`` and ``X-Frame-Options`` from its clickjacking middleware (see the settings).
    """

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if "Content-Security-Policy" not in response:
            is_docs = request.path in DOCS_PATHS and response.get("Content-Type", "").startswith("text/html")
            response["Content-Security-Policy"] = _docs_policy(response) if is_docs else API_CSP
        if request.path.startswith("/api/") and "Cache-Control" not in response:
            response["Cache-Control"] = "no-store"
        return response


class RateLimitHeadersMiddleware(_PureMiddleware):
    """``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` of the quota the request spent
    (see ``chalkboard.common.throttling``), with ``Retry-After`` when it was refused."""

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        quota = quota_to_report(request)
        if quota is not None:
            for name, value in quota.headers().items():
                if name not in response:
                    response[name] = value
        return response
