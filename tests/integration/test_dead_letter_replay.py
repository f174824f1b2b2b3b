"""`zl dead-letters replay`: once the cause is fixed, dead letters go back where they came from and count, once."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Pipeline
from tests.integration.test_pipeline import accounts_of, created, dead_letters
from zettaledger.producers.producer import EventProducer
from zettaledger.settings import REPO_ROOT
from zettaledger.sinks.client import Client

pytestmark = pytest.mark.integration


def _zl(pipeline: Pipeline, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zettaledger.cli", *args],
        env={**pipeline.env, **env},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        check=True,
    )


def test_letters_rejected_by_a_cap_set_too_low_are_replayed_once_after_it_is_raised(
    pipeline: Pipeline, open_chdb: Callable[[Path], Client]
) -> None:
    with EventProducer(pipeline.settings, "it-replay", batch_events=10, check_events=False) as producer:
        producer.send(created(5))  # one parent: counted
        for i in range(3):
            producer.send(dataclasses.replace(created(100 + i), parent_dataset_ids=("a", "b", "c")))
    worker = subprocess.run(
        [sys.executable, "-m", "zettaledger.cli", "worker", "--until-caught-up"],
        env={**pipeline.env, "ZL_MAX_PARENTS": "2"},  # too low for these producers
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert worker.returncode == 0, worker.stderr[-3000:]
    assert [d.headers["zl.error.code"] for d in dead_letters(pipeline, expected=3)] == ["too_many_parents"] * 3

    dry = _zl(pipeline, "dead-letters", "replay", "--dry-run", "--timeout", "3")
    assert "(dry run) 3 dead letter(s) replayed" in dry.stdout
    replayed = _zl(pipeline, "dead-letters", "replay", "--code", "too_many_parents", "--timeout", "3")
    assert "3 dead letter(s) replayed" in replayed.stdout
    again = _zl(pipeline, "dead-letters", "replay", "--timeout", "3")
    assert "0 dead letter(s) replayed" in again.stdout  # progress is kept: nothing twice
    pipeline.run_worker()  # the cap raised back to its default

    accounts = accounts_of(pipeline, open_chdb)
    assert accounts.created[(2025, "AI")][0] == 5 + 100 + 101 + 102
