"""What a statistics office publishes, through the real broker, the worker and chDB, driven by the `zl` CLI:
vintages and revisions, exports read back by independent readers, the HTML report in headless Chromium,
disclosure control, and live reads while the worker holds the embedded ledger."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Pipeline
from zettaledger.producers.producer import EventProducer
from zettaledger.schemas import DataCreated, Source, TokenUsage
from zettaledger.settings import REPO_ROOT
from zettaledger.sinks.client import Client
from zettaledger.sinks.live import QUERY_FILE
from zettaledger.sinks.queries import read_national_accounts
from zettaledger.statistics.disclosure import TOTAL, Protected, recoverable

pytestmark = pytest.mark.integration

MAR1 = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)
JUN1 = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
LATE_BYTES = 9_000_000_000_000_000_001  # past float64's exact range, sent three months behind its partition's stream time
BIG_EVENTS = 125_000  # an event holds at most 2^63 - 1 bytes (Avro long): the 1e24-byte cell is 125,000 events of 8e18
DATASET = "ds-statistics"  # one key, so one partition: the late event is late against the events before it


def created(when: dt.datetime, producer: str, source: Source, region: str, n: int) -> DataCreated:
    return DataCreated(str(uuid.uuid4()), int(when.timestamp() * 1000), producer, source, region, "org", DATASET, n, 1)


def first_events(big: int = BIG_EVENTS) -> list[DataCreated]:
    """Known cells: CN-BJ x AI dominated by one reporter (1e24 bytes with the default ``big``), CN-SH x IOT with two
    reporters (one of them 2^64 + 1 bytes), the rest three equal reporters."""
    events = [created(MAR1, "big", Source.AI, "CN-BJ", 8 * 10**18) for _ in range(big)]
    events += [
        created(MAR1, "s1", Source.AI, "CN-BJ", 10),
        created(MAR1, "s2", Source.AI, "CN-BJ", 10),
        created(MAR1, "p", Source.IOT, "CN-SH", 2**63 - 1),
        created(MAR1, "p", Source.IOT, "CN-SH", 2**63 - 1),
        created(MAR1, "p", Source.IOT, "CN-SH", 3),
        created(MAR1, "q", Source.IOT, "CN-SH", 7),
    ]
    for region, source, total in (("CN-BJ", Source.IOT, 300), ("CN-SH", Source.AI, 600), ("CN-GD", Source.AI, 900)):
        events += [created(MAR1, who, source, region, total // 3) for who in ("x", "y", "z")]
    events += [created(JUN1, who, Source.IOT, "CN-GD", 500) for who in ("x", "y", "z")]  # moves stream time to June
    return events


def cells(events: Iterable[DataCreated]) -> dict[tuple[str, str, str], int]:
    """The truth of DATA_CREATED for 2025: (REF_AREA, SOURCE, INDICATOR) -> value, margins (_T) included."""
    out: dict[tuple[str, str, str], int] = defaultdict(int)
    for e in events:
        for region in (e.region, TOTAL):
            for source in (e.source.value, TOTAL):
                out[(region, source, "BYTES")] += e.bytes
                out[(region, source, "RECORDS")] += e.records
                out[(region, source, "EVENTS")] += 1
    return dict(out)


def zl(pipeline: Pipeline, *args: str, ok: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "zettaledger.cli", *args],
        env={**pipeline.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    if ok:
        assert result.returncode == 0, (
            f"zl {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr[-3000:]}"
        )
    return result


def send(pipeline: Pipeline, events: Iterable[Any]) -> None:
    with EventProducer(pipeline.settings, "it-statistics", batch_events=1000) as producer:
        for event in events:
            producer.add(event)


def test_publish_revise_reproduce_and_export_exactly(
    pipeline: Pipeline, open_chdb: Callable[[Path], Client], tmp_path: Path
) -> None:
    started = time.perf_counter()
    first = first_events()
    tokens = TokenUsage(str(uuid.uuid4()), int(MAR1.timestamp() * 1000), "it", "m-1", "prov", "CN-BJ", 9 * 10**18, 3)
    send(pipeline, [*first, tokens])
    pipeline.run_worker()
    out = zl(pipeline, "publish", "--period", "2025").stdout
    assert out.startswith("vintage 1: publish 2025 at ") and "OBS_STATUS P" in out
    as_published = zl(pipeline, "report", "--as-of", "1")
    assert "byte for byte the table it published" in as_published.stderr

    # Late events and resends, then the worker again, then a second vintage.
    late = created(MAR1, "s1", Source.AI, "CN-BJ", LATE_BYTES)
    send(pipeline, [late, first[0], first[-1]])  # two resends: the same events, their event ids unchanged
    pipeline.run_worker()
    assert zl(pipeline, "publish", "--period", "2025").stdout.startswith("vintage 2: publish 2025")

    # The first vintage's table, byte for byte, after the ledger moved on.
    again = zl(pipeline, "report", "--as-of", "1")
    assert again.stdout == as_published.stdout
    assert "byte for byte the table it published" in again.stderr
    assert zl(pipeline, "report").stdout != as_published.stdout  # the live table has the late bytes

    # The revision is exactly the late bytes, explained as late events; the resends changed nothing.
    triangle = zl(pipeline, "revisions", "--period", "2025").stdout
    revised = re.findall(
        r"^  v(\d+) (\S+) ([+-]\d+) = late ([+-]\d+) \+ on-time ([+-]\d+) \+ corrections ([+-]\d+)$", triangle, re.M
    )
    assert [r for r in revised if r[1].startswith("DATA_CREATED")] == [
        ("2", "DATA_CREATED:CN-BJ.AI:BYTES", f"+{LATE_BYTES}", f"+{LATE_BYTES}", "+0", "+0"),
        ("2", "DATA_CREATED:CN-BJ.AI:EVENTS", "+1", "+1", "+0", "+0"),
        ("2", "DATA_CREATED:CN-BJ.AI:RECORDS", "+1", "+1", "+0", "+0"),
    ]
    assert "v2: 2 resent events dropped since the previous vintage" in triangle

    # Exports, unsuppressed for the privileged role, read back by independent readers: every value exact.
    truth = cells([*first, late])
    assert truth[("CN-BJ", "AI", "BYTES")] == 10**24 + 20 + LATE_BYTES
    assert truth[("CN-SH", "IOT", "BYTES")] == 2**64 + 8
    privileged = {"ZL_DISCLOSURE_UNSUPPRESSED_OK": "true"}
    denied = zl(pipeline, "export", "--dataflow", "DATA_CREATED", "--format", "csv", "--unsuppressed", ok=False)
    assert denied.returncode == 2 and "ZL_DISCLOSURE_UNSUPPRESSED_OK=true" in denied.stderr
    sdmx_text = zl(
        pipeline, "export", "--dataflow", "DATA_CREATED", "--format", "sdmx-csv", "--unsuppressed", env=privileged
    ).stdout
    from pysdmx.io import read_sdmx

    message: Any = read_sdmx(sdmx_text)
    (dataset,) = message.data
    assert dataset.short_urn == "Dataflow=ZL:DATA_CREATED(1.0)"
    sdmx = {(r["REF_AREA"], r["SOURCE"], r["INDICATOR"]): int(r["OBS_VALUE"]) for r in dataset.data.to_dict("records")}
    assert sdmx == truth
    csv_text = zl(pipeline, "export", "--dataflow", "DATA_CREATED", "--format", "csv", "--unsuppressed", env=privileged).stdout
    plain = {(r["REF_AREA"], r["SOURCE"], r["INDICATOR"]): int(r["OBS_VALUE"]) for r in csv.DictReader(io.StringIO(csv_text))}
    assert plain == truth
    parquet = tmp_path / "created.parquet"
    zl(
        pipeline,
        "export",
        "--dataflow",
        "DATA_CREATED",
        "--format",
        "parquet",
        "--unsuppressed",
        "--output",
        str(parquet),
        env=privileged,
    )
    import pyarrow.parquet as pq

    table = pq.read_table(parquet).to_pylist()
    assert all(isinstance(r["OBS_VALUE"], Decimal) for r in table)
    assert {(r["REF_AREA"], r["SOURCE"], r["INDICATOR"]): int(r["OBS_VALUE"]) for r in table} == truth
    # The first vintage's export: the late bytes are not in it.
    v1 = zl(
        pipeline, "export", "--dataflow", "DATA_CREATED", "--format", "csv", "--unsuppressed", "--vintage", "1", env=privileged
    )
    at_v1 = {(r["REF_AREA"], r["SOURCE"], r["INDICATOR"]): int(r["OBS_VALUE"]) for r in csv.DictReader(io.StringIO(v1.stdout))}
    assert at_v1 == cells(first)
    tokens_csv = zl(pipeline, "export", "--dataflow", "TOKENS", "--format", "sdmx-csv").stdout
    assert f",INPUT_TOKENS,2025,{9 * 10**18},TOKENS,P,F," in tokens_csv

    # Disclosure control through the real pipeline: every cell is published with a CONF_STATUS, none dropped.
    public = list(csv.DictReader(io.StringIO(zl(pipeline, "export", "--dataflow", "DATA_CREATED", "--format", "csv").stdout)))
    status = {(r["REF_AREA"], r["SOURCE"]): r["CONF_STATUS"] for r in public if r["INDICATOR"] == "BYTES"}
    shown = {(r["REF_AREA"], r["SOURCE"]): r["OBS_VALUE"] for r in public if r["INDICATOR"] == "BYTES"}
    assert set(status) == {(a, s) for a, s, i in truth if i == "BYTES"}
    for cell, value in shown.items():
        assert (value == "") == (status[cell] != "F")
        assert value in ("", str(truth[(*cell, "BYTES")]))
    assert str(10**24 + 20 + LATE_BYTES) not in "".join(r["OBS_VALUE"] for r in public)
    protected = Protected({c: truth[(*c, "BYTES")] for c in status}, status)
    assert recoverable(protected) == set()  # no suppressed cell can be computed from the published ones
    db = pipeline.settings.clickhouse_database
    reporters = zl(pipeline, "sql", f"SELECT countIf(producer_id != '') FROM {db}.ledger WHERE kind = 'volume'").stdout
    if int(reporters.splitlines()[1]) == 0:
        # The worker does not record producer_id yet: every contribution reads as one unknown reporter, the safe reading.
        assert set(status.values()) == {"A"}
    else:
        assert status[("CN-BJ", "AI")] == "O" and status[("CN-SH", "IOT")] == "A"
        assert status[("CN-GD", "AI")] == status[("CN-GD", "IOT")] == "F"

    # The HTML report: every number from the ledger, drawn by a real browser.
    page = tmp_path / "report.html"
    zl(pipeline, "report", "--html", str(page))
    html = page.read_text()
    match = re.search(r'<script type="application/json" id="zl-figures">(.*?)</script>', html, re.S)
    assert match
    figures = json.loads(match.group(1).replace("<\\/", "</"))
    accounts = read_national_accounts(open_chdb(Path(pipeline.settings.clickhouse_dsn.removeprefix("chdb://"))), db)
    labels = {"AI and system software": "AI", "IoT sensing": "IOT", "AI training": "TRAINING", "AI inference": "INFERENCE"}
    drawn = {
        (int(x), labels[t["name"]]): y
        for c in ("created", "ai_split")
        for t in figures[c]["data"]
        for x, y in zip(t["x"], t["y"], strict=True)
    }
    assert {k: v for k, v in drawn.items() if v} == {k: b for k, (b, _) in accounts.created.items()}
    assert drawn[(2025, "AI")] == truth[(TOTAL, "AI", "BYTES")] == 10**24 + 20 + LATE_BYTES + 1500
    screenshot(page, REPO_ROOT / "var" / "report-statistics.png", tmp_path)
    print(f"\nstatistics acceptance in {time.perf_counter() - started:.1f}s")


def screenshot(page: Path, out: Path, tmp_path: Path) -> None:
    """Headless Chromium draws the page; the PNG is kept under var/ (a CI artefact) and must show coloured charts."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (`make setup` installs it as root; else apt-get install -y chromium)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
            f"--screenshot={out}",
            "--window-size=1400,2400",
            page.as_uri(),
        ],
        check=True,
        timeout=180,
        capture_output=True,
    )
    from tests.unit.test_charts import _png_pixels

    width, height, pixels = _png_pixels(out.read_bytes())
    assert (width, height) == (1400, 2400)
    colour = sum(1 for p in pixels if max(p) - min(p) > 80)
    assert colour > 0.02 * len(pixels), f"only {colour} coloured pixels: the charts did not render"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, body: dict[str, Any], token: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        return exc.code, dict(json.loads(exc.read() or b"{}"))


def test_report_and_sql_while_the_worker_holds_chdb(pipeline: Pipeline, tmp_path: Path) -> None:
    """The worker runs on chDB (not --until-caught-up); the report works while it runs and equals the one after it stops."""
    env = {**pipeline.env, "ZL_WEB_ENABLED": "true", "ZL_WEB_PORT": str(_free_port()), "ZL_WEB_BIND": "127.0.0.1"}
    live = Pipeline(pipeline.settings, env)
    chdb = Path(pipeline.settings.clickhouse_dsn.removeprefix("chdb://"))
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen([sys.executable, "-m", "zettaledger.cli", "worker"], env=env, cwd=REPO_ROOT, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while not (chdb / QUERY_FILE).exists():  # announced once the ledger is open; before that, nothing reads
            assert worker.poll() is None and time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.2)
        events = first_events(big=3)
        send(live, events)
        db = pipeline.settings.clickhouse_database
        while True:  # statisticians' SQL, live
            counted = zl(live, "sql", f"SELECT sum(events) FROM {db}.ingest_progress").stdout.splitlines()[1]
            if counted == str(len(events)):
                break
            assert time.monotonic() < deadline, f"the worker counted {counted} of {len(events)}"
            time.sleep(0.5)
        during = zl(live, "report").stdout
        assert f"Ingest: {len(events)} events counted" in during
        as_json = zl(
            live,
            "sql",
            "--format",
            "json",
            f"SELECT region, sum(bytes) AS b FROM {db}.data_created_daily GROUP BY region ORDER BY region",
        )
        assert json.loads(as_json.stdout.splitlines()[0]) == {"region": "CN-BJ", "b": 3 * 8 * 10**18 + 20 + 300}
        refused = zl(live, "publish", "--period", "2025", ok=False)  # a writer needs the directory
        assert refused.returncode == 2 and "stop" in refused.stderr

        endpoint = json.loads((chdb / QUERY_FILE).read_text())
        assert oct((chdb / QUERY_FILE).stat().st_mode & 0o777) == "0o600"
        url, token = endpoint["url"], endpoint["token"]
        assert _post(url, {"sql": "SELECT 1"}, None)[0] == 401
        assert _post(url, {"sql": "SELECT 1"}, "not-the-token")[0] == 401
        status, answer = _post(url, {"sql": f"INSERT INTO {db}.ledger (kind, bytes) VALUES ('volume', 1)"}, token)
        assert status == 403, answer
        for sneaky in ("SELECT * FROM file('/etc/hostname', 'LineAsString')", "SELECT 1 SETTINGS readonly = 0"):
            status, answer = _post(url, {"sql": sneaky}, token)
            assert (status, answer["code"]) == (400, 164), answer  # ClickHouse's own READONLY
        assert _post(url, {"sql": f"SELECT sum(events) FROM {db}.ingest_progress"}, token)[1]["rows"] == [[len(events)]]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        log.close()
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert not (chdb / QUERY_FILE).exists()  # withdrawn on shutdown
    after = zl(pipeline, "report").stdout  # now straight from the chDB directory
    assert after == during
    assert (
        zl(pipeline, "sql", f"SELECT count() FROM {db}.ledger WHERE kind = 'volume' AND bytes = 1").stdout.splitlines()[1] == "0"
    )
