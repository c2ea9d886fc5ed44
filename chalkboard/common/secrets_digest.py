"""The one digest of the secrets Chalkboard hands out and keeps only hashed (invitation tokens, socket
tickets, calendar feed addresses): SHA-256, hex. A secret of 256 random bits needs no salt or slow hash;
the stored digest alone opens nothing."""

from __future__ import annotations

import hashlib


def secret_digest(secret: str) -> str:
    # surrogateescape: a secret read from a query string may carry bytes that are not UTF-8.
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()
