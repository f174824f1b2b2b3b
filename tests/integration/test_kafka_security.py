"""Kafka with TLS, SCRAM logins and ACLs, on a real broker of its own (``scripts/kafka.sh start-secure``).

The worker logs in with its SCRAM credentials over TLS (and a client certificate) and
counts every byte; a wrong password and a user without ACLs get one clear line each,
and neither reads nor writes anything.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from zettaledger.kafka_security import KafkaAuthenticationError, KafkaSecurity
from zettaledger.producers.producer import EventProducer
from zettaledger.schemas import DataCreated, Source
from zettaledger.settings import REPO_ROOT, Settings
from zettaledger.sinks.client import Client
from zettaledger.sinks.queries import read_national_accounts
from zettaledger.streams.worker import end_offsets

pytestmark = pytest.mark.integration

PORT = int(os.environ.get("ZL_TEST_SECURE_KAFKA_PORT", "19390"))
T0 = 1_735_689_600_000  # 2025-01-01
SIZES = [10**18 + i for i in range(40)] + [1, 2, 3, 2**62]  # exact beyond float precision


@dataclass(frozen=True)
class SecureBroker:
    home: Path
    base: dict[str, str]  # the topics, group and connection every user shares

    def env(self, user: str, password_file: Path | None = None, **extra: str) -> dict[str, str]:
        return (
            self.base
            | {
                "ZL_KAFKA_SASL_USERNAME": user,
                "ZL_KAFKA_SASL_PASSWORD_FILE": str(password_file or self.home / "secure" / "passwords" / user),
            }
            | extra
        )

    def zl(self, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "zettaledger.cli", *args],
            env=env,
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE if "-" in args else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def finished(proc: subprocess.Popen[str], timeout_s: float = 120, stdin: str | None = None) -> tuple[int, str, str]:
    out, err = proc.communicate(stdin, timeout=timeout_s)
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    tag = uuid.uuid4().hex[:8]
    names = {
        "ZL_TOPIC_EVENTS": f"sec.{tag}.events",
        "ZL_TOPIC_DEAD_LETTER": f"sec.{tag}.dead-letter",
        "ZL_APP_ID": f"sec-{tag}",
    }
    script_env = {
        **os.environ,
        **names,  # kafka.sh grants the users their ACLs on these names
        "ZL_VAR_DIR": str(REPO_ROOT / "var"),
        "ZL_KAFKA_PORT": str(PORT),
        "ZL_KAFKA_CONTROLLER_PORT": str(PORT + 1),
        "ZL_PYTHON": sys.executable,
    }
    home = REPO_ROOT / "var" / "kafka" / str(PORT)
    script = str(REPO_ROOT / "scripts" / "kafka.sh")
    if subprocess.run([script, "status"], env=script_env).returncode == 0:
        pytest.fail(f"port {PORT} is taken; set ZL_TEST_SECURE_KAFKA_PORT to a free port (and the one after it)")
    shutil.rmtree(home, ignore_errors=True)  # new users, passwords and certificates every session
    subprocess.run([script, "start-secure"], env=script_env, check=True)
    try:
        shared = dict(
            line.split("=", 1) for line in (home / "secure" / "secure.env").read_text().splitlines() if line and line[0] != "#"
        )
        base = {
            **os.environ,
            **shared,
            **names,
            "ZL_WEB_ENABLED": "false",
            "ZL_LOG_LEVEL": "warning",
            "PYTHONPATH": str(REPO_ROOT),
        }
        yield SecureBroker(home, base)
    finally:
        subprocess.run([script, "stop"], env=script_env, check=True)


def created(size: int) -> DataCreated:
    return DataCreated(str(uuid.uuid4()), T0, "it-secure", Source.AI, "CN-GD", "org", f"ds-{size % 7}", size, 1)


def assert_clear(code: int, err: str, *expected: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err, err
    for text in expected:
        assert text in err, err


def test_worker_with_scram_over_tls_is_exact_and_strangers_get_nothing(
    broker: SecureBroker, tmp_path: Path, open_chdb: Callable[[Path], Client]
) -> None:
    started = time.perf_counter()
    code, out, err = finished(broker.zl(broker.env("admin"), "topics"))
    assert code == 0, err

    def worker_env(user: str, name: str, password_file: Path | None = None) -> dict[str, str]:
        (tmp_path / name).mkdir()
        return broker.env(
            user,
            password_file,
            ZL_VAR_DIR=str(tmp_path / name),
            ZL_CLICKHOUSE_URL=f"chdb://{tmp_path / name / 'chdb'}",
            ZL_CLICKHOUSE_DATABASE="secure_ledger",
        )

    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password\n")
    # The refused ones run while the real work goes on: a refused login takes a bootstrap timeout to give up.
    refused = {
        "wrong password": broker.zl(worker_env("worker", "wrong", wrong), "worker", "--until-caught-up"),
        "stranger worker": broker.zl(worker_env("stranger", "stranger"), "worker", "--until-caught-up"),
        "stranger produce": broker.zl(broker.env("stranger"), "produce", "-"),
        "producer reads dead letters": broker.zl(broker.env("producer"), "dead-letters", "--timeout", "1"),
    }

    producer_settings = Settings.from_env(broker.env("producer"))
    with EventProducer(producer_settings, "it-secure", batch_events=10) as producer:
        producer.add_all(created(size) for size in SIZES)
    code, out, err = finished(broker.zl(worker_env("worker", "worker"), "worker", "--until-caught-up"), timeout_s=180)
    assert code == 0, err

    accounts = read_national_accounts(open_chdb(tmp_path / "worker" / "chdb"), "secure_ledger")
    assert accounts.created[(2025, "AI")] == (sum(SIZES), len(SIZES))

    code, out, err = finished(refused["wrong password"], timeout_s=120)
    assert_clear(code, err, "refused the login of SASL_SSL as User:worker (SCRAM-SHA-512)", "ZL_KAFKA_SASL_PASSWORD")
    code, out, err = finished(refused["stranger worker"])
    assert_clear(code, err, "Kafka denied User:stranger access to topic", "ACL")
    event = {"type": "DataCreated", "event_time": T0, "producer_id": "x", "source": "AI", "region": "CN-GD"}
    line = json.dumps(event | {"organization": "o", "dataset_id": "d", "bytes": 5, "records": 1}) + "\n"
    code, out, err = finished(refused["stranger produce"], stdin=line)
    assert_clear(code, err, "Kafka denied User:stranger access to a topic", "ZL_KAFKA_SASL_USERNAME")
    code, out, err = finished(refused["producer reads dead letters"])
    assert_clear(code, err, "Kafka denied User:producer access to topic " + broker.base["ZL_TOPIC_DEAD_LETTER"])

    # Nothing was read for them (no ledger was even opened) and nothing was written by them.
    assert [path for name in ("wrong", "stranger") for path in (tmp_path / name).iterdir()] == []
    assert sum(end_offsets(Settings.from_env(broker.env("admin"))).values()) == producer.sent_messages
    code, out, err = finished(broker.zl(broker.env("reader"), "dead-letters", "--timeout", "1"))
    assert code == 0 and "0 dead letter(s) shown" in out, err
    print(f"\nsecure broker test body in {time.perf_counter() - started:.1f}s")


def test_the_producer_library_with_a_wrong_password_explains_itself(broker: SecureBroker, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("nope")
    settings = Settings.from_env(broker.env("producer", wrong))
    with pytest.raises(Exception) as caught:
        EventProducer(settings, "it-wrong", bootstrap_timeout_ms=10_000)
    refused = KafkaSecurity.from_settings(settings).explain(caught.value, "producing")
    assert isinstance(refused, KafkaAuthenticationError), caught.value
    assert "User:producer" in str(refused)
