"""``zl lineage``: upstream, downstream, impact and roots, as a table or JSON.

    zl lineage upstream DATASET   [--depth N] [--budget N] [--format table|json]
    zl lineage downstream DATASET [--depth N] [--budget N] [--format table|json]
    zl lineage impact DATASET     [--depth N] [--budget N] [--format table|json]
    zl lineage roots --year Y [--source S] [--depth N] [--format table|json]

``cli.py`` calls ``add_lineage_commands(subparsers)``. Every answer says whether a depth
or size bound cut it (``"partial": true`` in JSON, a PARTIAL line in the table).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from zettaledger.settings import Settings
from zettaledger.sinks.lineage_queries import DEFAULT_BUDGET, DEFAULT_DEPTH, Lineage, Roots

__all__ = ["add_lineage_commands", "render_lineage", "render_roots"]

_MAX_ROWS = 200  # table rows printed; JSON carries everything


def _safe(text: str, width: int = 80) -> str:
    """Identities come from producers: no control characters on the terminal, long ones shortened."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in text)
    return clean if len(clean) <= width else clean[: width - 3] + "..."


def _bytes(n: int) -> str:
    return f"{n:,}"


def render_lineage(answer: Lineage) -> str:
    lines = [
        f"{answer.direction} of {_safe(answer.dataset)} (depth {answer.depth}): {len(answer.nodes) - 1} datasets, {len(answer.edges)} edges"
    ]
    if answer.partial:
        lines.append(f"PARTIAL: cut by the {' and '.join(answer.cut_by)} bound; raise --depth/--budget for the rest")
    lines.append(f"{'depth':>5}  {'bytes':>30}  dataset")
    for n in answer.nodes[:_MAX_ROWS]:
        lines.append(f"{n.depth:>5}  {_bytes(n.bytes):>30}  {_safe(n.id)}")
    if len(answer.nodes) > _MAX_ROWS:
        lines.append(f"... {len(answer.nodes) - _MAX_ROWS} more datasets (use --format json)")
    lines.append(
        f"{'':>5}  {_bytes(answer.total_bytes):>30}  total bytes {'upstream' if answer.direction == 'upstream' else 'downstream'}"
    )
    if answer.cycles:
        lines.append(
            f"cycles: {len(answer.cycles)} edges close a cycle, e.g. {_safe(answer.cycles[0][0], 40)} -> {_safe(answer.cycles[0][1], 40)}"
        )
    return "\n".join(lines)


def render_roots(answer: Roots) -> str:
    what = f"{answer.source} " if answer.source else ""
    lines = [
        f"{answer.year}: {_bytes(answer.total_bytes)} bytes of derived and copied {what}data, by the roots they descend from"
    ]
    if answer.partial:
        lines.append(
            f"PARTIAL: {_bytes(sum(b for _, b in answer.unresolved))} bytes stopped at the depth or node bound (unresolved)"
        )
    lines.append(f"{'bytes':>30}  {'share':>7}  {'source':<10} root")
    for root, source, b in answer.roots[:_MAX_ROWS]:
        share = b / answer.total_bytes if answer.total_bytes else 0.0
        lines.append(f"{_bytes(b):>30}  {share:>7.2%}  {source:<10} {_safe(root)}")
    lines.append("by root source: " + ", ".join(f"{s} {_bytes(b)}" for s, b in answer.by_source().items()))
    if answer.cycles_cut:
        lines.append(f"cycles: {len(answer.cycles_cut)} edges cut")
    return "\n".join(lines)


def _graph(settings: Settings) -> Any:
    from zettaledger.sinks.client import connect
    from zettaledger.sinks.lineage_graph import ClickHouseGraph

    return ClickHouseGraph(connect(settings.clickhouse_dsn), settings.clickhouse_database)


def _cmd(args: argparse.Namespace) -> int:
    from zettaledger.sinks import lineage_queries as q

    graph = _graph(Settings.from_env())
    answer: Lineage | Roots
    if args.lineage_command == "roots":
        answer = q.attribute(graph, args.year, args.source, args.depth, args.budget or 100 * DEFAULT_BUDGET)
    elif args.lineage_command == "impact":
        answer = q.impact(graph, args.dataset, args.depth, args.budget or DEFAULT_BUDGET)
    else:
        answer = q.walk(graph, args.dataset, args.lineage_command, args.depth, args.budget or DEFAULT_BUDGET)
    if args.format == "json":
        print(json.dumps(answer.to_json(), indent=2))
    else:
        print(render_roots(answer) if isinstance(answer, Roots) else render_lineage(answer))
    return 0


def _depth(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 1000:
        raise argparse.ArgumentTypeError("must be 0 to 1000")
    return value


def add_lineage_commands(subparsers: Any) -> None:
    """Add ``zl lineage ...`` to the CLI's subparsers (the object ``add_subparsers()`` returns)."""
    lineage = subparsers.add_parser("lineage", help="walk the lineage graph; attribute a year's data to its roots")
    sub = lineage.add_subparsers(dest="lineage_command", required=True)
    for name, text in (
        ("upstream", "the datasets DATASET derives from"),
        ("downstream", "the datasets derived from DATASET"),
        ("impact", "what depends on DATASET, and its bytes"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("dataset", help="dataset identity: a native dataset_id or an OpenLineage namespace/name")
        p.add_argument("--depth", type=_depth, default=DEFAULT_DEPTH, help=f"levels at most (default {DEFAULT_DEPTH})")
        p.add_argument("--budget", type=int, default=0, help=f"datasets at most (default {DEFAULT_BUDGET})")
        p.add_argument("--format", choices=("table", "json"), default="table")
        p.set_defaults(fn=_cmd)
    roots = sub.add_parser("roots", help="a year's derived and copied bytes by the root datasets they descend from")
    roots.add_argument("--year", type=int, required=True)
    roots.add_argument(
        "--source", choices=("IOT", "AI", "TRAINING", "INFERENCE", "OTHER"), help="only data counted under this source"
    )
    roots.add_argument("--depth", type=_depth, default=DEFAULT_DEPTH, help=f"levels at most (default {DEFAULT_DEPTH})")
    roots.add_argument("--budget", type=int, default=0, help=f"datasets at most (default {100 * DEFAULT_BUDGET})")
    roots.add_argument("--format", choices=("table", "json"), default="table")
    roots.set_defaults(fn=_cmd)
