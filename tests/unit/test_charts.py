"""The HTML report: every number in it comes from the accounts, and it renders in a real headless browser."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

from zettaledger.producers import seed
from zettaledger.report import SOURCE_LABELS
from zettaledger.schemas.models import Source
from zettaledger.settings import REPO_ROOT
from zettaledger.sinks.queries import CollectionFigures, LineageSummary, NationalAccounts
from zettaledger.statistics.charts import efficiency_pct, render_html


def _accounts() -> NationalAccounts:
    created = {(y, s.value): (b, seed.DATA_CREATED_RECORDS[(y, s)]) for (y, s), b in seed.DATA_CREATED_BYTES.items()}
    created[(2025, "OTHER")] = (10**24, 1)  # a 1e24-byte cell among them
    days = [seed.TOKEN_FIRST_DAY + dt.timedelta(days=i) for i in range(0, 820, 7)]
    tokens = {d: 10**11 * (i + 1) ** 3 for i, d in enumerate(days)}
    collection = [
        CollectionFigures(p.pipeline_id, 8000, p.attempted_captures, p.usable_captures, p.attempted_bytes, p.usable_bytes)
        for p in seed.PIPELINES
    ]
    return NationalAccounts(
        created=created,
        tokens_by_day=tokens,
        high_quality_datasets=seed.HIGH_QUALITY_DATASETS,
        high_quality_bytes=seed.HIGH_QUALITY_BYTES,
        registered_datasets=113_268,
        collection=collection,
        lineage=LineageSummary(3, 2, 1, 2, 10),
        events_counted=1,
        duplicates_dropped=0,
        dead_lettered=0,
    )


EDGES = [("raw-iot", "hq-1", 7 * 10**15), ("raw-ai", "hq-1", 3 * 10**15), ("hq-1", "train-1", 10**15)]


def _embedded(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="zl-figures">(.*?)</script>', page, re.S)
    assert match, "the figures' JSON block is missing"
    return dict(json.loads(match.group(1).replace("<\\/", "</")))


def test_every_number_in_the_page_comes_from_the_accounts() -> None:
    accounts = _accounts()
    figs = _embedded(render_html(accounts, lineage_edges=EDGES, notes=["IoT 2025 is modelled: the residual"]))
    for chart in ("created", "ai_split"):
        for trace in figs[chart]["data"]:
            source = {v: k for k, v in SOURCE_LABELS.items()}[trace["name"]]
            for year, value in zip(trace["x"], trace["y"], strict=True):
                assert value == accounts.created_by(int(year), source)
                assert isinstance(value, int)  # JSON integers: nothing rounded in the file
    shown_created = {(x, v) for t in figs["created"]["data"] for x, v in zip(t["x"], t["y"], strict=True)}
    assert ("2025", 10**24) in shown_created
    assert ("2025", seed.DATA_CREATED_BYTES[(2025, Source.IOT)]) in shown_created
    (tokens,) = figs["tokens"]["data"]
    assert {dt.date.fromisoformat(x): y for x, y in zip(tokens["x"], tokens["y"], strict=True)} == accounts.tokens_by_day
    assert figs["tokens"]["layout"]["yaxis"]["type"] == "log"
    hq_count, hq_bytes = figs["hq_datasets"]["data"]
    assert (hq_count["value"], hq_bytes["value"]) == (accounts.high_quality_datasets, accounts.high_quality_bytes)
    (eff,) = figs["collection"]["data"]
    assert eff["x"] == [c.pipeline_id for c in accounts.collection]
    assert eff["y"] == [efficiency_pct(c.usable_captures, c.attempted_captures) for c in accounts.collection]
    assert eff["y"][0] == 95.0  # rbt-sh-humanoid-01: 9,500 basis points exactly
    link = figs["lineage"]["data"][0]["link"]
    assert link["value"] == [b for _, _, b in EDGES]


def test_without_lineage_accounts_the_page_keeps_the_hook() -> None:
    page = render_html(_accounts())
    assert "lineage" not in _embedded(page) and 'id="chart-lineage-pending"' in page
    assert re.search(r"<(script|link|img)\b[^>]*\b(src|href)=", page) is None  # nothing to fetch: plotly.js is inline


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """A tiny PNG decoder (8-bit RGB/RGBA, non-interlaced): enough to count pixels without Pillow."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = depth = color = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert depth == 8 and color in (2, 6), f"unexpected PNG format depth={depth} color={color}"
    bpp = 3 if color == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, [bytes(r[i : i + 3]) for r in rows for i in range(0, stride, bpp)]


def test_the_page_renders_in_headless_chromium(tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip(
            "Debian's chromium is not installed and could not be: `make setup` installs it when run as root, "
            "else run `sudo apt-get install -y chromium` (the screenshot test needs a real browser)"
        )
    page = tmp_path / "report.html"
    page.write_text(render_html(_accounts(), lineage_edges=EDGES, notes=["a footnote"]))
    out = REPO_ROOT / "var" / "report.png"  # kept as a CI artefact
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",  # let Plotly draw before the shot
            f"--screenshot={out}",
            "--window-size=1400,2400",
            page.as_uri(),
        ],
        check=True,
        timeout=180,
        capture_output=True,
    )
    width, height, pixels = _png_pixels(out.read_bytes())
    assert (width, height) == (1400, 2400)
    ink = sum(1 for p in pixels if p != b"\xff\xff\xff")
    assert ink > 0.03 * len(pixels), f"the page is nearly blank: {ink} of {len(pixels)} pixels not white"
    # Coloured pixels (bars, lines, the Sankey) rather than grey text: the charts were drawn, not just the titles.
    colour = sum(1 for p in pixels if max(p) - min(p) > 80)
    assert colour > 0.02 * len(pixels), f"only {colour} coloured pixels: the charts did not render"
