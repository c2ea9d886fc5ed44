"""Logging that keeps secrets and personal data out of the logs.

Chalkboard never logs request bodies or headers. ``RedactSecrets`` is the net behind that rule: on every
handler, it rewrites a record's message and traceback so that a bearer token, a token-shaped string, an
email address or a password field that slipped into one is written as ``[redacted]``.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

_PATTERNS = [
    # Authorization header values: "Bearer <token>", "Token <token>", "Basic <credentials>".
    (re.compile(r"\b([Bb]earer|BEARER|Token|Basic)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {REDACTED}"),
    # Password fields, as JSON, form or keyword text: "password": "…", password=…
    (
        re.compile(r"""(["']?\b\w*password\w*\b["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;&}]+)""", re.IGNORECASE),
        rf"\1{REDACTED}",
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


class RedactSecrets(logging.Filter):
    """Rewrites the record's message (and its traceback, if any) with secrets redacted. Never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the formatter to report
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
