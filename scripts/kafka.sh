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
#   scripts/kafka.sh start-secure   start with ZL_KAFKA_SECURITY=sasl_ssl (below)
#   scripts/kafka.sh acls     (secure mode) grant the users' ACLs for ZL_TOPIC_EVENTS,
#                             ZL_TOPIC_DEAD_LETTER and ZL_APP_ID; start-secure does it too
#
# Environment: ZL_VAR_DIR (default ./var), ZL_KAFKA_PORT (9092),
# ZL_KAFKA_CONTROLLER_PORT (ZL_KAFKA_PORT+1), ZL_KAFKA_HEAP (512m),
# ZL_KAFKA_SECURITY (plaintext | sasl_ssl), ZL_PYTHON (for `acls`; default .venv/bin/python).
#
# Secure mode (ZL_KAFKA_SECURITY=sasl_ssl, or start-secure): the client port is a
# SASL_SSL listener (SCRAM-SHA-512) and the controller listens on its own loopback
# port with SASL/PLAIN (a static controller user, never a client's). At the first
# start it makes, under $ZL_VAR_DIR/kafka/<port>/secure/:
#   ca.pem, ca.key              a throw-away CA (clients trust ca.pem)
#   broker.p12                  the broker's key and certificate (SANs 127.0.0.1, localhost)
#   client.pem, client.key      a client certificate from the same CA (mTLS: the broker
#                               requests one and checks it when given)
#   passwords/<user>            0600 files, one random password per SCRAM user:
#                                 admin     super user (creates topics, grants ACLs)
#                                 worker    read events + its group, write dead letters
#                                 producer  write events
#                                 reader    read dead letters + group <app id>-reader
#                                 stranger  a valid login with no ACL at all
#   secure.env                  ZL_KAFKA_* lines for the admin (source it; swap the
#                               user and password file for the others)
#   admin.properties            the same for Java tools (kafka-topics, kafka-acls)
# The users are created at format time (kafka-storage format --add-scram); the
# StandardAuthorizer denies everything without an ACL (allow.everyone.if.no.acl.found=false).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
var="${ZL_VAR_DIR:-$root/var}"
port="${ZL_KAFKA_PORT:-9092}"
controller_port="${ZL_KAFKA_CONTROLLER_PORT:-$((port + 1))}"
heap="${ZL_KAFKA_HEAP:-512m}"
security="${ZL_KAFKA_SECURITY:-plaintext}"

libs="$var/kafka-libs"                # shared by every broker that uses this $ZL_VAR
home="$var/kafka/$port"               # one broker per port, so tests can run beside a demo
data="$home/data"
logs="$home/logs"
pidfile="$home/broker.pid"
props="$home/server.properties"
secure="$home/secure"
users=(admin worker producer reader stranger)

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
controller.listener.names=CONTROLLER
$(if [[ "$security" == sasl_ssl ]]; then secure_listeners; else plaintext_listeners; fi)
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
  [[ "$security" == sasl_ssl ]] && chmod 600 "$props"  # it holds the keystore and admin passwords
  return 0
}

plaintext_listeners() {
  cat <<PROPS
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
PROPS
}

secret() { cat "$secure/passwords/$1"; }

secure_listeners() {
  local store_pass; store_pass="$(secret .keystore)"
  cat <<PROPS
listeners=SASL_SSL://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=SASL_SSL://127.0.0.1:$port
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(secret admin)";
# The controller listener is loopback only and knows one static user (SASL/PLAIN:
# SCRAM users live in the metadata log, which a controller cannot use to log in).
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="$(secret .controller)" user_controller="$(secret .controller)";
ssl.keystore.type=PKCS12
ssl.keystore.location=$secure/broker.p12
ssl.keystore.password=$store_pass
ssl.key.password=$store_pass
ssl.truststore.type=PEM
ssl.truststore.location=$secure/ca.pem
ssl.client.auth=requested
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:controller
allow.everyone.if.no.acl.found=false
PROPS
}

# A CA, the broker's certificate (127.0.0.1 and localhost), a client certificate,
# and one random password per user; made once per broker home, kept across restarts.
make_secrets() {
  command -v openssl >/dev/null || die "openssl is needed for the secure mode: apt-get install openssl"
  mkdir -p "$secure/passwords" && chmod 700 "$secure" "$secure/passwords"
  local user
  for user in "${users[@]}" .keystore .controller; do
    [[ -s "$secure/passwords/$user" ]] || (umask 077 && openssl rand -hex 16 | tr -d '\n' > "$secure/passwords/$user")
  done
  [[ -f "$secure/broker.p12" ]] && return 0
  (
    set -e
    cd "$secure"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=zettaledger test CA" \
      -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout broker.key -out broker.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' > broker.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -extfile broker.ext -out broker.pem 2>/dev/null
    openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker \
      -passout "file:passwords/.keystore" -out broker.p12
    openssl req -newkey rsa:2048 -nodes -subj "/CN=zettaledger client" -keyout client.key -out client.csr 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -extfile client.ext -out client.pem 2>/dev/null
    rm -f ./*.csr ./*.ext ./*.srl
    chmod 644 ca.pem client.pem broker.pem
  ) || die "making the certificates in $secure failed"
}

write_client_files() {
  cat > "$secure/secure.env" <<ENV
# Written by scripts/kafka.sh (secure mode). The admin's settings; for another user
# change ZL_KAFKA_SASL_USERNAME and ZL_KAFKA_SASL_PASSWORD_FILE (passwords/<user>).
ZL_KAFKA_BOOTSTRAP=127.0.0.1:$port
ZL_KAFKA_SECURITY_PROTOCOL=SASL_SSL
ZL_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
ZL_KAFKA_SASL_USERNAME=admin
ZL_KAFKA_SASL_PASSWORD_FILE=$secure/passwords/admin
ZL_KAFKA_SSL_CAFILE=$secure/ca.pem
ZL_KAFKA_SSL_CERTFILE=$secure/client.pem
ZL_KAFKA_SSL_KEYFILE=$secure/client.key
ENV
  (umask 077 && cat > "$secure/admin.properties" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(secret admin)";
ssl.truststore.type=PEM
ssl.truststore.location=$secure/ca.pem
PROPS
  )
}

scram_args() {
  local user
  for user in "${users[@]}"; do
    printf '%s\n' --add-scram "SCRAM-SHA-512=[name=$user,password=$(secret "$user")]"
  done
}

python_bin() {
  if [[ -n "${ZL_PYTHON:-}" ]]; then echo "$ZL_PYTHON"
  elif [[ -x "$root/.venv/bin/python" ]]; then echo "$root/.venv/bin/python"
  else echo python3; fi
}

acls() {
  [[ -f "$secure/secure.env" ]] || die "no secure broker on port $port (start it with ZL_KAFKA_SECURITY=sasl_ssl)"
  # The admin's settings from secure.env; the topic and group names from the caller.
  (
    set -a
    # shellcheck disable=SC1091
    source "$secure/secure.env"
    set +a
    PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" "$(python_bin)" "$here/kafka/acls.py"
  ) || die "granting ACLs failed; see the output above"
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
  local scram=()
  if [[ "$security" == sasl_ssl ]]; then
    make_secrets
    write_client_files
    mapfile -t scram < <(scram_args)
  elif [[ "$security" != plaintext ]]; then
    die "ZL_KAFKA_SECURITY=$security: must be plaintext or sasl_ssl"
  fi
  write_config
  if [[ ! -f "$data/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid)"
    java_cmd kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$props" "${scram[@]}" >"$logs/format.log" 2>&1 \
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
  if [[ "$security" == sasl_ssl ]]; then
    acls
    echo "kafka.sh: SASL_SSL (SCRAM-SHA-512); client settings in $secure/secure.env" >&2
  fi
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
  start-secure) security=sasl_ssl; start ;;
  acls) acls ;;
  stop) stop ;;
  kill)
    if pid="$(running_pid)"; then
      kill -KILL "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidfile" ;;
  status) port_open "$port" ;;
  *) echo "usage: $0 fetch|start|start-secure|acls|stop|status|kill" >&2; exit 2 ;;
esac
