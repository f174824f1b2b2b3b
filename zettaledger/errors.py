"""The root of every error Zettaledger raises on purpose.

Each package defines the errors a caller can act on as subclasses, and every
message says what was wrong, where, and what to do about it.
"""

from __future__ import annotations

__all__ = ["ConfigError", "ZettaledgerError"]


class ZettaledgerError(Exception):
    """Base class: catch this to handle anything Zettaledger raises deliberately."""


class ConfigError(ZettaledgerError):
    """Settings are missing or invalid; the message lists every problem at once."""
