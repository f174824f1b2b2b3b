#!/usr/bin/env bash
# The main job end to end: Kafka up, topics, the calibrated national stream,
# the worker until caught up, the report; then stop what this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
size="${1:-1.0}"
zl=.venv/bin/zl
started_kafka=""
cleanup() { if [[ -n "$started_kafka" ]]; then scripts/kafka.sh stop; fi; }
trap cleanup EXIT

t0=$SECONDS
if ! scripts/kafka.sh status; then scripts/kafka.sh start; started_kafka=1; fi
# A demo starts from nothing, so the report shows exactly this run's stream.
export ZL_TOPIC_EVENTS="${ZL_TOPIC_EVENTS:-zl.demo.events.$(date +%s)}"
export ZL_TOPIC_DEAD_LETTER="${ZL_TOPIC_DEAD_LETTER:-${ZL_TOPIC_EVENTS/events/dead-letter}}"
export ZL_CLICKHOUSE_DATABASE="${ZL_CLICKHOUSE_DATABASE:-demo_$(date +%s)}"
$zl topics
$zl migrate
$zl generate --size "$size" --manifest "${ZL_VAR_DIR:-var}/demo-manifest.json"
$zl worker --until-caught-up
echo
$zl report
echo "demo finished in $((SECONDS - t0)) s (database $ZL_CLICKHOUSE_DATABASE, topic $ZL_TOPIC_EVENTS)"
