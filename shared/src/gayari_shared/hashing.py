"""Keyed hashes of personal identifiers, so events can be matched without carrying them."""

from __future__ import annotations

import hashlib
import hmac


def keyed_hash(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()
