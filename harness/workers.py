"""Scenarios and the worker processes they start: ``zl worker`` as an operator runs it, one port each."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.broker import KAFKA_PORT, REPO_ROOT
from zettaledger.producers.producer import EventProducer
from zettaledger.producers.topics import ensure_topics
from zettaledger.schemas.models import Event
from zettaledger.settings import Settings

__all__ = ["Scenario", "WorkerProcess", "cleanup_all", "next_web_port"]

_web_ports = iter(range(16100, 16999))
_LIVE: list[Scenario] = []


def next_web_port() -> int:
    """A port no other process of this run was given (16100 to 16998), for a worker's or a host's HTTP.

    Skips ports something else listens on now: other runs on the machine (another
    checkout's fault suite or bench) count from 16100 too, and a ledger host that
    cannot bind its port leaves the scenario waiting for it in vain.
    """
    for port in _web_ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port left in 16100..16998 for a worker or ledger host")


def cleanup_all() -> None:
    """Kill any worker a scenario left running (a scenario that failed half-way)."""
    while _LIVE:
        _LIVE.pop().cleanup()


@dataclass
class WorkerProcess:
    """One ``zl worker`` process: its health endpoint, its log, and the stats it prints on exit."""

    popen: subprocess.Popen[bytes]
    log: Path
    web_port: int
    started: float = field(default_factory=time.monotonic)

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/healthz", timeout=0.5) as r:
                return dict(json.loads(r.read()))
        except Exception:
            return None

    def wait_ready(self, timeout_s: float = 60) -> float:
        """Seconds until /healthz said ok."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            h = self.health()
            if h and h.get("status") == "ok":
                return time.monotonic() - self.started
            if self.popen.poll() is not None:
                raise RuntimeError(f"worker exited with {self.popen.returncode}; log {self.log}")
            time.sleep(0.1)
        raise TimeoutError(f"worker not ready in {timeout_s}s; log {self.log}")

    def written(self) -> int:
        h = self.health() or {}
        return sum(int(v) for v in (h.get("written_through") or {}).values())

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, sig)

    def wait(self, timeout_s: float = 120) -> int:
        try:
            return self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"worker {self.popen.pid} still running after {timeout_s:g}s; its log ends:\n{self.log_tail()}"
            ) from None

    def log_tail(self, chars: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def stats(self) -> dict[str, Any]:
        for line in reversed(self.log.read_text(errors="replace").splitlines()):
            if "ZL-WORKER-STATS " in line:
                return dict(json.loads(line.split("ZL-WORKER-STATS ", 1)[1]))
        return {}

    def rss_mb(self) -> float:
        try:
            for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0


@dataclass
class Scenario:
    """One scenario's own topics, group and database, in one chDB directory."""

    name: str
    root: Path
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: list[WorkerProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        _LIVE.append(self)

    def cleanup(self) -> None:
        """Kill every worker this scenario started that is still running."""
        for w in self.workers:
            if w.popen.poll() is None:
                w.popen.kill()
                w.popen.wait()

    def env(self, **changes: str) -> dict[str, str]:
        env = {
            **os.environ,
            "ZL_KAFKA_BOOTSTRAP": f"127.0.0.1:{KAFKA_PORT}",
            "ZL_TOPIC_EVENTS": f"faults.{self.name}.{self.tag}",
            "ZL_TOPIC_DEAD_LETTER": f"faults.{self.name}.{self.tag}.dlq",
            "ZL_TOPIC_OPENLINEAGE": f"faults.{self.name}.{self.tag}.openlineage",
            "ZL_APP_ID": f"faults-{self.name}-{self.tag}",
            "ZL_CLICKHOUSE_URL": f"chdb://{self.root / 'chdb'}",
            "ZL_CLICKHOUSE_DATABASE": f"f_{self.name}_{self.tag}",
            "ZL_VAR_DIR": str(self.root),
            "ZL_WEB_ENABLED": "true",
            "ZL_LOG_LEVEL": "warning",
            "ZL_SESSION_TIMEOUT_S": "6",  # the broker's minimum: restarts after SIGKILL wait this long
            "ZL_STALL_TIMEOUT_S": "15",
            "PYTHONPATH": str(REPO_ROOT),
            **self.extra_env,
        }
        env.update(changes)
        return env

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env())

    def create_topics(self) -> None:
        ensure_topics(self.settings)

    def produce(self, events: Iterable[Event], batch: int = 100, **kafka_options: Any) -> int:
        with EventProducer(self.settings, f"faults-{self.name}", batch_events=batch, check_events=False, **kafka_options) as p:
            for e in events:
                p.add(e)
        return p.sent_events

    def start_worker(self, *args: str, **env: str) -> WorkerProcess:
        port = next_web_port()
        self.root.mkdir(parents=True, exist_ok=True)
        log = self.root / f"worker-{time.monotonic_ns()}.log"
        handle = log.open("wb")
        popen = subprocess.Popen(
            [sys.executable, "-m", "zettaledger.cli", "worker", *args],
            env=self.env(ZL_WEB_PORT=str(port), **env),
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        worker = WorkerProcess(popen, log, port)
        self.workers.append(worker)
        return worker

    def run_until_caught_up(self, timeout_s: float = 300, **env: str) -> WorkerProcess:
        """Start a worker with ``--until-caught-up`` (and ``env`` on top) and wait for it to exit 0."""
        worker = self.start_worker("--until-caught-up", **env)
        code = worker.wait(timeout_s)
        if code != 0:
            raise RuntimeError(f"worker exited {code}: {worker.log.read_text(errors='replace')[-3000:]}")
        return worker
