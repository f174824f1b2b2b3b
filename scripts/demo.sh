#!/usr/bin/env bash
# The main job end to end: Kafka up, topics, the calibrated national stream,
# the worker until caught up (with `zl report` read live from it while it runs),
# the report with its modelled figures flagged, and the same as an HTML page;
# then stop what this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
size="${1:-1.0}"
zl=.venv/bin/zl
var="$(realpath --relative-to=. "${ZL_VAR_DIR:-var}")"  # printed in the report: relative, as the README shows it
manifest="$var/demo-manifest.json"
started_kafka=""
worker=""
cleanup() {
  if [[ -n "$worker" ]] && kill -0 "$worker" 2>/dev/null; then kill "$worker"; wait "$worker" || true; fi
  if [[ -n "$started_kafka" ]]; then scripts/kafka.sh stop; fi
}
trap cleanup EXIT

t0=$SECONDS
if ! scripts/kafka.sh status; then scripts/kafka.sh start; started_kafka=1; fi
# A demo starts from nothing, so the report shows exactly this run's stream.
export ZL_TOPIC_EVENTS="${ZL_TOPIC_EVENTS:-zl.demo.events.$(date +%s)}"
export ZL_TOPIC_DEAD_LETTER="${ZL_TOPIC_DEAD_LETTER:-${ZL_TOPIC_EVENTS/events/dead-letter}}"
export ZL_CLICKHOUSE_DATABASE="${ZL_CLICKHOUSE_DATABASE:-demo_$(date +%s)}"
$zl topics
$zl migrate
$zl generate --size "$size" --manifest "$manifest"

# The worker holds the chDB directory while it runs; `zl report` reads through its
# read-only query endpoint, announced in the directory once the ledger is open.
$zl worker --until-caught-up &
worker=$!
endpoint="${ZL_CLICKHOUSE_URL:-chdb://$var/chdb}"
endpoint="${endpoint#chdb://}/zettaledger.query"
while kill -0 "$worker" 2>/dev/null && ! grep -qs "\"pid\": $worker" "$endpoint"; do sleep 0.2; done
while kill -0 "$worker" 2>/dev/null \
  && [[ "$($zl sql "SELECT count() FROM $ZL_CLICKHOUSE_DATABASE.ingest_progress" | tail -1)" == 0 ]]; do sleep 0.5; done
live=""
if kill -0 "$worker" 2>/dev/null; then
  # The worker may catch up and stop while the report reads: then the read is refused,
  # which is no failure of the demo (the worker's exit status below is the judge).
  live="$($zl report 2>&1)" || live=""
fi
wait "$worker"
worker=""
if [[ -n "$live" ]]; then
  echo "zl report while the worker ingests: $(grep '^Ingest:' <<<"$live")"
else
  echo "zl report while the worker ingests: the worker caught up before the live read finished"
fi
echo
$zl report --manifest "$manifest"
$zl report --manifest "$manifest" --html "$var/report.html"
echo "demo finished in $((SECONDS - t0)) s (database $ZL_CLICKHOUSE_DATABASE, topic $ZL_TOPIC_EVENTS)"
