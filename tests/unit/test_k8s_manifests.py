"""What kubeconform's schemas cannot see in the rendered manifests: runbook links that lead
somewhere, alerts and dashboards on the metric names the collector serves, the KEDA threshold
and authentication, topic durability, timeouts inside the grace period, memory request = limit,
the roles each workload runs as. Reads the documents scripts/k8s-check.sh renders."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from zettaledger.settings import REPO_ROOT, Settings

K8S = REPO_ROOT / "k8s"
README = (K8S / "README.md").read_text()
Doc = dict[str, Any]

# zettaledger/telemetry.py instruments -> the collector's Prometheus names (collector.yaml).
WORKER_METRICS = {
    "zl_events_counted_total",
    "zl_bytes_counted_bytes_total",
    "zl_events_dead_lettered_total",
    "zl_events_duplicates_total",
    "zl_flushes_total",
    "zl_flush_retries_total",
    "zl_flush_duration_seconds_bucket",
    "zl_partition_lag",
    "zl_flush_age_seconds",
    "zl_dedup_window_ids",
    "zl_dedup_horizon_seconds",
    "zl_stream_time_seconds",
    "zl_process_rss_bytes",
}


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Doc]]:
    out = tmp_path_factory.mktemp("k8s-check")
    env = {**os.environ, "ZL_K8S_CHECK_OUT": str(out)}
    result = subprocess.run([str(REPO_ROOT / "scripts" / "k8s-check.sh")], env=env, capture_output=True, text=True, timeout=900)
    if result.returncode == 3:
        pytest.skip(f"k8s-check needs Go once to build its tools: {result.stderr.strip()}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    yield json.loads((out / "all.json").read_text())


def of_kind(docs: list[Doc], kind: str, name: str | None = None) -> list[Doc]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert found, f"no {kind} {name or ''} rendered"
    return found


def config(docs: list[Doc]) -> dict[str, str]:
    data: dict[str, str] = {}
    for cm in of_kind(docs, "ConfigMap"):
        if cm["metadata"]["name"].startswith("zettaledger-config"):
            data = cm["data"]
    assert data, "no zettaledger-config ConfigMap"
    return data


def github_anchors(markdown: str) -> set[str]:
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def alerts(docs: list[Doc]) -> list[Doc]:
    return [rule for pr in of_kind(docs, "PrometheusRule") for group in pr["spec"]["groups"] for rule in group["rules"]]


def test_every_alert_links_an_existing_runbook_section(docs: list[Doc]) -> None:
    anchors = github_anchors(README)
    for rule in alerts(docs):
        url = rule["annotations"]["runbook_url"]
        assert url.startswith("https://github.com/zettaledger/zettaledger/blob/main/k8s/README.md#"), url
        assert url.split("#", 1)[1] in anchors, f"{rule['alert']}: no README section for {url}"
        assert rule["labels"]["severity"] in ("warning", "critical")


def test_the_issue_s_alerts_exist(docs: list[Doc]) -> None:
    names = {rule["alert"] for rule in alerts(docs)}
    for needed in (
        "ZettaledgerLagGrowing",
        "ZettaledgerNoFlushWhileBehind",
        "ZettaledgerDeadLetterRate",
        "ZettaledgerRollupDrift",
        "ZettaledgerWorkerRestarts",
    ):
        assert needed in names


def _metrics_in(expr: str) -> set[str]:
    return set(re.findall(r"\b(zl_[a-z_]+)\b", expr))


def test_alerts_and_dashboards_use_only_metrics_the_collector_serves(docs: list[Doc]) -> None:
    used = set()
    for rule in alerts(docs):
        used |= _metrics_in(rule["expr"])
    for name in ("zettaledger-sre.json", "zettaledger-national-accounts.json"):
        board = json.loads((K8S / "overlays/observability/dashboards" / name).read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                used |= _metrics_in(target.get("expr", ""))
    assert used, "no worker metric used at all"
    assert used <= WORKER_METRICS, f"unknown metric names: {used - WORKER_METRICS}"
    collector = (K8S / "overlays/observability/collector.yaml").read_text()
    for metric in WORKER_METRICS - {"zl_flush_duration_seconds_bucket"}:
        assert metric in collector, f"{metric} not documented in collector.yaml"


def test_dashboards_are_what_the_generator_writes_and_ship_as_configmaps(docs: list[Doc]) -> None:
    folder = K8S / "overlays/observability/dashboards"
    spec = importlib.util.spec_from_file_location("dashboards_generate", folder / "generate.py")
    assert spec and spec.loader
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    for name in generate.DASHBOARDS:
        assert (folder / name).read_text() == generate.render(name), f"{name} is stale: run {folder / 'generate.py'}"
        (cm,) = [c for c in of_kind(docs, "ConfigMap") if name in c.get("data", {})]
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert json.loads(cm["data"][name])["uid"].startswith("zettaledger-")


def test_keda_threshold_is_two_takes_with_auth_fallback_and_two_workers(docs: list[Doc]) -> None:
    (so,) = of_kind(docs, "ScaledObject", "zettaledger-worker")
    trigger, openlineage = so["spec"]["triggers"]
    batch_messages_per_take = 390
    assert int(trigger["metadata"]["lagThreshold"]) >= 2 * batch_messages_per_take
    # The OpenLineage feed's group on its topic, scaled on two of its takes (8 flushes of 10,000 events).
    assert openlineage["metadata"]["consumerGroup"] == f"{config(docs)['ZL_APP_ID']}-openlineage"
    assert openlineage["metadata"]["topic"] == config(docs)["ZL_TOPIC_OPENLINEAGE"]
    assert int(openlineage["metadata"]["lagThreshold"]) >= 2 * 8 * Settings().batch_max_messages
    assert openlineage["authenticationRef"] == trigger["authenticationRef"]
    assert trigger["metadata"]["ensureEvenDistributionOfPartitions"] == "true"
    assert so["spec"]["minReplicaCount"] == 2
    assert so["spec"]["fallback"]["replicas"] >= so["spec"]["minReplicaCount"]
    assert str(so["spec"]["maxReplicaCount"]) == config(docs)["ZL_TOPIC_PARTITIONS"]
    (auth,) = of_kind(docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert {p["parameter"] for p in auth["spec"]["secretTargetRef"]} >= {"sasl", "username", "password", "tls", "ca"}
    assert trigger["metadata"]["bootstrapServers"] == config(docs)["ZL_KAFKA_BOOTSTRAP"]


def test_kafka_is_tls_and_scram_only_and_topics_are_durable(docs: list[Doc]) -> None:
    (kafka,) = of_kind(docs, "Kafka")
    for listener in kafka["spec"]["kafka"]["listeners"]:
        assert listener["tls"] is True and listener["authentication"]["type"] == "scram-sha-512", listener["name"]
    assert config(docs)["ZL_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config(docs)["ZL_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    topics = {t["spec"]["topicName"]: t for t in of_kind(docs, "KafkaTopic")}
    assert set(topics) == {config(docs)[f"ZL_TOPIC_{t}"] for t in ("EVENTS", "DEAD_LETTER", "OPENLINEAGE")}
    for topic in topics.values():
        assert topic["apiVersion"] == "kafka.strimzi.io/v1"
        assert topic["spec"]["config"]["min.insync.replicas"] == 2
        assert int(topic["spec"]["config"]["retention.ms"]) > 0
        assert str(topic["spec"]["partitions"]) == config(docs)["ZL_TOPIC_PARTITIONS"]
    assert kafka["spec"]["kafkaExporter"]["groupRegex"] == f"^{config(docs)['ZL_APP_ID']}(-openlineage)?$"


def test_worker_memory_timeouts_probes_and_roles(docs: list[Doc]) -> None:
    timeout_s = float(config(docs)["ZL_CLICKHOUSE_TIMEOUT_S"])
    for deploy in of_kind(docs, "Deployment", "zettaledger-worker"):
        pod = deploy["spec"]["template"]["spec"]
        (worker,) = pod["containers"]
        resources = worker["resources"]
        assert resources["requests"]["memory"] == resources["limits"]["memory"]
        assert timeout_s + 10 < pod["terminationGracePeriodSeconds"], "a request in flight must end inside the grace period"
        assert worker["livenessProbe"]["httpGet"]["path"] == "/livez"
        assert worker["readinessProbe"]["httpGet"]["path"] == "/readyz"
        env = {e["name"]: e for e in worker["env"]}
        assert env["ZL_MIGRATE"]["value"] == "false"
        assert env["ZL_CLICKHOUSE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "zettaledger-clickhouse-writer"
        assert "ZL_KAFKA_SASL_PASSWORD" not in env, "the password is a file, not an environment variable"
        assert pod["securityContext"]["runAsUser"] == 10001
        assert {v["name"] for v in worker["volumeMounts"]} >= {"tmp", "ca"}
        assert "secret.reloader.stakater.com/reload" in deploy["metadata"]["annotations"]


def test_setup_job_is_gitops_friendly_and_cronjobs_never_overlap(docs: list[Doc]) -> None:
    for job in of_kind(docs, "Job", "zettaledger-setup"):
        assert "ttlSecondsAfterFinished" not in job["spec"]
        assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "Sync"
        (migrate,) = job["spec"]["template"]["spec"]["containers"]
        assert migrate["command"] == ["zl", "migrate"]
        (url,) = [e for e in migrate["env"] if e["name"] == "ZL_CLICKHOUSE_URL"]
        assert url["valueFrom"]["secretKeyRef"]["name"] == "zettaledger-clickhouse-ddl"
    for cron in of_kind(docs, "CronJob"):
        assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    (check,) = {json.dumps(c) for c in of_kind(docs, "CronJob", "zettaledger-rollups-check")}
    assert '"zl", "rollups", "check"' in check and '"suspend"' not in check


def test_every_namespace_denies_by_default(docs: list[Doc]) -> None:
    denies = {
        p["metadata"].get("namespace")
        for p in of_kind(docs, "NetworkPolicy")
        if p["spec"]["podSelector"] == {} and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    }
    assert denies >= {"zettaledger", "clickhouse"}  # kafka: Strimzi writes the listener's policy from networkPolicyPeers


def test_every_secret_a_pod_reads_is_in_the_runbook(docs: list[Doc]) -> None:
    text = json.dumps(docs)
    names = set(re.findall(r'"secretName": "([^"]+)"', text)) | set(re.findall(r'"secretKeyRef": \{[^}]*"name": "([^"]+)"', text))
    names |= {p["name"] for auth in of_kind(docs, "TriggerAuthentication") for p in auth["spec"]["secretTargetRef"]}
    assert names
    for name in names:
        assert f"`{name}`" in README or name in README, f"Secret {name} is not explained in k8s/README.md"
