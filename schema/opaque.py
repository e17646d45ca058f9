"""Opaque, URL-safe text: unpadded urlsafe base64 of UTF-8, for global IDs and cursors."""

from __future__ import annotations

import base64
import binascii


def to_opaque(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def from_opaque(token: str) -> str | None:
    """The text behind `token`, or None when it is not opaque text of ours."""
    if not token.isascii():
        return None
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
