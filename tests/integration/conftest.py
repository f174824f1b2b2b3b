"""The real parts: one Kafka broker per test session (started by scripts/kafka.sh, as
the README does), a unique topic, consumer group and ClickHouse database per test,
and the worker run as a subprocess of the `zl` CLI, exactly as an operator runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from zettaledger.producers.topics import ensure_topics
from zettaledger.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.integration

KAFKA_PORT = int(os.environ.get("ZL_TEST_KAFKA_PORT", "19092"))


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A broker on 127.0.0.1:ZL_TEST_KAFKA_PORT (19092), beside any demo broker on 9092."""
    env = {**os.environ, "ZL_VAR_DIR": str(REPO_ROOT / "var"), "ZL_KAFKA_PORT": str(KAFKA_PORT)}
    script = str(REPO_ROOT / "scripts" / "kafka.sh")
    already = subprocess.run([script, "status"], env=env).returncode == 0
    if not already:
        shutil.rmtree(REPO_ROOT / "var" / "kafka" / str(KAFKA_PORT), ignore_errors=True)  # each session starts empty
        subprocess.run([script, "start"], env=env, check=True)
    yield f"127.0.0.1:{KAFKA_PORT}"
    if not already:
        subprocess.run([script, "stop"], env=env, check=True)


@dataclass(frozen=True)
class Pipeline:
    """One test's own topics, consumer group and database, and the commands to drive them."""

    settings: Settings
    env: dict[str, str]

    def run_worker(self, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "zettaledger.cli", "worker", "--until-caught-up"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=REPO_ROOT,
        )
        assert result.returncode == 0, f"worker failed ({result.returncode}):\n{result.stdout}\n{result.stderr[-5000:]}"
        return result


@pytest.fixture
def pipeline(kafka_bootstrap: str, tmp_path: Path) -> Pipeline:
    tag = uuid.uuid4().hex[:10]
    env = {
        **os.environ,
        "ZL_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ZL_TOPIC_EVENTS": f"test.{tag}.events",
        "ZL_TOPIC_DEAD_LETTER": f"test.{tag}.dead-letter",
        "ZL_TOPIC_OPENLINEAGE": f"test.{tag}.openlineage",
        "ZL_APP_ID": f"test-{tag}",
        "ZL_CLICKHOUSE_URL": f"chdb://{tmp_path / 'chdb'}",
        "ZL_CLICKHOUSE_DATABASE": f"t_{tag}",
        "ZL_VAR_DIR": str(tmp_path),
        "ZL_WEB_ENABLED": "false",
        "ZL_LOG_LEVEL": "warning",
        "PYTHONPATH": str(REPO_ROOT),
    }
    settings = Settings.from_env(env)
    ensure_topics(settings)
    return Pipeline(settings, env)
