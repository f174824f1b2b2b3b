"""Drives the real parts from outside, for the fault suite (``tests/faults``) and the bench (``bench/``).

Not installed and not imported by ``zettaledger``: run from the repository root
(``python -m tests.faults.run``, ``python -m bench.run``, pytest), which puts this
folder on ``sys.path``.

- ``broker``: the test broker on 127.0.0.1:``ZL_TEST_KAFKA_PORT`` (19092), started
  and stopped with ``scripts/kafka.sh``, beside any demo broker on 9092;
- ``workers``: a ``Scenario`` (its own topics, consumer group, database and chDB
  directory) and the ``zl worker`` processes it starts, as an operator runs them.
"""

from __future__ import annotations

from harness.broker import KAFKA_PORT, KAFKA_SCRIPT, REPO_ROOT, kafka, kafka_running
from harness.workers import Scenario, WorkerProcess, cleanup_all, next_web_port

__all__ = [
    "KAFKA_PORT",
    "KAFKA_SCRIPT",
    "REPO_ROOT",
    "Scenario",
    "WorkerProcess",
    "cleanup_all",
    "kafka",
    "kafka_running",
    "next_web_port",
]
