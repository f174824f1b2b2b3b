"""Events that were not counted: where each came from and why, and how many of each kind a flush rejected.

A dead letter never carries more than its input, and never more than a cap: the
message's own bytes for a message that could not be read, the one event re-encoded
for a bad event in a batch. On the wire (``DeadLetter.wire``) every header is at
most ``HEADER_MAX_BYTES`` and the value at most the cap it is given
(``ZL_DEAD_LETTER_MAX_BYTES``); a longer value goes as its first bytes, with
``zl.payload.sha256``, ``zl.payload.length`` and ``zl.payload.truncated`` saying
what the whole was. ``DeadLetter.shrunk`` is the last resort when the broker refuses
even that: a few hundred bytes in all. A letter the broker refuses even then is not
sent: the flusher records it in the ledger (``undelivered_row``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from zettaledger.schemas.validation import EventRejected
from zettaledger.sinks.rows import Row, undelivered_row
from zettaledger.streams.message import Message

__all__ = ["HEADER_MAX_BYTES", "SHRUNK_VALUE_BYTES", "DeadLetter", "Rejections", "capped_text"]

HEADER_MAX_BYTES = 1024  # every header value, whatever the producer sent
SHRUNK_VALUE_BYTES = 256  # the value of a letter sent again after the broker refused it
_MORE = "..."


def capped_text(text: str, most: int = HEADER_MAX_BYTES) -> bytes:
    """``text`` as UTF-8, cut on a character boundary to at most ``most`` bytes (``...`` marks the cut).

    Lone surrogates and the like are escaped, never raised: a header can always be built.
    """
    data = text.encode("utf-8", "backslashreplace")
    if len(data) <= most:
        return data
    return data[: most - len(_MORE)].decode("utf-8", "ignore").encode("utf-8") + _MORE.encode()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event that was not counted, where it came from and why."""

    topic: str
    partition: int
    offset: int
    batch_index: int | None
    payload: bytes
    event_type: str
    # short code: invalid_field, unknown_schema, corrupt_body, not_single_object, empty, and the caps:
    # too_many_parents, id_too_long, too_many_events, value_too_large, too_many_dead_letters
    error: str
    field: str
    value: str
    reason: str
    shrunk: bool = False  # the last-resort form, after the broker refused the letter as it was

    @classmethod
    def unreadable(cls, message: Message, error: str, field: str, reason: str) -> DeadLetter:
        """A message that holds no event that can be read: it is sent on (capped on the wire)."""
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
            rejected.code,
            rejected.field,
            rejected.value,
            rejected.reason,
        )

    def headers(self, max_value_bytes: int | None = None) -> list[tuple[str, bytes]]:
        """Kafka headers in the style of Kafka Connect's dead-letter context, each at most ``HEADER_MAX_BYTES``.

        With a payload longer than ``max_value_bytes``: its SHA-256, length, and that the value is cut.
        """
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
        if max_value_bytes is not None and len(self.payload) > max_value_bytes:
            pairs["zl.payload.sha256"] = hashlib.sha256(self.payload).hexdigest()
            pairs["zl.payload.length"] = str(len(self.payload))
            pairs["zl.payload.truncated"] = "true"
        most = SHRUNK_VALUE_BYTES // 2 if self.shrunk else HEADER_MAX_BYTES
        return [(k, capped_text(v, most)) for k, v in pairs.items()]

    def wire(self, max_value_bytes: int) -> tuple[bytes, list[tuple[str, bytes]]]:
        """The value and headers to send: the value cut to ``max_value_bytes`` (or less once shrunk), headers capped."""
        most = min(max_value_bytes, SHRUNK_VALUE_BYTES) if self.shrunk else max_value_bytes
        return self.payload[:most], self.headers(most)

    def with_value(self, value: str) -> DeadLetter:
        return replace(self, value=value)

    def shrink(self) -> DeadLetter:
        """The smallest useful form of this letter: where it came from, why, and the payload's hash (see ``wire``)."""
        return replace(self, shrunk=True)

    def undelivered(self) -> Row:
        """The ledger row that records this letter when the broker will not take it in any form."""
        return undelivered_row(
            self.topic,
            self.partition,
            self.offset,
            self.event_type,
            f"{self.error}: {self.field}",
            hashlib.sha256(self.payload).hexdigest(),
            len(self.payload),
        )


class Rejections:
    """The dead letters of one flush, and their count per (event type, "error: field") for the ledger."""

    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []
        self.counts: dict[tuple[str, str], int] = {}

    def add(self, letter: DeadLetter, send: bool = True) -> None:
        """Count the rejected event; ``send=False`` counts it without a letter of its own (past the per-message cap)."""
        if send:
            self.letters.append(letter)
        key = (letter.event_type, f"{letter.error}: {letter.field}")
        self.counts[key] = self.counts.get(key, 0) + 1

    def add_summary(self, letter: DeadLetter) -> None:
        """A letter that stands for events already counted (the rest of a message past the cap): sent, not counted."""
        self.letters.append(letter)
