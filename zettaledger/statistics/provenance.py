"""Published versus modelled: which demo figures are assumptions, said per figure, from the manifest.

The demo stream is calibrated to published totals, but some of its figures are modelled.
``footnotes(manifest)`` takes the JSON that ``zl generate --manifest`` writes and returns
one ``Footnote`` per modelled figure, with a flag:

- ``residual``: what is left of a published total after published parts (IoT 2025 = total
  52.26 ZB - AI 26.92 ZB - training 98.14 EB - inference 101.34 EB);
- ``assumed``: a split invented to fill a published total (2024 by source: only 41.06 ZB
  is published; records from an assumed average record size per source);
- ``inferred``: derived from a published ratio (the national library's 2.87 PB, from
  "890.56 PB is about 310x");
- ``interpolated``: between published anchors (daily tokens between the anchor days).

Each footnote is checked against the manifest's own numbers (a residual must still be
the difference); a figure that no longer matches is reported as ``unverified`` rather
than footnoted silently. If the generator adds a ``"provenance"`` section to the
manifest (proposed: ``{"<figure path>": {"flag": ..., "note": ...}}``), it is used as is.
SDMX code for all of them: OBS_STATUS ``E`` (estimated value).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = ["Footnote", "footnotes"]

Flag = Literal["residual", "assumed", "inferred", "interpolated", "unverified"]

EB: Final = 10**18
ZB: Final = 10**21
PB: Final = 10**15

# The published figures the demo is calibrated to (decimal SI), and the published ratio.
PUBLISHED_TOTAL: Final = {2024: 41_060 * EB, 2025: 52_260 * EB}
PUBLISHED_2025: Final = {"AI": 26_920 * EB, "TRAINING": 98_140 * PB, "INFERENCE": 101_340 * PB}
PUBLISHED_HQ_BYTES: Final = 890_560 * 10**12
PUBLISHED_LIBRARY_RATIO: Final = 310
NATIONAL_LIBRARY_BYTES: Final = 2_870 * 10**12  # as report.NATIONAL_LIBRARY_DIGITAL_BYTES
TOKEN_ANCHOR_DAYS: Final = ("2024-01-01", "2025-01-01", "2025-12-31", "2026-03-01", "2026-03-31")


@dataclass(frozen=True)
class Footnote:
    figure: str  # a path into the manifest, e.g. "data_created/2025/IOT/bytes", or a report figure
    flag: Flag
    note: str
    value: int | None = None
    obs_status: str = "E"  # SDMX CL_OBS_STATUS: estimated value


def footnotes(manifest: Mapping[str, Any]) -> list[Footnote]:
    """Every modelled figure of the demo, with why; published figures get none."""
    if "provenance" in manifest:
        return [Footnote(path, p["flag"], p["note"], p.get("value")) for path, p in sorted(manifest["provenance"].items())]
    out: list[Footnote] = []
    data = manifest.get("data_created", {})
    y2025 = {s: int(v["bytes"]) for s, v in data.get("2025", {}).items()}
    if "IOT" in y2025:
        residual = PUBLISHED_TOTAL[2025] - sum(PUBLISHED_2025.values())
        ok = y2025["IOT"] == residual and all(y2025.get(s) == v for s, v in PUBLISHED_2025.items())
        out.append(
            Footnote(
                "data_created/2025/IOT/bytes",
                "residual" if ok else "unverified",
                "Modelled: the residual of the published 2025 total (52.26 ZB) after AI and system software, "
                "AI training and AI inference; not a published figure"
                + ("" if ok else " (the manifest no longer matches this rule: check the generator)"),
                y2025["IOT"],
            )
        )
    y2024 = {s: int(v["bytes"]) for s, v in data.get("2024", {}).items()}
    if y2024:
        ok = sum(y2024.values()) == PUBLISHED_TOTAL[2024]
        for source, value in sorted(y2024.items()):
            out.append(
                Footnote(
                    f"data_created/2024/{source}/bytes",
                    "assumed" if ok else "unverified",
                    "Modelled: the 2024 split by source is assumed; only the 2024 total (41.06 ZB) is published",
                    value,
                )
            )
    for year, sources in sorted(data.items()):
        for source, v in sorted(sources.items()):
            out.append(
                Footnote(
                    f"data_created/{year}/{source}/records",
                    "assumed",
                    "Modelled: records are bytes divided by an assumed average record size per source",
                    int(v["records"]),
                )
            )
    out.append(
        Footnote(
            "report/national_library_bytes",
            "inferred",
            f"Inferred: the national library's 2.87 PB is implied by the published ratio (890.56 PB is about "
            f"{PUBLISHED_LIBRARY_RATIO}x); it is not a published figure, nor is the ratio printed beside it",
            NATIONAL_LIBRARY_BYTES,
        )
    )
    by_day = manifest.get("tokens", {}).get("by_day", {})
    modelled_days = [d for d in by_day if d not in TOKEN_ANCHOR_DAYS]
    if modelled_days:
        out.append(
            Footnote(
                "tokens/by_day",
                "interpolated",
                f"Modelled: {len(modelled_days)} daily token figures are interpolated between the published anchor days "
                f"({', '.join(TOKEN_ANCHOR_DAYS)}); the 70/30 input/output split is assumed",
            )
        )
    replicated = manifest.get("lineage", {}).get("replicated_per_mille", {})
    if replicated:
        shares = ", ".join(f"{s} {int(n) / 10:g}%" for s, n in sorted(replicated.items()))
        out.append(
            Footnote(
                "lineage/replicated",
                "assumed",
                f"Modelled: the split of unique, derived and replicated data is an assumption of the demo "
                f"(a share of derived events are replicas of their parent: {shares}); no such split is published",
            )
        )
    out.append(
        Footnote(
            "regions",
            "assumed",
            "Modelled: every breakdown by region, model, provider, organisation and collection pipeline is "
            "invented for the demo; only national totals are calibrated to published figures",
        )
    )
    return out
