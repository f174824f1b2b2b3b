"""`make faults`: every fault scenario on the real broker and chDB, one line each, then a summary.

    python -m tests.faults.run [scenario ...]

Exits non-zero if any scenario is off (lost, duplicated, gaps, overlaps, or its own check).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import harness
from tests.faults import scenarios
from tests.faults.compare import Comparison
from tests.faults.scenarios import Result

SCENARIOS: dict[str, Callable[[Path], Result]] = {
    "baseline": scenarios.baseline,
    "sigkill": scenarios.kills,
    "failpoints": scenarios.failpoints,
    "broker": scenarios.broker,
    "ch_down": scenarios.clickhouse_down,
    "ambiguous": scenarios.ambiguous,
    "duplicates": scenarios.duplicates,
    "poison": scenarios.poison,
    "late": scenarios.late,
    "rebalance": scenarios.rebalance,
    "zombie": scenarios.zombie,
    "replay": scenarios.replay,
}


def run(names: list[str]) -> int:
    started_kafka = not harness.kafka_running()
    if started_kafka:
        harness.kafka("start")
    root = Path(tempfile.mkdtemp(prefix="zl-faults-"))
    results: list[Result] = []
    try:
        for name in names:
            t0 = time.monotonic()
            try:
                result = SCENARIOS[name](root)
            except Exception as exc:  # a scenario that crashes is off, and says why
                traceback.print_exc()
                result = Result(name, Comparison(0, 0, 0, 0, 0, 0), problems=[f"crashed: {exc!r}"[:300]])
            harness.cleanup_all()
            result.seconds = time.monotonic() - t0
            results.append(result)
            print(result.line(), flush=True)
            if not harness.kafka_running():
                harness.kafka("start")
    finally:
        if started_kafka:
            harness.kafka("stop")
        shutil.rmtree(root, ignore_errors=True)
    exact = sum(r.ok for r in results)
    lost = sum(r.comparison.lost for r in results)
    duplicated = sum(r.comparison.duplicated for r in results)
    print(f"FAULTS scenarios={len(results)} exact={exact} lost={lost} duplicated={duplicated}")
    return 0 if exact == len(results) else 1


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:] or list(SCENARIOS)))
