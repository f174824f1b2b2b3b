"""The test broker: ``scripts/kafka.sh`` on 127.0.0.1:``ZL_TEST_KAFKA_PORT`` (19092), data under ``var/``."""

from __future__ import annotations

import os
import subprocess

from zettaledger.settings import REPO_ROOT

__all__ = ["KAFKA_PORT", "KAFKA_SCRIPT", "REPO_ROOT", "kafka", "kafka_running"]

KAFKA_PORT = int(os.environ.get("ZL_TEST_KAFKA_PORT", "19092"))
KAFKA_SCRIPT = str(REPO_ROOT / "scripts" / "kafka.sh")


def _env() -> dict[str, str]:
    return {**os.environ, "ZL_VAR_DIR": str(REPO_ROOT / "var"), "ZL_KAFKA_PORT": str(KAFKA_PORT)}


def kafka(command: str) -> None:
    """Run ``scripts/kafka.sh <command>`` (start, stop, kill, status) for the test broker.

    Raises ``subprocess.CalledProcessError`` if the script fails, except for
    ``status`` and ``kill``, whose exit code is an answer rather than a failure.
    """
    subprocess.run([KAFKA_SCRIPT, command], env=_env(), check=command not in ("status", "kill"))


def kafka_running() -> bool:
    """Whether the test broker answers."""
    return subprocess.run([KAFKA_SCRIPT, "status"], env=_env()).returncode == 0
