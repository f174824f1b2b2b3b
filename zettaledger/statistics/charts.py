"""``zl report --html FILE``: the national accounts as one self-contained HTML page of charts.

Plotly draws them: its wheel ships plotly.js, which is embedded inline, so the file opens
with no network; it has log axes, hover text (the exact integer of every bar) and a Sankey
diagram for the lineage view. Every chart's data is one JSON block
(``<script type="application/json" id="zl-figures">``) that a few lines of JavaScript hand to
Plotly, so a test can read back every number the page shows.

Values are the exact integers of ``NationalAccounts`` (JSON integers, so nothing is rounded
in the file; the browser plots them as doubles, and the exact digits are in the hover text).
The only derived numbers are the collection efficiencies, usable / attempted in percent,
rounded half-even to two decimals from the exact integers.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from zettaledger.sinks.queries import NationalAccounts

__all__ = ["CHART_IDS", "efficiency_pct", "figures", "render_html"]

CHART_IDS = ("created", "tokens", "ai_split", "hq_datasets", "collection", "lineage")
_SOURCE_LABELS = {
    "AI": "AI and system software",
    "IOT": "IoT sensing",
    "TRAINING": "AI training",
    "INFERENCE": "AI inference",
    "OTHER": "Other",
}
_BYTES_AXIS = {"tickformat": "~s", "ticksuffix": "B", "rangemode": "tozero"}


def efficiency_pct(usable: int, attempted: int) -> float:
    """Usable / attempted in percent, two decimals, half-even, from the exact integers."""
    if attempted == 0:
        return 0.0
    return float((Decimal(usable) * 100 / Decimal(attempted)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))


def _bar(name: str, x: list[Any], y: list[int], unit: str) -> dict[str, Any]:
    return {
        "type": "bar",
        "name": name,
        "x": x,
        "y": y,
        "customdata": [f"{v:,} {unit}" for v in y],
        "hovertemplate": "%{x}: %{customdata}<extra>" + html.escape(name) + "</extra>",
    }


def figures(accounts: NationalAccounts, lineage_edges: Sequence[tuple[str, str, int]] | None = None) -> dict[str, dict[str, Any]]:
    """Plotly figure specs (data and layout), plain JSON-ready dicts, one per chart id."""
    years = sorted({y for y, _ in accounts.created})
    sources = sorted({s for _, s in accounts.created if s not in ("TRAINING", "INFERENCE")})
    out: dict[str, dict[str, Any]] = {}
    out["created"] = {
        "data": [
            _bar(_SOURCE_LABELS.get(s, s), [str(y) for y in years], [accounts.created_by(y, s) for y in years], "B")
            for s in sources
        ],
        "layout": {"title": {"text": "Data created by source and year"}, "barmode": "group", "yaxis": _BYTES_AXIS},
    }
    days = sorted(accounts.tokens_by_day)
    out["tokens"] = {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "name": "tokens per day",
                "x": [d.isoformat() for d in days],
                "y": [accounts.tokens_by_day[d] for d in days],
                "customdata": [f"{accounts.tokens_by_day[d]:,}" for d in days],
                "hovertemplate": "%{x}: %{customdata} tokens<extra></extra>",
            }
        ],
        "layout": {"title": {"text": "AI tokens used per day (log scale)"}, "yaxis": {"type": "log", "exponentformat": "power"}},
    }
    out["ai_split"] = {
        "data": [
            _bar(_SOURCE_LABELS[s], [str(y) for y in years], [accounts.created_by(y, s) for y in years], "B")
            for s in ("TRAINING", "INFERENCE")
        ],
        "layout": {"title": {"text": "AI data deployed: training vs inference"}, "barmode": "group", "yaxis": _BYTES_AXIS},
    }
    out["hq_datasets"] = {
        "data": [
            {
                "type": "indicator",
                "mode": "number",
                "value": accounts.high_quality_datasets,
                "title": {"text": "high-quality datasets"},
                "number": {"valueformat": ",d"},
                "domain": {"x": [0, 0.45], "y": [0, 1]},
            },
            {
                "type": "indicator",
                "mode": "number",
                "value": accounts.high_quality_bytes,
                "title": {"text": "their bytes"},
                "number": {"valueformat": "~s", "suffix": "B"},
                "domain": {"x": [0.55, 1], "y": [0, 1]},
            },
        ],
        "layout": {"title": {"text": f"Registered high-quality datasets (of {accounts.registered_datasets:,} registered)"}},
    }
    pipelines = [c.pipeline_id for c in accounts.collection]
    out["collection"] = {
        "data": [
            {
                "type": "bar",
                "name": "usable / attempted captures",
                "x": pipelines,
                "y": [efficiency_pct(c.usable_captures, c.attempted_captures) for c in accounts.collection],
                "customdata": [f"{c.usable_captures:,} of {c.attempted_captures:,} captures" for c in accounts.collection],
                "hovertemplate": "%{x}: %{y:.2f}% (%{customdata})<extra></extra>",
            }
        ],
        "layout": {"title": {"text": "Robotic data-collection efficiency"}, "yaxis": {"ticksuffix": "%", "range": [0, 100]}},
    }
    if lineage_edges:  # the hook for the lineage accounts: roots to sources, edge width = bytes
        nodes = sorted({n for p, c, _ in lineage_edges for n in (p, c)})
        index = {n: i for i, n in enumerate(nodes)}
        out["lineage"] = {
            "data": [
                {
                    "type": "sankey",
                    "node": {"label": nodes},
                    "link": {
                        "source": [index[p] for p, _, _ in lineage_edges],
                        "target": [index[c] for _, c, _ in lineage_edges],
                        "value": [b for _, _, b in lineage_edges],
                    },
                }
            ],
            "layout": {"title": {"text": "Lineage: roots to derived datasets (bytes)"}},
        }
    return out


def _plotly_js() -> str:
    try:
        from plotly.offline import get_plotlyjs
    except ImportError as exc:  # pragma: no cover - an install hint, not logic
        raise ImportError("zl report --html needs plotly: pip install 'plotly>=6,<8'") from exc
    return str(get_plotlyjs())


def render_html(
    accounts: NationalAccounts,
    *,
    lineage_edges: Sequence[tuple[str, str, int]] | None = None,
    notes: Sequence[str] = (),
    title: str = "Zettaledger national data accounts",
    generated: dt.datetime | None = None,
) -> str:
    """One HTML file, no network needed: plotly.js inline, the figures as one JSON block, the notes as footnotes."""
    specs = figures(accounts, lineage_edges)
    data = json.dumps(specs, separators=(",", ":")).replace("</", "<\\/")  # no "</script>" inside the block
    divs = "\n".join(f'<section><div id="chart-{cid}" class="chart"></div></section>' for cid in specs)
    if "lineage" not in specs:
        divs += '\n<section id="chart-lineage-pending"><p class="note">Lineage view: drawn here once lineage accounts exist.</p></section>'
    foot = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    when = f"<p class='note'>Generated {html.escape(generated.isoformat())}</p>" if generated else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:24px;background:#fff}} .chart{{width:100%;height:340px}}
.note{{color:#555;font-size:13px}} section{{margin-bottom:12px}}</style>
<script>{_plotly_js()}</script></head>
<body><h1>{html.escape(title)}</h1>{when}
{divs}
<footer><ol class="note">{foot}</ol></footer>
<script type="application/json" id="zl-figures">{data}</script>
<script>
const figures = JSON.parse(document.getElementById("zl-figures").textContent);
for (const [id, fig] of Object.entries(figures)) {{
  Plotly.newPlot("chart-" + id, fig.data, Object.assign({{margin: {{t: 48}}}}, fig.layout), {{displaylogo: false, responsive: true}});
}}
</script></body></html>
"""
