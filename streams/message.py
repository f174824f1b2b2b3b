"""A Kafka message as the accountant sees it: where it is in the log, and its bytes."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Message"]


@dataclass(frozen=True, slots=True)
class Message:
    """A Kafka message as the accountant sees it."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
