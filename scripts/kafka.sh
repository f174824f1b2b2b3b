#!/usr/bin/env bash
# Fetches, starts and stops a single-node Apache Kafka broker in KRaft mode on
# 127.0.0.1, with all its state under $ZL_VAR/kafka. Used by `make demo`, the
# integration tests and CI alike, so what a newcomer runs is what is tested.
#
#   scripts/kafka.sh fetch    resolve the pinned jars (scripts/kafka/pom.xml) once
#   scripts/kafka.sh start    fetch, format storage if new, start, wait until ready
#   scripts/kafka.sh stop     SIGTERM, wait for a clean shutdown (SIGKILL after 60 s)
#   scripts/kafka.sh status   exit 0 when the broker answers on its port
#   scripts/kafka.sh kill     SIGKILL (fault tests: a crashed broker)
#
# Environment: ZL_VAR_DIR (default ./var), ZL_KAFKA_PORT (9092),
# ZL_KAFKA_CONTROLLER_PORT (ZL_KAFKA_PORT+1), ZL_KAFKA_HEAP (512m).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
var="${ZL_VAR_DIR:-$root/var}"
port="${ZL_KAFKA_PORT:-9092}"
controller_port="${ZL_KAFKA_CONTROLLER_PORT:-$((port + 1))}"
heap="${ZL_KAFKA_HEAP:-512m}"

libs="$var/kafka-libs"                # shared by every broker that uses this $ZL_VAR
home="$var/kafka/$port"               # one broker per port, so tests can run beside a demo
data="$home/data"
logs="$home/logs"
pidfile="$home/broker.pid"
props="$home/server.properties"

die() { echo "kafka.sh: $*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

running_pid() {
  [[ -f "$pidfile" ]] || return 1
  local pid; pid="$(cat "$pidfile")"
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

fetch() {
  local stamp="$libs/.pom.sha256" want
  want="$(sha256sum "$here/kafka/pom.xml" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then return 0; fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the broker jars: apt-get install maven"
  command -v java >/dev/null || die "Java 17+ is needed to run the broker: apt-get install openjdk-17-jre-headless"
  echo "kafka.sh: fetching the Kafka broker jars from Maven Central (first run only)..." >&2
  rm -rf "$libs.tmp"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$libs.tmp" >&2 \
    || die "Maven could not resolve scripts/kafka/pom.xml; see the output above"
  rm -rf "$libs" && mv "$libs.tmp" "$libs"
  echo "$want" > "$stamp"
}

write_config() {
  mkdir -p "$data" "$logs"
  cat > "$props" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$data
# Topics are created by the project with explicit partition counts.
auto.create.topics.enable=false
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
message.max.bytes=8388608
log.retention.hours=168
PROPS
}

java_args() {
  printf '%s\n' -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dkafka.logs.dir="$logs" -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" -cp "$libs/*"
}

java_cmd() { local args; mapfile -t args < <(java_args); java "${args[@]}" "$@"; }

start() {
  fetch
  if pid="$(running_pid)"; then echo "kafka.sh: broker already running (pid $pid) on 127.0.0.1:$port" >&2; return 0; fi
  if port_open "$port"; then die "port $port is taken by another process; set ZL_KAFKA_PORT to a free port"; fi
  write_config
  if [[ ! -f "$data/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid)"
    java_cmd kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$props" >"$logs/format.log" 2>&1 \
      || { cat "$logs/format.log" >&2; die "formatting KRaft storage in $data failed"; }
  fi
  local args; mapfile -t args < <(java_args)
  nohup java "${args[@]}" kafka.Kafka "$props" >"$logs/stdout.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  local deadline=$((SECONDS + 90))
  until port_open "$port" && grep -q "Kafka Server started" "$logs/server.log" 2>/dev/null; do
    if ! running_pid >/dev/null; then tail -40 "$logs/stdout.log" "$logs/server.log" >&2 2>/dev/null || true; die "broker exited during start-up; logs in $logs"; fi
    (( SECONDS < deadline )) || die "broker not ready after 90 s; logs in $logs"
    sleep 0.5
  done
  echo "kafka.sh: broker ready on 127.0.0.1:$port (pid $(cat "$pidfile"), data in $data)" >&2
}

stop() {
  local pid
  pid="$(running_pid)" || { rm -f "$pidfile"; return 0; }
  kill -TERM "$pid"
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }; sleep 0.5; done
  echo "kafka.sh: broker did not stop in 60 s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  kill)
    if pid="$(running_pid)"; then
      kill -KILL "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidfile" ;;
  status) port_open "$port" ;;
  *) echo "usage: $0 fetch|start|stop|status|kill" >&2; exit 2 ;;
esac
