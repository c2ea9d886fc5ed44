"""Logging that keeps secrets and personal data out of the logs.

Chalkboard never logs request bodies or headers. ``RedactSecrets`` is the net behind that rule: on every
handler, it rewrites a record's message and traceback so that a bearer token, a token-shaped string, an
email address, a password field or a credential in a query string (``?token=``, ``?ticket=``) that slipped
into one is written as ``[redacted]``.

The servers log too, through handlers of their own that Django's logging settings do not reach: uvicorn
writes every socket's URL (``"WebSocket /ws/dashboard/?token=…" [accepted]``) even without an access log,
and uvicorn's and gunicorn's access logs write every request line. ``redact_every_handler`` puts the filter
on each handler that exists when the application loads (after the server configured its own logging), so
those lines are redacted as well. Credentials do not belong in URLs (``docs/realtime.md``); this is the net.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import Any

REDACTED = "[redacted]"

_PATTERNS = [
    # Authorization header values: "Bearer <token>", "Token <token>", "Basic <credentials>".
    (re.compile(r"\b([Bb]earer|BEARER|Token|Basic)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {REDACTED}"),
    # Password fields, as JSON, form or keyword text: "password": "…", password=…
    (
        re.compile(r"""(["']?\b\w*password\w*\b["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;&}]+)""", re.IGNORECASE),
        rf"\1{REDACTED}",
    ),
    # Credentials in a query string: ?token=…, &ticket=…, ?access_token=…, ?authorization=Bearer%20….
    (
        re.compile(
            r"\b((?:access_|auth_|api_)?token|ticket|auth|authorization|api_?key)=[^&\s\"'#;,)]+", re.IGNORECASE
        ),
        rf"\1={REDACTED}",
    ),
    # Email addresses.
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), REDACTED),
    # Bearer tokens and other 64-hex-digit secrets, wherever they appear.
    (re.compile(r"\b[0-9a-fA-F]{64}\b"), REDACTED),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redacted_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactSecrets(logging.Filter):
    """Rewrites the record's message (and its traceback, if any) with secrets redacted. Never drops one.

    A record that needs no redaction is left as it is. One that does keeps its shape where it can: its
    format and each string argument are redacted apart, so a server's formatter that reads the arguments
    (uvicorn's access log unpacks them) still works; if that is not enough (a secret split across them, or
    inside an argument that is not a string), the message is redacted whole and the arguments dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the formatter to report
            return True
        if redact(message) != message and not self._redact_arguments(record):
            record.msg, record.args = redact(message), None
            record.__dict__.pop("color_message", None)  # uvicorn's coloured copy of the format
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True

    @staticmethod
    def _redact_arguments(record: logging.LogRecord) -> bool:
        """Redacts the format and each argument in place; whether the message is clean that way."""
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_redacted_value(value) for value in args)
        elif isinstance(args, MutableMapping):  # gunicorn's access log: one mapping of named atoms
            for key, value in list(args.items()):
                args[key] = _redacted_value(value)
        else:
            return False
        record.msg = _redacted_value(record.msg)
        try:
            message = record.getMessage()
        except Exception:
            return False
        return redact(message) == message


def redact_every_handler() -> None:
    """Puts ``RedactSecrets`` on every handler of every logger there is now: the root's, and those the
    server configured for itself before it loaded the application (uvicorn's, gunicorn's)."""
    loggers: list[logging.Logger | logging.PlaceHolder] = [logging.getLogger()]
    loggers += list(logging.Logger.manager.loggerDict.values())
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if not any(isinstance(item, RedactSecrets) for item in handler.filters):
                handler.addFilter(RedactSecrets())
