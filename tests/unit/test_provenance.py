"""Published versus modelled: the demo's modelled figures are footnoted from the generator's manifest."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from zettaledger.producers import seed
from zettaledger.producers.generator import generate
from zettaledger.schemas.models import Source
from zettaledger.statistics.provenance import Footnote, footnotes


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return dict(json.loads(json.dumps(generate(size=0.01).manifest.to_json())))  # as `zl generate --manifest` writes it


def test_the_three_modelled_figures_of_the_issue_are_flagged(manifest: dict[str, Any]) -> None:
    notes = {n.figure: n for n in footnotes(manifest)}
    iot = notes["data_created/2025/IOT/bytes"]
    assert (iot.flag, iot.value, iot.obs_status) == ("residual", seed.DATA_CREATED_BYTES[(2025, Source.IOT)], "E")
    assert iot.value == 52_260 * 10**18 - 26_920 * 10**18 - 98_140 * 10**15 - 101_340 * 10**15  # 25.14052 ZB
    assert {
        f for f, n in notes.items() if f.startswith("data_created/2024/") and f.endswith("/bytes") and n.flag == "assumed"
    } == {f"data_created/2024/{s}/bytes" for s in ("AI", "INFERENCE", "IOT", "TRAINING")}
    assert (
        notes["report/national_library_bytes"].flag == "inferred"
        and notes["report/national_library_bytes"].value == 2_870 * 10**12
    )
    assert notes["tokens/by_day"].flag == "interpolated"


def test_published_figures_get_no_footnote(manifest: dict[str, Any]) -> None:
    figures = {n.figure for n in footnotes(manifest)}
    assert not {f"data_created/2025/{s}/bytes" for s in ("AI", "TRAINING", "INFERENCE")} & figures
    assert "datasets/high_quality/bytes" not in figures


def test_a_manifest_that_breaks_the_rule_is_unverified_not_silently_footnoted(manifest: dict[str, Any]) -> None:
    changed = copy.deepcopy(manifest)
    changed["data_created"]["2025"]["IOT"]["bytes"] += 1
    (iot,) = [n for n in footnotes(changed) if n.figure == "data_created/2025/IOT/bytes"]
    assert iot.flag == "unverified" and "no longer matches" in iot.note


def test_a_provenance_section_in_the_manifest_wins() -> None:
    given = {"provenance": {"x/y": {"flag": "assumed", "note": "said by the generator", "value": 3}}}
    assert footnotes(given) == [Footnote("x/y", "assumed", "said by the generator", 3)]
