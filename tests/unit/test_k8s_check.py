"""`make k8s-check` (scripts/k8s-check.sh) passes on our manifests and FAILS on broken ones:
a typo'd field, an API version the current operator no longer serves, an unknown field in a
custom resource, and a pod that breaks Pod Security "restricted". Each broken case is a copy
of k8s/ with one edit, validated against the same vendored schemas.

Needs Go once (the tools are built into var/k8s-tools from the Go module proxy), then no network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from zettaledger.settings import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "k8s-check.sh"


def run_check(k8s_dir: Path, out: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ZL_K8S_CHECK_OUT": str(out)}
    result = subprocess.run([str(SCRIPT), str(k8s_dir)], env=env, capture_output=True, text=True, timeout=900)
    if result.returncode == 3:  # tools not built and no Go toolchain to build them
        pytest.skip(f"k8s-check needs Go once to build its tools: {result.stderr.strip()}")
    return result


def test_our_manifests_pass(tmp_path: Path) -> None:
    result = run_check(REPO_ROOT / "k8s", tmp_path / "out")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert "Invalid: 0, Errors: 0, Skipped: 0" in result.stdout
    assert "0 forbidden" in result.stdout
    assert "k8s-check: OK" in result.stdout


BREAKAGES = {
    # file under k8s/, text to replace, replacement, what the failure must say
    "typo in a Deployment field": (
        "base/worker-deployment.yaml",
        "terminationGracePeriodSeconds: 60",
        "terminationGracePeriodSecond: 60",
        "terminationGracePeriodSecond",
    ),
    "KafkaTopic on v1beta2, which Strimzi >= 1.0 does not serve": (
        "overlays/strimzi/kafkatopics.yaml",
        "apiVersion: kafka.strimzi.io/v1\n",
        "apiVersion: kafka.strimzi.io/v1beta2\n",
        "could not find schema for KafkaTopic",
    ),
    "unknown field in a ScaledObject": (
        "overlays/keda/scaledobject.yaml",
        "  minReplicaCount: 2\n",
        "  minReplicaCount: 2\n  minReplicas: 2\n",
        "minReplicas",
    ),
    "a wrong type in a KafkaUser ACL": (
        "overlays/strimzi/kafkausers.yaml",
        'operations: ["Read", "Describe"]',
        "operations: Read",
        "KafkaUser",
    ),
    "a worker allowed to escalate privileges": (
        "base/worker-deployment.yaml",
        "allowPrivilegeEscalation: false",
        "allowPrivilegeEscalation: true",
        "FORBIDDEN: allowPrivilegeEscalation != false",
    ),
    "a ClickHouse pod template running as root": (
        "overlays/clickhouse/clickhouse.yaml",
        "runAsUser: 101",
        "runAsUser: 0",
        "FORBIDDEN: runAsUser=0",
    ),
}


@pytest.mark.parametrize("case", list(BREAKAGES))
def test_a_broken_manifest_fails(case: str, tmp_path: Path) -> None:
    path, old, new, expected = BREAKAGES[case]
    k8s = tmp_path / "k8s"
    shutil.copytree(REPO_ROOT / "k8s", k8s, ignore=shutil.ignore_patterns("validation"))
    target = k8s / path
    text = target.read_text()
    assert old in text, f"{path} no longer contains {old!r}: update this case"
    target.write_text(text.replace(old, new, 1))
    result = run_check(k8s, tmp_path / "out")
    assert result.returncode != 0, f"{case}: k8s-check passed a broken manifest\n{result.stdout[-3000:]}"
    assert expected in result.stdout + result.stderr, result.stdout[-5000:] + result.stderr[-2000:]
    assert "k8s-check: FAILED" in result.stderr
