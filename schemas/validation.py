"""Rules an event must meet beyond its Avro type, checked by the worker before it counts anything.

``check(name, datum)`` raises ``EventRejected`` naming the first field that is
wrong, its value and why; the worker sends such an event to the dead-letter
topic with exactly that reason and counts nothing from it.

Patterns are matched with ``fullmatch``: ``$`` would also match before a trailing
newline (``"CN-GD\n"`` a region of its own, an id with ``"\n"`` appended a new id).
``Limits`` are the caps on what one event may make the worker do (``ZL_MAX_PARENTS``,
``ZL_MAX_ID_LENGTH``); breaking one is a dead letter with its own code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from zettaledger.errors import ZettaledgerError

__all__ = [
    "EARLIEST_EVENT_MS",
    "LIMITS",
    "UUID_PATTERN",
    "VALID_REGIONS",
    "EventRejected",
    "Limits",
    "check",
    "data_created_is_plain",
    "max_future_ms",
]

UUID_PATTERN = _UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_uuid_match = _UUID.fullmatch
_REGION = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}")


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on one event: ``max_id`` characters in an id or name field, ``max_parents`` parent datasets."""

    max_id: int = 256
    max_parents: int = 1000


LIMITS = Limits()
EARLIEST_EVENT_MS = 946_684_800_000  # 2000-01-01T00:00:00Z: older data is not in scope of these accounts
_FUTURE_SLACK_MS = 86_400_000  # clocks of producers drift; a day ahead is still plausible


class EventRejected(ZettaledgerError):
    """An event that decodes but breaks a rule: ``field``, ``value`` and ``reason`` say which and why."""

    def __init__(self, kind: str, field: str, value: Any, reason: str, code: str = "invalid_field") -> None:
        # repr escapes control characters; only the first 120 characters are ever formatted
        shown = repr(value[:121] if isinstance(value, (str, bytes, list, tuple)) else value)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        super().__init__(f"{kind}.{field}={shown}: {reason}")
        self.kind = kind
        self.field = field
        self.value = shown
        self.reason = reason
        self.code = code  # the dead letter's zl.error.code: invalid_field, or the cap that was broken


def max_future_ms(now_ms: int) -> int:
    """The latest event time accepted when the worker's clock reads ``now_ms``."""
    return now_ms + _FUTURE_SLACK_MS


def _common(kind: str, e: Mapping[str, Any], latest_ms: int, limits: Limits) -> None:
    event_id = e["event_id"]
    if not _UUID.fullmatch(event_id):
        raise EventRejected(kind, "event_id", event_id, "must be a UUID such as 123e4567-e89b-42d3-a456-426614174000")
    t = e["event_time"]
    if t < EARLIEST_EVENT_MS:
        raise EventRejected(kind, "event_time", t, "is before 2000-01-01; send milliseconds since the Unix epoch")
    if t > latest_ms:
        raise EventRejected(kind, "event_time", t, "is more than a day in the future; check the producer's clock")
    _identifier(kind, "producer_id", e["producer_id"], limits)


VALID_REGIONS = _VALID_REGIONS = set[str]()  # a few hundred codes exist: remember the valid ones seen


def _region(kind: str, value: str) -> None:
    if value in _VALID_REGIONS:
        return
    if not _REGION.fullmatch(value):
        raise EventRejected(kind, "region", value, "must be an ISO 3166-2 subdivision code such as CN-GD")
    if len(_VALID_REGIONS) < 10_000:
        _VALID_REGIONS.add(value)


def _identifier(kind: str, field: str, value: str, limits: Limits) -> None:
    if not value or len(value) > limits.max_id:
        code = "id_too_long" if value else "invalid_field"
        raise EventRejected(kind, field, value, f"must be 1 to {limits.max_id} characters", code)


def _non_negative(kind: str, e: Mapping[str, Any], *fields: str) -> None:
    for field in fields:
        if e[field] < 0:
            raise EventRejected(kind, field, e[field], "must be >= 0")


def _parents(kind: str, e: Mapping[str, Any], limits: Limits) -> None:
    parents = e["parent_dataset_ids"]
    if len(parents) > limits.max_parents:  # before any work per parent
        raise EventRejected(
            kind, "parent_dataset_ids", f"<{len(parents)} parents>", f"at most {limits.max_parents}", "too_many_parents"
        )
    for parent in parents:
        _identifier(kind, "parent_dataset_ids", parent, limits)
        if parent == e["dataset_id"]:
            raise EventRejected(kind, "parent_dataset_ids", parent, "a dataset cannot derive from itself")


def data_created_is_plain(e: Mapping[str, Any], latest_ms: int, limits: Limits = LIMITS) -> bool:
    """True when the DataCreated event breaks no rule and its region is already known valid.

    The one statement of DataCreated's rules, fast enough for the batch loop (most
    events are DataCreated). False does not mean rejected: ``check`` then names the
    field that is wrong, or finds none (a valid region seen for the first time).
    """
    t = e["event_time"]
    dataset_id = e["dataset_id"]
    organization = e["organization"]
    parents = e["parent_dataset_ids"]
    most = limits.max_id
    return (
        EARLIEST_EVENT_MS <= t <= latest_ms
        and e["bytes"] >= 0
        and e["records"] >= 0
        and e["region"] in _VALID_REGIONS
        and 0 < len(dataset_id) <= most
        and 0 < len(organization) <= most
        and 0 < len(e["producer_id"]) <= most
        and _uuid_match(e["event_id"]) is not None
        and (
            not parents
            or (
                len(parents) <= limits.max_parents
                and dataset_id not in parents
                and "" not in parents
                # one parent is the common case, and cheaper to measure than max(map(len, ...))
                and ((len(parents) == 1 and len(parents[0]) <= most) or max(map(len, parents)) <= most)
            )
        )
    )


def _data_created(e: Mapping[str, Any], latest_ms: int, limits: Limits) -> None:
    if not data_created_is_plain(e, latest_ms, limits):
        _data_created_field_by_field(e, latest_ms, limits)


def _data_created_field_by_field(e: Mapping[str, Any], latest_ms: int, limits: Limits = LIMITS) -> None:
    """The predicate's rules one at a time, for the exact field and reason (or none: a new valid region).

    A property test holds this and ``data_created_is_plain`` to the same answers.
    """
    kind = "DataCreated"
    _common(kind, e, latest_ms, limits)
    _region(kind, e["region"])
    _identifier(kind, "dataset_id", e["dataset_id"], limits)
    _identifier(kind, "organization", e["organization"], limits)
    _non_negative(kind, e, "bytes", "records")
    _parents(kind, e, limits)


def _token_usage(e: Mapping[str, Any], latest_ms: int, limits: Limits) -> None:
    kind = "TokenUsage"
    _common(kind, e, latest_ms, limits)
    _region(kind, e["region"])
    _identifier(kind, "model", e["model"], limits)
    _identifier(kind, "provider", e["provider"], limits)
    _non_negative(kind, e, "input_tokens", "output_tokens")


def _dataset_registered(e: Mapping[str, Any], latest_ms: int, limits: Limits) -> None:
    kind = "DatasetRegistered"
    _common(kind, e, latest_ms, limits)
    _region(kind, e["region"])
    _identifier(kind, "dataset_id", e["dataset_id"], limits)
    _identifier(kind, "owner", e["owner"], limits)
    if e["registration_id"] is not None:
        _identifier(kind, "registration_id", e["registration_id"], limits)
    _non_negative(kind, e, "bytes")
    _parents(kind, e, limits)


def _collection_run(e: Mapping[str, Any], latest_ms: int, limits: Limits) -> None:
    kind = "CollectionRun"
    _common(kind, e, latest_ms, limits)
    _region(kind, e["region"])
    _identifier(kind, "pipeline_id", e["pipeline_id"], limits)
    _identifier(kind, "dataset_id", e["dataset_id"], limits)
    _non_negative(kind, e, "attempted_captures", "usable_captures", "attempted_bytes", "usable_bytes")
    if e["usable_captures"] > e["attempted_captures"]:
        raise EventRejected(kind, "usable_captures", e["usable_captures"], "exceeds attempted_captures")
    if e["usable_bytes"] > e["attempted_bytes"]:
        raise EventRejected(kind, "usable_bytes", e["usable_bytes"], "exceeds attempted_bytes")


_CHECKS: dict[str, Callable[[Mapping[str, Any], int, Limits], None]] = {
    "DataCreated": _data_created,
    "TokenUsage": _token_usage,
    "DatasetRegistered": _dataset_registered,
    "CollectionRun": _collection_run,
}


def check(name: str, datum: Mapping[str, Any], latest_ms: int, limits: Limits = LIMITS) -> None:
    """Raise ``EventRejected`` unless the event of record type ``name`` may be counted."""
    rule = _CHECKS.get(name)
    if rule is None:
        raise EventRejected(name, "<record>", name, "is not an accountable event type")
    rule(datum, latest_ms, limits)
