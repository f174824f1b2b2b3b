"""What the container image holds, proven without Docker or a registry: the wheel built from
this tree, installed WITHOUT the `embedded` extra into a fresh virtualenv with the same
constraints and the same `--only-binary` rule as the Dockerfile, then run as a pod runs it:
from a directory outside the repository, HOME and ZL_VAR_DIR in a scratch directory.

PyPI (or pip's cache) provides the dependencies; no Kafka and no ClickHouse are needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from zettaledger.settings import REPO_ROOT


@dataclass(frozen=True)
class Installed:
    wheel: Path
    bin: Path
    home: Path

    def zl(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("ZL_", "OTEL_", "PYTHON", "VIRTUAL_ENV"))}
        clean.update(HOME=str(self.home), ZL_VAR_DIR=str(self.home / "var"), PATH=f"{self.bin}:{clean.get('PATH', '')}")
        clean.update(env)
        return subprocess.run(
            [str(self.bin / "zl"), *args], env=clean, cwd=self.home, capture_output=True, text=True, timeout=120
        )


def _run(cmd: list[str], cwd: Path) -> None:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("wheel")
    wheels = root / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(wheels), str(REPO_ROOT)], root)
    (wheel,) = wheels.glob("zettaledger-*.whl")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, "--only-binary=:all:", "-c", str(REPO_ROOT / "requirements-lock.txt"), str(wheel)], root)
    home = root / "home"
    home.mkdir()
    yield Installed(wheel, env_dir / "bin", home)


def _requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        (meta,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        text = z.read(meta).decode()
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]


def test_the_installed_package_is_the_wheel_not_the_tree(installed: Installed) -> None:
    code = (
        "import json, zettaledger, importlib.metadata as m; print(json.dumps([zettaledger.__file__, m.version('zettaledger')]))"
    )
    out = subprocess.run([str(installed.bin / "python"), "-c", code], cwd=installed.home, capture_output=True, text=True)
    path, version = json.loads(out.stdout)
    assert str(installed.bin.parent) in path and not path.startswith(str(REPO_ROOT) + "/zettaledger")
    assert version == installed.wheel.name.split("-")[1]


def test_zl_help_lists_the_commands(installed: Installed) -> None:
    result = installed.zl("--help")
    assert result.returncode == 0, result.stderr
    for command in ("worker", "migrate", "rollups", "dead-letters", "topics"):
        assert command in result.stdout


def test_migrate_against_an_unreachable_server_says_so_without_the_password(installed: Installed) -> None:
    result = installed.zl("migrate", ZL_CLICKHOUSE_URL="https://user:pw@clickhouse.invalid:8443")
    assert result.returncode == 2, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    assert "zl migrate:" in result.stderr and "clickhouse.invalid" in result.stderr
    assert ":pw@" not in result.stderr + result.stdout, "the password was printed"


def test_worker_reports_every_bad_setting_at_once(installed: Installed) -> None:
    result = installed.zl("worker", ZL_TOPIC_PARTITIONS="0", ZL_OTEL_EXPORTER="carrier-pigeon")
    assert result.returncode == 2, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    assert "zl worker: invalid settings:" in result.stderr
    assert "ZL_TOPIC_PARTITIONS=0: must be >= 1" in result.stderr
    assert "ZL_OTEL_EXPORTER='carrier-pigeon'" in result.stderr


def test_the_embedded_engine_is_not_installed(installed: Installed) -> None:
    hard = [r for r in _requires(installed.wheel) if r.lower().startswith("chdb") and "extra ==" not in r]
    assert not hard, f"pyproject.toml requires {hard} for every install: chdb belongs in the `embedded` extra"
    assert any(r.lower().startswith("chdb") and 'extra == "embedded"' in r for r in _requires(installed.wheel))
    probe = "import importlib.util as u, sys; sys.exit(u.find_spec('chdb') is not None)"
    found = subprocess.run([str(installed.bin / "python"), "-c", probe], cwd=installed.home)
    assert found.returncode == 0, "chdb is importable in an install without the `embedded` extra"
