"""DataCreated's rules live in one predicate: true exactly when ``check`` finds nothing wrong."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.samples import SAMPLES, T_2025_01_01
from zettaledger.schemas.validation import (
    EARLIEST_EVENT_MS,
    EventRejected,
    _data_created_field_by_field,
    check,
    data_created_is_plain,
    max_future_ms,
)

NOW_MS = 1_795_000_000_000
LATEST = max_future_ms(NOW_MS)
LONG = "x" * 257
EDGE = "y" * 256
KNOWN_REGIONS = ["CN-GD", "CN-BJ"]
for _region in KNOWN_REGIONS:  # learnt, as a worker learns them from the first valid events
    check("DataCreated", {**SAMPLES["DataCreated"], "region": _region}, LATEST)


_UUIDS = st.uuids().map(str)
# Per field: values that pass (edges included), and values that break the rule.
_FIELDS: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "event_id": (_UUIDS | _UUIDS.map(str.upper), st.sampled_from(["", "not-a-uuid", str(uuid.uuid4())[:-1] + "g"])),
    "event_time": (
        st.sampled_from([EARLIEST_EVENT_MS, T_2025_01_01, LATEST]),
        st.sampled_from([EARLIEST_EVENT_MS - 1, LATEST + 1, 0]),
    ),
    "producer_id": (st.just("unit"), st.just("")),
    "region": (
        st.one_of(
            st.sampled_from(KNOWN_REGIONS),
            st.sampled_from(KNOWN_REGIONS),
            st.from_regex(r"[A-Z]{2}-[A-Z0-9]{1,3}", fullmatch=True),
        ),
        st.sampled_from(["cn-gd", "CN", "", "CN-GDXX"]),
    ),
    "organization": (st.sampled_from(["org-1", EDGE]), st.sampled_from(["", LONG])),
    "dataset_id": (st.sampled_from(["ds-child", EDGE]), st.sampled_from(["", LONG])),
    "bytes": (st.integers(0, 2**63 - 1), st.integers(-(2**63), -1)),
    "records": (st.integers(0, 2**63 - 1), st.integers(-(2**63), -1)),
    "parent_dataset_ids": (
        st.lists(st.sampled_from(["p1", "p2", EDGE]), max_size=3),
        st.lists(st.sampled_from(["p1", "", LONG, "ds-child", EDGE]), min_size=1, max_size=3).filter(
            lambda ps: "" in ps or LONG in ps or "ds-child" in ps
        ),
    ),
}


@st.composite
def data_created(draw: st.DrawFn) -> dict[str, Any]:
    """A DataCreated datum as the codec decodes it: valid, or broken in one field (now and then two)."""
    broken = draw(st.sets(st.sampled_from(sorted(_FIELDS)), max_size=2))
    e: dict[str, Any] = {"source": "AI"}
    for name, (valid, invalid) in _FIELDS.items():
        e[name] = draw(invalid if name in broken else valid)
    if "dataset_id" in broken:
        e["parent_dataset_ids"] = [p for p in e["parent_dataset_ids"] if p != "ds-child"] or ["p1"]
    return e


def _passes(e: dict[str, Any]) -> bool:
    try:
        check("DataCreated", e, LATEST)
    except EventRejected:
        return False
    return True


def _passes_field_by_field(e: dict[str, Any]) -> bool:
    try:
        _data_created_field_by_field(e, LATEST)
    except EventRejected:
        return False
    return True


@settings(max_examples=1000, deadline=None)
@given(data_created())
def test_the_predicate_is_true_exactly_when_no_rule_is_broken(e: dict[str, Any]) -> None:
    plain_before = data_created_is_plain(e, LATEST)
    passes = _passes_field_by_field(e)  # the rules one at a time; learns the region if it is new and valid
    assert passes or not plain_before  # the predicate never lets a broken event through
    assert data_created_is_plain(e, LATEST) == passes == _passes(e)  # and with the region known, they agree exactly


def test_a_region_becomes_known_only_once_validated() -> None:
    e = {**SAMPLES["DataCreated"], "region": "QQ-Z9"}
    assert not data_created_is_plain(e, LATEST)  # valid, but not seen before
    assert _passes(e)
    assert data_created_is_plain(e, LATEST)
    bad = {**SAMPLES["DataCreated"], "region": "qq-z9"}
    assert not _passes(bad) and not data_created_is_plain(bad, LATEST)


def test_check_names_the_broken_field_the_predicate_saw() -> None:
    for field_name, value, reason in [
        ("dataset_id", LONG, "must be 1 to 256 characters"),
        ("parent_dataset_ids", ["p1", ""], "must be 1 to 256 characters"),
        ("records", -1, "must be >= 0"),
        ("event_time", LATEST + 1, "is more than a day in the future; check the producer's clock"),
    ]:
        e = {**SAMPLES["DataCreated"], field_name: value}
        assert not data_created_is_plain(e, LATEST)
        try:
            check("DataCreated", e, LATEST)
        except EventRejected as exc:
            assert (exc.field, exc.reason) == (field_name, reason)
        else:
            raise AssertionError(f"{field_name}={value!r} passed check()")
