"""Events that were not counted: where each came from and why, and how many of each kind a flush rejected.

A dead letter never carries more than its input: the message's own bytes for a
message that could not be read, the one event re-encoded for a bad event in a batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from zettaledger.schemas.validation import EventRejected
from zettaledger.streams.message import Message

__all__ = ["DeadLetter", "Rejections"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event that was not counted, where it came from and why."""

    topic: str
    partition: int
    offset: int
    batch_index: int | None
    payload: bytes
    event_type: str
    error: str  # short code: invalid_field, unknown_schema, corrupt_body, not_single_object, empty
    field: str
    value: str
    reason: str

    @classmethod
    def unreadable(cls, message: Message, error: str, field: str, reason: str) -> DeadLetter:
        """A message that holds no event that can be read: it is sent on whole."""
        return cls(
            message.topic, message.partition, message.offset, None, message.value or b"", "unknown", error, field, "", reason
        )

    @classmethod
    def invalid(cls, message: Message, batch_index: int | None, payload: bytes, rejected: EventRejected) -> DeadLetter:
        """An event that was read but breaks a rule; ``batch_index`` is None for a message of one event."""
        return cls(
            message.topic,
            message.partition,
            message.offset,
            batch_index,
            payload,
            rejected.kind,
            "invalid_field",
            rejected.field,
            rejected.value,
            rejected.reason,
        )

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers in the style of Kafka Connect's dead-letter context."""
        pairs = {
            "zl.error.code": self.error,
            "zl.error.field": self.field,
            "zl.error.value": self.value,
            "zl.error.reason": self.reason,
            "zl.event.type": self.event_type,
            "zl.source.topic": self.topic,
            "zl.source.partition": str(self.partition),
            "zl.source.offset": str(self.offset),
        }
        if self.batch_index is not None:
            pairs["zl.source.batch_index"] = str(self.batch_index)
        return [(k, v.encode("utf-8")) for k, v in pairs.items()]


class Rejections:
    """The dead letters of one flush, and their count per (event type, "error: field") for the ledger."""

    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []
        self.counts: dict[tuple[str, str], int] = {}

    def add(self, letter: DeadLetter) -> None:
        self.letters.append(letter)
        key = (letter.event_type, f"{letter.error}: {letter.field}")
        self.counts[key] = self.counts.get(key, 0) + 1
