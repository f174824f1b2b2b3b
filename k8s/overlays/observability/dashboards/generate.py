"""Writes the two Grafana dashboards of this folder from one declaration each.

    python k8s/overlays/observability/dashboards/generate.py      # rewrite the JSON files

The JSON files are committed (the Grafana sidecar and a manual import read them);
tests/unit/test_k8s_manifests.py fails when they differ from what this script writes.
Metric names: see ../collector.yaml. SQL: the views of sinks/ddl.py (database zettaledger).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROM = {"type": "prometheus", "uid": "${datasource}"}
CH = {"type": "grafana-clickhouse-datasource", "uid": "${clickhouse}"}
LAG = 'kafka_consumergroup_lag{consumergroup="zettaledger", topic="zl.events"}'
WORKER = 'namespace="zettaledger", container="worker"'


def _panel(title: str, kind: str, grid: tuple[int, int, int, int], targets: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    x, y, w, h = grid
    panel: dict[str, Any] = {"title": title, "type": kind, "gridPos": {"x": x, "y": y, "w": w, "h": h}, "targets": targets}
    panel.update(extra)
    return panel


def _prom(expr: str, legend: str = "") -> dict[str, Any]:
    return {"datasource": PROM, "expr": expr, "legendFormat": legend or "__auto", "refId": ""}


def _unit(unit: str) -> dict[str, Any]:
    return {"fieldConfig": {"defaults": {"unit": unit}, "overrides": []}}


def _sql(sql: str, timeseries: bool = False) -> dict[str, Any]:
    return {
        "datasource": CH,
        "editorType": "sql",
        "queryType": "timeseries" if timeseries else "table",
        "format": 0 if timeseries else 1,
        "rawSql": " ".join(sql.split()),
        "refId": "",
    }


def _dashboard(
    uid: str, title: str, description: str, variables: list[dict[str, Any]], panels: list[dict[str, Any]]
) -> dict[str, Any]:
    for pid, panel in enumerate(panels, 1):
        panel["id"] = pid
        panel.setdefault("datasource", panel["targets"][0]["datasource"])
        for ref, target in enumerate(panel["targets"]):
            target["refId"] = chr(ord("A") + ref)
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["zettaledger"],
        "editable": False,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "utc",
        "templating": {"list": variables},
        "annotations": {"list": []},
        "panels": panels,
    }


def sre() -> dict[str, Any]:
    datasource = {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus", "current": {}}
    p = [
        _panel(
            "Events counted /s",
            "timeseries",
            (0, 0, 8, 8),
            [
                _prom("sum(rate(zl_events_counted_total[5m]))", "counted"),
                _prom("sum(rate(zl_events_duplicates_total[5m]))", "duplicates dropped"),
                _prom("sum(rate(zl_events_dead_lettered_total[5m]))", "dead-lettered"),
            ],
            **_unit("short"),
        ),
        _panel(
            "Bytes counted /s (DataCreated)",
            "timeseries",
            (8, 0, 8, 8),
            [
                _prom("sum(rate(zl_bytes_counted_bytes_total[5m]))", "bytes"),
            ],
            **_unit("Bps"),
        ),
        _panel("Consumer lag (messages, Kafka Exporter)", "stat", (16, 0, 4, 4), [_prom(f"sum({LAG})", "lag")], **_unit("short")),
        _panel(
            "Workers available",
            "stat",
            (20, 0, 4, 4),
            [
                _prom(
                    'kube_deployment_status_replicas_available{namespace="zettaledger", deployment="zettaledger-worker"}',
                    "workers",
                ),
            ],
        ),
        _panel(
            "Oldest flush (max over workers)",
            "stat",
            (16, 4, 8, 4),
            [_prom("max(zl_flush_age_seconds)", "flush age")],
            **_unit("s"),
        ),
        _panel(
            "Consumer lag by partition (messages)",
            "timeseries",
            (0, 8, 12, 8),
            [
                _prom(f"sum by (partition) ({LAG})", "p{{partition}}"),
            ],
            **_unit("short"),
        ),
        _panel(
            "Lag behind the ledger watermark by topic and partition (worker view)",
            "timeseries",
            (12, 8, 12, 8),
            [
                _prom("max by (topic, partition) (zl_partition_lag)", "{{topic}} p{{partition}}"),
            ],
            **_unit("short"),
        ),
        _panel(
            "Flush latency",
            "timeseries",
            (0, 16, 8, 8),
            [
                _prom(f"histogram_quantile({q}, sum by (le) (rate(zl_flush_duration_seconds_bucket[5m])))", f"p{int(q * 100)}")
                for q in (0.5, 0.95, 0.99)
            ],
            **_unit("s"),
        ),
        _panel(
            "Flushes and retries /s",
            "timeseries",
            (8, 16, 8, 8),
            [
                _prom("sum(rate(zl_flushes_total[5m]))", "flushes"),
                _prom("sum(rate(zl_flush_retries_total[5m]))", "retries"),
            ],
            **_unit("short"),
        ),
        _panel(
            "Seconds since last flush by worker",
            "timeseries",
            (16, 16, 8, 8),
            [
                _prom("max by (k8s_pod_name) (zl_flush_age_seconds)", "{{k8s_pod_name}}"),
            ],
            **_unit("s"),
        ),
        _panel(
            "Dead letters /s by reason (error code)",
            "timeseries",
            (0, 24, 12, 8),
            [
                _prom("sum by (code) (rate(zl_events_dead_lettered_total[5m]))", "{{code}}"),
            ],
            **_unit("short"),
        ),
        _panel(
            "Event-time freshness by partition (now - latest event time)",
            "timeseries",
            (12, 24, 12, 8),
            [
                _prom("time() - max by (partition) (zl_stream_time_seconds)", "p{{partition}}"),
            ],
            **_unit("s"),
        ),
        _panel(
            "Worker restarts (last hour)",
            "timeseries",
            (0, 32, 8, 8),
            [
                _prom(f"sum by (pod) (increase(kube_pod_container_status_restarts_total{{{WORKER}}}[1h]))", "{{pod}}"),
            ],
            **_unit("short"),
        ),
        _panel(
            "Worker RSS (limit dashed)",
            "timeseries",
            (8, 32, 8, 8),
            [
                _prom("max by (k8s_pod_name) (zl_process_rss_bytes)", "{{k8s_pod_name}}"),
                _prom(f'max(kube_pod_container_resource_limits{{{WORKER}, resource="memory"}})', "limit"),
            ],
            fieldConfig={
                "defaults": {"unit": "bytes"},
                "overrides": [
                    {
                        "matcher": {"id": "byName", "options": "limit"},
                        "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}],
                    }
                ],
            },
        ),
        _panel(
            "Dedup window (ids) and horizon",
            "timeseries",
            (16, 32, 8, 8),
            [
                _prom("max by (k8s_pod_name) (zl_dedup_window_ids)", "ids {{k8s_pod_name}}"),
                _prom("max by (k8s_pod_name) (zl_dedup_horizon_seconds) / 3600", "horizon h {{k8s_pod_name}}"),
            ],
            **_unit("short"),
        ),
    ]
    return _dashboard(
        "zettaledger-sre",
        "Zettaledger / SRE",
        "Ingest health: throughput, lag, flush latency, dead letters by reason, restarts, memory. Alerts: k8s/README.md.",
        [datasource],
        p,
    )


def national_accounts() -> dict[str, Any]:
    clickhouse = {
        "name": "clickhouse",
        "label": "ClickHouse (zl_reader)",
        "type": "datasource",
        "query": "grafana-clickhouse-datasource",
        "current": {},
    }
    p = [
        _panel(
            "Data created by year and source (bytes)",
            "table",
            (0, 0, 12, 8),
            [
                _sql("SELECT year, source, bytes, records, events FROM zettaledger.data_created_by_year ORDER BY year, source"),
            ],
        ),
        _panel(
            "High-quality datasets",
            "stat",
            (12, 0, 6, 8),
            [
                _sql("SELECT datasets, bytes FROM zettaledger.high_quality_datasets"),
            ],
        ),
        _panel(
            "Registered datasets",
            "stat",
            (18, 0, 6, 8),
            [
                _sql("SELECT count() AS datasets, sum(bytes) AS bytes FROM zettaledger.datasets_current"),
            ],
        ),
        _panel(
            "Data created per day by source (bytes)",
            "timeseries",
            (0, 8, 12, 8),
            [
                _sql(
                    "SELECT toDateTime(day) AS time, source, sum(bytes) AS bytes FROM zettaledger.data_created_daily "
                    "WHERE $__dateFilter(day) GROUP BY time, source ORDER BY time",
                    timeseries=True,
                ),
            ],
            **_unit("bytes"),
        ),
        _panel(
            "Tokens per day",
            "timeseries",
            (12, 8, 12, 8),
            [
                _sql(
                    "SELECT toDateTime(day) AS time, input_tokens, output_tokens FROM zettaledger.tokens_daily "
                    "WHERE $__dateFilter(day) ORDER BY time",
                    timeseries=True,
                ),
            ],
            **_unit("short"),
        ),
        _panel(
            "Tokens by model and provider (selected range)",
            "table",
            (0, 16, 12, 8),
            [
                _sql(
                    "SELECT model, provider, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, "
                    "sum(tokens) AS tokens FROM zettaledger.tokens_by_model_daily WHERE $__dateFilter(day) "
                    "GROUP BY model, provider ORDER BY tokens DESC LIMIT 50"
                ),
            ],
        ),
        _panel(
            "Collection efficiency by pipeline",
            "table",
            (12, 16, 12, 8),
            [
                _sql(
                    "SELECT pipeline_id, runs, attempted_captures, usable_captures, usable_bytes, efficiency "
                    "FROM zettaledger.collection_efficiency ORDER BY usable_bytes DESC LIMIT 100"
                ),
            ],
        ),
        _panel(
            "Late events counted as adjustments",
            "table",
            (0, 24, 12, 8),
            [
                _sql(
                    "SELECT kind, day, source, region, events, bytes, tokens FROM zettaledger.adjustments "
                    "WHERE $__dateFilter(day) ORDER BY day DESC LIMIT 100"
                ),
            ],
        ),
        _panel(
            "Rejected events by type and reason",
            "table",
            (12, 24, 12, 8),
            [
                _sql("SELECT event_type, reason, events FROM zettaledger.rejections ORDER BY events DESC LIMIT 100"),
            ],
        ),
    ]
    return _dashboard(
        "zettaledger-national-accounts",
        "Zettaledger / National data accounts",
        "The national views in ClickHouse (database zettaledger), read with the zl_reader role.",
        [clickhouse],
        p,
    )


DASHBOARDS = {"zettaledger-sre.json": sre, "zettaledger-national-accounts.json": national_accounts}


def render(name: str) -> str:
    return json.dumps(DASHBOARDS[name](), indent=2, sort_keys=True) + "\n"


def main() -> int:
    for name in DASHBOARDS:
        (HERE / name).write_text(render(name))
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
