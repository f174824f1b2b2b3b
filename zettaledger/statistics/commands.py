"""The statistician's commands: ``zl report``, ``zl publish``, ``zl close``, ``zl revisions``, ``zl export``, ``zl sql``.

Readers open the ledger with ``connect(dsn, read_only=True)``: while a worker holds the embedded
chDB directory they are answered by the worker's read-only query endpoint (``sinks.live``), so
they work during ingest. ``publish`` and ``close`` write vintages, so they need the directory (or
a ClickHouse server) and say so when a worker holds it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

from zettaledger.errors import ZettaledgerError
from zettaledger.settings import Settings

__all__ = ["DisclosureDenied", "add_commands", "rules_from", "unsuppressed_allowed"]

_TOKEN_DATES = "2024-01-01,2025-01-01,2025-12-31"
_FORMATS = ("sdmx-csv", "csv", "parquet")
_ACCESS_DENIED = 497  # ClickHouse's ACCESS_DENIED: the user lacks the grant


class DisclosureDenied(ZettaledgerError):
    """Unsuppressed (confidential) figures were asked for by a role that may not see them."""


def rules_from(settings: Settings) -> Any:
    """The disclosure rules of the settings (ZL_DISCLOSURE_*), exact: k is a Fraction of its decimal text."""
    from zettaledger.statistics.disclosure import Rules

    return Rules(
        settings.disclosure_min_reporters, settings.disclosure_dominance_n, Fraction(str(settings.disclosure_dominance_k))
    )


def unsuppressed_allowed(settings: Settings, client: Any, database: str) -> None:
    """Raise ``DisclosureDenied`` unless this role may see confidential cells.

    Two keys, both needed: ``ZL_DISCLOSURE_UNSUPPRESSED_OK=true`` (set only in the environment of the
    privileged role), and a ClickHouse user that can read the raw ledger (the statisticians' reader
    role sees the views only; ClickHouse answers ACCESS_DENIED for it, checked here at no cost).
    """
    from zettaledger.sinks.client import wrap
    from zettaledger.sinks.identifiers import qualified

    if not settings.disclosure_unsuppressed_ok:
        raise DisclosureDenied(
            "--unsuppressed shows confidential cells: it is for the role allowed to see them, which sets "
            "ZL_DISCLOSURE_UNSUPPRESSED_OK=true and connects as a ClickHouse user that can read the ledger"
        )
    try:
        client.query(f"SELECT count() FROM {qualified(database, 'ledger')} WHERE 0")
    except Exception as exc:  # the driver's error, or the endpoint's SinkError: both carry ClickHouse's code
        if getattr(exc, "code", None) != _ACCESS_DENIED:
            raise wrap(exc, f"the check that this user may read {database}.ledger") from exc
        raise DisclosureDenied(
            f"--unsuppressed needs a ClickHouse user that can read {database}.ledger; this one cannot (ACCESS_DENIED): "
            "connect as the privileged role (ZL_CLICKHOUSE_URL)"
        ) from exc


def _settings() -> Settings:
    return Settings.from_env()


def _reader(s: Settings) -> Any:
    from zettaledger.sinks.client import connect

    return connect(s.clickhouse_dsn, read_only=True)


def _writer(s: Settings) -> Any:
    from zettaledger.sinks.client import connect

    return connect(s.clickhouse_dsn)


def _period(text: str) -> Any:
    from zettaledger.sinks.dataflows import Period

    try:
        return Period.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _instant(text: str) -> dt.datetime:
    """ISO 8601 date or time; without a zone it is UTC."""
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write an ISO 8601 time, e.g. 2025-04-01 or 2025-04-01T09:00:00Z") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _dates(text: str) -> list[dt.date]:
    return [dt.date.fromisoformat(d.strip()) for d in text.split(",") if d.strip()]


def _renderer(args: argparse.Namespace) -> Any:
    """The text table with the report options of ``args``: what publish stores and ``report --as-of`` reprints."""
    from zettaledger.report import render

    year, month = (int(x) for x in args.token_month.split("-"))
    dates, years = _dates(args.token_dates), (args.year - 1, args.year)
    return lambda accounts, flags=None: render(accounts, dates, (year, month), years, flags)


def _report_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--year", type=int, default=2025, help="the year compared with the one before (default 2025)")
    p.add_argument("--token-dates", default=_TOKEN_DATES, help=f"days shown in the token table (default {_TOKEN_DATES})")
    p.add_argument("--token-month", default="2026-03", help="month whose daily average is shown (default 2026-03)")


def cmd_report(args: argparse.Namespace) -> int:
    from zettaledger.sinks.queries import read_national_accounts

    s = _settings()
    client = _reader(s)
    render = _renderer(args)
    flags = None
    if args.manifest:
        from zettaledger.report import Flags
        from zettaledger.statistics.provenance import footnotes

        try:
            manifest = json.loads(Path(args.manifest).read_text())
        except (OSError, ValueError) as exc:
            raise ZettaledgerError(
                f"cannot read the manifest {args.manifest}: {exc}; `zl generate --manifest FILE` writes it"
            ) from exc
        flags = Flags(footnotes(manifest), args.manifest)
    if args.as_of is not None:
        from zettaledger.sinks.vintages import list_vintages
        from zettaledger.statistics.vintages import accounts_at

        accounts = accounts_at(client, s.clickhouse_database, args.as_of)
        published = next(v for v in list_vintages(client, s.clickhouse_database) if v.vintage_id == args.as_of)
    else:
        accounts = read_national_accounts(client, s.clickhouse_database)
    text = cast(str, render(accounts, flags))
    if args.html:
        from zettaledger.statistics.charts import render_html

        notes = [*flags.notes(), f"Source of the notes: the generator's manifest, {args.manifest}"] if flags else []
        title = "Zettaledger national data accounts" + (f", vintage {args.as_of}" if args.as_of is not None else "")
        page = render_html(accounts, notes=notes, title=title, generated=dt.datetime.now(dt.UTC).replace(microsecond=0))
        Path(args.html).write_text(page)
        print(f"wrote {args.html} ({len(page.encode()) // 1024:,} KiB, self-contained: open it with no network)")
        return 0
    sys.stdout.write(text)
    if args.as_of is not None and flags is None:
        import hashlib

        same = hashlib.sha256(text.encode()).hexdigest() == published.report_sha256
        print(
            f"vintage {args.as_of} ({published.period.label}, {published.published_at:%Y-%m-%d %H:%M:%S}Z): "
            + (
                "byte for byte the table it published"
                if same
                else "differs from the published table: were other --year/--token-* options given?"
            ),
            file=sys.stderr,
        )
    return 0


def _publish(args: argparse.Namespace, action: str) -> int:
    from zettaledger.statistics.vintages import close, publish

    s = _settings()
    client = _writer(s)
    run = close if action == "close" else publish
    plan = run(client, s.clickhouse_database, args.period, render=_renderer(args))
    row = plan.row
    print(
        f"vintage {row.vintage_id}: {action} {row.period.label} at {row.published_at:%Y-%m-%d %H:%M:%S.%f}"[:-3]
        + f"Z, OBS_STATUS {row.obs_status}, {row.figures_changed:,} figures changed; "
        f"report sha256 {row.report_sha256[:16]} (zl report --as-of {row.vintage_id} reprints it)"
    )
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    return _publish(args, "publish")


def cmd_close(args: argparse.Namespace) -> int:
    return _publish(args, "close")


def cmd_revisions(args: argparse.Namespace) -> int:
    from zettaledger.statistics.vintages import render_triangle, revisions

    s = _settings()
    triangle = revisions(_reader(s), s.clickhouse_database, args.period)
    if not triangle.vintages:
        print(f"no vintage covers {args.period.label} yet: `zl publish --period {args.period.label}` makes the first")
        return 0
    sys.stdout.write(render_triangle(triangle, only_revised=args.only_revised))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from zettaledger.statistics.export import observations, to_csv, to_parquet, to_sdmx_csv

    if args.format == "parquet" and not args.output:
        raise ZettaledgerError("--format parquet writes a binary file: give --output FILE")
    s = _settings()
    client = _reader(s)
    if args.unsuppressed:
        unsuppressed_allowed(s, client, s.clickhouse_database)
    rows = observations(
        client,
        s.clickhouse_database,
        args.dataflow,
        vintage=args.vintage,
        as_of=args.as_of,
        updated_after=args.updated_after,
        include_history=args.include_history,
        freq=args.freq,
        rules=rules_from(s),
        unsuppressed=args.unsuppressed,
    )
    if args.format == "parquet":
        to_parquet(args.dataflow, rows, Path(args.output), args.freq)
        print(f"wrote {len(rows):,} observations to {args.output}", file=sys.stderr)
        return 0
    text = (
        to_sdmx_csv(args.dataflow, rows, args.freq, incremental=args.updated_after is not None)
        if args.format == "sdmx-csv"
        else to_csv(args.dataflow, rows, args.freq)
    )
    if args.output:
        Path(args.output).write_text(text, newline="")
        print(f"wrote {len(rows):,} observations to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


_TSV_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"}


def _tsv(value: Any) -> str:
    if value is None:
        return "\\N"
    text = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else str(value)
    # ClickHouse's TSV escapes, and every other control character as \xHH: nothing a producer sent reaches the terminal raw.
    return "".join(_TSV_ESCAPES.get(c, f"\\x{ord(c):02x}" if ord(c) < 32 or ord(c) == 127 else c) for c in text)


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)


def cmd_sql(args: argparse.Namespace) -> int:
    from zettaledger.sinks.live import run_read

    s = _settings()
    sql = sys.stdin.read() if args.query == "-" else args.query
    result = run_read(_reader(s), sql)
    out = sys.stdout
    if args.format == "tsv":
        out.write("\t".join(_tsv(c) for c in result.column_names) + "\n")
        for row in result.result_rows:
            out.write("\t".join(_tsv(v) for v in row) + "\n")
    else:  # one JSON object per line; integers exact (a consumer's parser may not be: read big ones as text)
        for row in result.result_rows:
            record = {c: _json_value(v) for c, v in zip(result.column_names, row, strict=True)}
            out.write(json.dumps(record, ensure_ascii=True) + "\n")
    return 0


def add_commands(sub: Any) -> None:
    """Register the statistician's subcommands on ``zl``'s subparsers."""
    from zettaledger.sinks.dataflows import DATAFLOWS

    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "report",
        help="print the national data accounts (or write them as an HTML page of charts)",
        description="Print the national table from the live ledger, or as a published vintage left it (--as-of).\n"
        "While a worker holds the embedded chDB directory, the worker answers (read-only).",
        formatter_class=raw,
    )
    _report_options(p)
    p.add_argument("--as-of", type=int, metavar="VINTAGE", help="the table exactly as vintage VINTAGE published it")
    p.add_argument("--html", metavar="FILE", help="write one self-contained HTML page of charts instead of the text table")
    p.add_argument(
        "--manifest",
        metavar="FILE",
        help="flag modelled figures ([E1], ...) from the generator's manifest (zl generate --manifest)",
    )
    p.set_defaults(fn=cmd_report)
    for name, fn, what in (
        ("publish", cmd_publish, "freeze the period's figures into a new vintage (OBS_STATUS P, provisional)"),
        ("close", cmd_close, "a final vintage: the period's figures are A (normal) from it on"),
    ):
        p = sub.add_parser(
            name,
            help=what,
            description=f"{what[0].upper()}{what[1:]}. Only changed figures are stored; the report it prints is hashed,\n"
            "so `zl report --as-of V` proves it reprints it. Writes: needs the worker stopped (or a ClickHouse server).",
            formatter_class=raw,
        )
        p.add_argument("--period", type=_period, required=True, help="2025, 2025-03, 2025-03-14 or 2025-03-01..2025-03-15")
        _report_options(p)
        p.set_defaults(fn=fn)
    p = sub.add_parser(
        "revisions",
        help="the revisions triangle of a period: figure x vintage, with each change's cause",
        description="Every figure of the period at every vintage that covered it; each revision split into late events,\n"
        "on-time arrivals and corrections, and the resends dropped between vintages.",
        formatter_class=raw,
    )
    p.add_argument("--period", type=_period, required=True, help="2025, 2025-03, 2025-03-14 or 2025-03-01..2025-03-15")
    p.add_argument("--only-revised", action="store_true", help="list only the figures that were revised")
    p.set_defaults(fn=cmd_revisions)
    p = sub.add_parser(
        "export",
        help="a national dataflow as SDMX-CSV 2.0, CSV or Parquet, from the vintages",
        description="Exports read published vintages only (publish first). Values are exact integers; suppressed cells\n"
        "keep their row with an empty OBS_VALUE and their CONF_STATUS (ZL_DISCLOSURE_* set the rules).\n"
        f"Dataflows: {', '.join(f'{k} ({f.structure_id})' for k, f in DATAFLOWS.items())}.",
        formatter_class=raw,
    )
    p.add_argument("--dataflow", required=True, choices=list(DATAFLOWS), help="which national dataflow")
    p.add_argument("--format", required=True, choices=_FORMATS, help="sdmx-csv (SDMX-CSV 2.0), csv, or parquet (needs --output)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--vintage", type=int, help="the state vintage VINTAGE published (default: the latest)")
    when.add_argument("--as-of", type=_instant, help="the latest vintage published at or before this time (ISO 8601, UTC)")
    p.add_argument("--updated-after", type=_instant, help="only values set by vintages published after this time (ACTION A)")
    p.add_argument("--include-history", action="store_true", help="every version of every value, each with its VALID_FROM")
    p.add_argument("--freq", choices=["A", "M", "D"], default="A", help="annual (default), monthly or daily periods")
    p.add_argument(
        "--unsuppressed",
        action="store_true",
        help="confidential cells too: only for the privileged role (ZL_DISCLOSURE_UNSUPPRESSED_OK=true and a ClickHouse "
        "user that can read the ledger)",
    )
    p.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    p.set_defaults(fn=cmd_export)
    p = sub.add_parser(
        "sql",
        help="run one read-only SELECT on the ledger (also while the worker runs) and print TSV or JSON",
        description="One SELECT (or WITH ... SELECT), run with ClickHouse's readonly=1: nothing can be written.\n"
        "While a worker holds the embedded chDB directory, the worker runs it.",
        formatter_class=raw,
    )
    p.add_argument("query", help="the SQL, or - to read it from standard input")
    p.add_argument(
        "--format", choices=["tsv", "json"], default="tsv", help="tsv with a header (default), or one JSON object a line"
    )
    p.set_defaults(fn=cmd_sql)
