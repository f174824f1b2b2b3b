"""`make security`: every hostile-input case of issue 10 on the real broker and chDB, one line each, then a summary.

    python -m tests.security.run [case ...]

Ends with ``SECURITY cases=<n> passed=<n> crashes=<n> forged_writes=<n> lost=<n>``; exits non-zero
unless every case passed. ``FAST`` is the subset ``make test`` runs (tests/integration/test_security_fast.py).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import harness
from tests.security.host_cases import HOST_CASES
from tests.security.outcome import Outcome

WORKER_CASES_NAMES = [
    "worker_non_utf8_2_5MB",
    "worker_value_near_8MiB",
    "worker_parents_1e6",
    "worker_dead_letters_per_message",
    "worker_batch_20k_events",
    "worker_registration_id_3MB",
    "worker_producer_id_100k",
    "worker_region_newline",
    "worker_event_id_newline_resend",
    "worker_enum_index_out_of_range",
    "worker_gzip_bomb_200MB",
    "worker_codec_gzip",
    "worker_codec_snappy",
    "worker_codec_lz4",
    "worker_codec_zstd",
    "worker_faust_env_and_views",
    "worker_report_escapes",
    "worker_dead_letter_undeliverable",
]
CASES = [*HOST_CASES, "host_bind_beyond_loopback", *WORKER_CASES_NAMES]
FAST = [
    *HOST_CASES,
    "host_bind_beyond_loopback",
    "worker_non_utf8_2_5MB",
    "worker_parents_1e6",
    "worker_region_newline",
    "worker_enum_index_out_of_range",
    "worker_codec_zstd",
]


def run_cases(names: list[str]) -> list[Outcome]:
    from tests.security.host_cases import run_host_cases
    from tests.security.worker_cases import run_worker_cases

    unknown = sorted(set(names) - set(CASES))
    if unknown:
        raise SystemExit(f"unknown cases {unknown}; known: {', '.join(CASES)}")
    root = Path(tempfile.mkdtemp(prefix="zl-security-"))
    try:
        outcomes = run_host_cases(root, names)
        if any(n.startswith("worker_") for n in names):
            started = not harness.kafka_running()
            if started:
                harness.kafka("start")
            try:
                outcomes += run_worker_cases(root, names)
            finally:
                harness.cleanup_all()
                if started:
                    harness.kafka("stop")
        return outcomes
    finally:
        shutil.rmtree(root, ignore_errors=True)


def summary(outcomes: list[Outcome]) -> str:
    return (
        f"SECURITY cases={len(outcomes)} passed={sum(o.passed for o in outcomes)} "
        f"crashes={sum(o.crashes for o in outcomes)} forged_writes={sum(o.forged_writes for o in outcomes)} "
        f"lost={sum(o.lost for o in outcomes)}"
    )


def main(names: list[str]) -> int:
    outcomes = run_cases(names or CASES)
    print(summary(outcomes), flush=True)
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
