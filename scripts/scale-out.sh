#!/usr/bin/env bash
# Scale-out recipe of issue 6 (see docs/scale-out.md), on one machine, loopback
# only: PostgreSQL primary (the existing `15 main` cluster), a streaming
# replica made with pg_basebackup on REPLICA_PORT, PgBouncer (session pooling)
# in front of the replica on PGBOUNCER_PORT, Redis, and N `leadex serve` + M
# `leadex work` processes.
#
# Usage (as root, Debian 12, PostgreSQL 15):
#   scripts/scale-out.sh up             start / repair everything (idempotent)
#   SKIP_APPS=1 scripts/scale-out.sh up infrastructure only (no leadex binary)
#   scripts/scale-out.sh status         what runs: replication lag, pools, pids
#   scripts/scale-out.sh kill-replica   stop the replica (fail-over test);
#                                       `up` starts it again
#   scripts/scale-out.sh down           stop apps, PgBouncer, drop the replica,
#                                       its slot and (if `up` created it) the
#                                       database; remove $STATE (idempotent)
#
# Environment (defaults in brackets):
#   STATE [/tmp/leadex-scale]   logs, pidfiles, configs, data dirs, `env` file
#   DB [leadex_scale]           database (created on the primary if missing)
#   N [2], M [2]                `leadex serve` / `leadex work` processes
#   API_BASE_PORT [18600]       serve i listens on API_BASE_PORT+i-1
#   WORK_BASE_PORT [API_BASE_PORT+100]  worker j serves /metrics on +j-1
#   BIN [<repo>/target/release] directory holding `leadex` (or the binary)
#   SKIP_APPS [0]               1: infrastructure only
#   PRIMARY_PORT [5432], REPLICA_PORT [5433], PGBOUNCER_PORT [6433],
#   REDIS_PORT [6379]
#   PG_VERSION [15], PRIMARY_CLUSTER [main], REPLICA_CLUSTER [leadex_replica],
#   REPLICA_SLOT [leadex_replica]
#   PGBOUNCER_POOL_SIZE [90]    server connections per (database, user) pool
#   PRIVACY_KEY                 PII key to use (default: generated once into
#                               $STATE/privacy.key, shared by every process)
#   KEEP_DB [0]                 1: `down` keeps the database
#   KILL_MODE [fast]            pg_ctl stop mode of kill-replica (immediate =
#                               crash-like)
#   READY_TIMEOUT [60]          seconds to wait for each process to be ready
#
# After `up`, `source $STATE/env` gives API_URLS (space-separated),
# WORKER_METRICS_URLS, PRIMARY_URL, REPLICA_URL (through PgBouncer, what the
# apps use), REPLICA_DIRECT_URL, PGBOUNCER_URL, PGBOUNCER_ADMIN_URL, REDIS_URL,
# PRIVACY_KEY, SCALE_DB, SCALE_STATE.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

STATE=${STATE:-/tmp/leadex-scale}
DB=${DB:-leadex_scale}
N=${N:-2}
M=${M:-2}
API_BASE_PORT=${API_BASE_PORT:-18600}
WORK_BASE_PORT=${WORK_BASE_PORT:-$((API_BASE_PORT + 100))}
BIN=${BIN:-$ROOT/target/release}
SKIP_APPS=${SKIP_APPS:-0}
PG_VERSION=${PG_VERSION:-15}
PRIMARY_CLUSTER=${PRIMARY_CLUSTER:-main}
PRIMARY_PORT=${PRIMARY_PORT:-5432}
REPLICA_CLUSTER=${REPLICA_CLUSTER:-leadex_replica}
REPLICA_PORT=${REPLICA_PORT:-5433}
REPLICA_SLOT=${REPLICA_SLOT:-leadex_replica}
PGBOUNCER_PORT=${PGBOUNCER_PORT:-6433}
PGBOUNCER_POOL_SIZE=${PGBOUNCER_POOL_SIZE:-90}
REDIS_PORT=${REDIS_PORT:-6379}
KEEP_DB=${KEEP_DB:-0}
KILL_MODE=${KILL_MODE:-fast}
READY_TIMEOUT=${READY_TIMEOUT:-60}

HOST=127.0.0.1
export PGCONNECT_TIMEOUT=5
PRIMARY_URL="postgres://postgres@$HOST:$PRIMARY_PORT/$DB"
REPLICA_DIRECT_URL="postgres://postgres@$HOST:$REPLICA_PORT/$DB"
PGBOUNCER_URL="postgres://postgres@$HOST:$PGBOUNCER_PORT/$DB"
PGBOUNCER_ADMIN_URL="postgres://postgres@$HOST:$PGBOUNCER_PORT/pgbouncer"
REDIS_URL="redis://$HOST:$REDIS_PORT"
PGB_DIR=$STATE/pgbouncer
RUN_DIR=$STATE/run
LOG_DIR=$STATE/logs

log() { printf '[scale-out] %s\n' "$*" >&2; }
die() {
  printf '[scale-out] error: %s\n' "$*" >&2
  exit 1
}

# --- sanity ---------------------------------------------------------------

[[ $DB =~ ^[a-z_][a-z0-9_]*$ ]] || die "DB must match [a-z_][a-z0-9_]* (got '$DB')"
[[ $REPLICA_SLOT =~ ^[a-z_][a-z0-9_]*$ ]] || die "REPLICA_SLOT must match [a-z_][a-z0-9_]*"
[[ $REPLICA_CLUSTER =~ ^[A-Za-z0-9_]+$ ]] || die "REPLICA_CLUSTER must be alphanumeric"
[[ $REPLICA_CLUSTER != "$PRIMARY_CLUSTER" ]] || die "REPLICA_CLUSTER must differ from PRIMARY_CLUSTER"
for v in N M API_BASE_PORT WORK_BASE_PORT PRIMARY_PORT REPLICA_PORT PGBOUNCER_PORT REDIS_PORT PGBOUNCER_POOL_SIZE READY_TIMEOUT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number (got '${!v}')"
done
# `down` removes $STATE: refuse anything but a dedicated absolute directory.
case $STATE in
  /*/*) ;;
  *) die "STATE must be an absolute path at least two levels deep (got '$STATE')" ;;
esac
STATE=${STATE%/}
case $STATE in
  /tmp | /var | /var/tmp | /root | /home | /usr | /etc | /opt | /srv | /run | /work | *..*) die "refusing STATE=$STATE" ;;
esac

# --- helpers --------------------------------------------------------------

# wait_for SECONDS WHAT COMMAND...: retries COMMAND every 0.25 s.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || {
      log "timed out after ${secs}s waiting for $what"
      return 1
    }
    sleep 0.25
  done
}

# psql against PORT (database DBNAME), unaligned, quiet, stops on errors.
psql_at() {
  local port=$1 dbname=$2
  shift 2
  timeout 60 psql -X -q -At -v ON_ERROR_STOP=1 -h "$HOST" -p "$port" -U postgres -d "$dbname" "$@"
}
pq() { psql_at "$PRIMARY_PORT" postgres "$@"; }
rq() { psql_at "$REPLICA_PORT" postgres "$@"; }
bq() { timeout 20 psql -X -h "$HOST" -p "$PGBOUNCER_PORT" -U postgres -d pgbouncer "$@"; }

as_postgres() { runuser -u postgres -- "$@"; }

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# cluster_status NAME: online | online,recovery | down | "" (absent).
cluster_status() {
  pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$1" '$1 == v && $2 == c { print $4 }'
}
cluster_datadir() {
  pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$1" '$1 == v && $2 == c { print $6 }'
}
# 9>&-: daemons must not inherit the lock (see lock()).
pg_ctl_cluster() { timeout 120 pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$@" 9>&-; }

slot_exists() { [[ $(pq -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$REPLICA_SLOT'") == 1 ]]; }
slot_active() { [[ $(pq -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$REPLICA_SLOT' AND active") == 1 ]]; }
replica_streaming() {
  [[ $(pq -c "SELECT r.state FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = '$REPLICA_SLOT'") == streaming ]]
}
replica_in_recovery() { [[ $(rq -c "SELECT pg_is_in_recovery()") == t ]]; }

# alive PIDFILE [COMM]: the pid in PIDFILE runs (and its command is COMM).
alive() {
  local pidfile=$1 comm=${2:-} pid
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ -z $comm ]] || [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm" ]]
}

# stop_pid PID NAME: SIGTERM, up to 20 s, then SIGKILL.
stop_pid() {
  local pid=$1 name=$2 deadline=$((SECONDS + 20))
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "$name ($pid) ignored SIGTERM for 20s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  log "stopped $name ($pid)"
}

leadex_bin() {
  if [[ -d $BIN ]]; then echo "$BIN/leadex"; else echo "$BIN"; fi
}

# One `up`/`down` at a time. Every daemon is started with 9>&- so that it
# does not inherit (and hold forever) this lock.
lock() {
  exec 9>"$STATE.lock"
  flock -w 300 9 || die "another scale-out.sh holds $STATE.lock"
}

# --- 1. primary -----------------------------------------------------------

ensure_primary() {
  local st
  st=$(cluster_status "$PRIMARY_CLUSTER")
  [[ -n $st ]] || die "cluster $PG_VERSION/$PRIMARY_CLUSTER does not exist (pg_lsclusters)"
  if [[ $st != online* ]]; then
    log "starting primary $PG_VERSION/$PRIMARY_CLUSTER"
    pg_ctl_cluster "$PRIMARY_CLUSTER" start
  fi
  wait_for 60 "primary on port $PRIMARY_PORT" pq -c "SELECT 1" || die "primary not reachable on $HOST:$PRIMARY_PORT"

  # Replication connections from loopback for postgres, without a password.
  # `all` in the database column does not match replication connections, so
  # this needs its own line; it goes first so no earlier line shadows it.
  local hba
  hba=$(pq -c "SHOW hba_file")
  if ! grep -Eq '^[[:space:]]*host[[:space:]]+replication[[:space:]]+(postgres|all)[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    log "adding 'host replication postgres 127.0.0.1/32 trust' to $hba"
    local tmp
    tmp=$(mktemp)
    awk 'BEGIN { done = 0 }
         !done && $0 !~ /^[[:space:]]*(#|$)/ {
           print "# added by leadex scripts/scale-out.sh (streaming replica)"
           print "host    replication     postgres        127.0.0.1/32            trust"
           done = 1
         }
         { print }
         END { if (!done) { print "host    replication     postgres        127.0.0.1/32            trust" } }' "$hba" >"$tmp"
    cat "$tmp" >"$hba" # keeps owner and mode
    rm -f "$tmp"
    pq -c "SELECT pg_reload_conf()" >/dev/null
  fi
  wait_for 15 "a replication connection to the primary" \
    timeout 10 psql -X -q "host=$HOST port=$PRIMARY_PORT user=postgres dbname=postgres replication=true" -c "IDENTIFY_SYSTEM" ||
    die "the primary refuses replication connections from $HOST as postgres: check $hba"

  # wal_level ≥ replica, max_wal_senders ≥ 2, a replication slot available.
  local restart=0
  if [[ $(pq -c "SHOW wal_level") == minimal ]]; then
    pq -c "ALTER SYSTEM SET wal_level = replica" && restart=1
  fi
  if (($(pq -c "SHOW max_wal_senders") < 2)); then
    pq -c "ALTER SYSTEM SET max_wal_senders = 10" && restart=1
  fi
  if (($(pq -c "SHOW max_replication_slots") < 1)); then
    pq -c "ALTER SYSTEM SET max_replication_slots = 10" && restart=1
  fi
  if ((restart)); then
    log "restarting the primary for wal_level / max_wal_senders / max_replication_slots"
    pg_ctl_cluster "$PRIMARY_CLUSTER" restart
    wait_for 60 "primary after restart" pq -c "SELECT 1" || die "primary did not come back"
  fi
}

ensure_database() {
  if [[ $(pq -c "SELECT count(*) FROM pg_database WHERE datname = '$DB'") == 0 ]]; then
    log "creating database $DB"
    pq -c "CREATE DATABASE \"$DB\""
    : >"$STATE/db-created"
  fi
}

ensure_slot() {
  slot_exists || {
    log "creating physical replication slot $REPLICA_SLOT"
    pq -c "SELECT pg_create_physical_replication_slot('$REPLICA_SLOT', true)" >/dev/null
  }
}

drop_slot() {
  slot_exists || return 0
  # The walsender may outlive a just-stopped standby by a moment.
  local deadline=$((SECONDS + 15))
  while slot_active && ((SECONDS < deadline)); do sleep 0.25; done
  if slot_active; then
    log "slot $REPLICA_SLOT still active: terminating its walsender"
    pq -c "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '$REPLICA_SLOT' AND active_pid IS NOT NULL" >/dev/null || true
    sleep 1
  fi
  pq -c "SELECT pg_drop_replication_slot('$REPLICA_SLOT')" >/dev/null && log "dropped slot $REPLICA_SLOT"
}

# --- 2. replica -----------------------------------------------------------

build_replica() {
  local datadir conf
  if [[ -n $(cluster_status "$REPLICA_CLUSTER") ]]; then
    log "dropping the old replica cluster $PG_VERSION/$REPLICA_CLUSTER"
    timeout 120 pg_dropcluster --stop "$PG_VERSION" "$REPLICA_CLUSTER"
  fi
  ! port_open "$REPLICA_PORT" || die "port $REPLICA_PORT is in use by something else (REPLICA_PORT)"
  # A fresh slot: an old one would pin WAL from a previous replica.
  drop_slot
  ensure_slot

  log "creating replica cluster $PG_VERSION/$REPLICA_CLUSTER on port $REPLICA_PORT"
  timeout 120 pg_createcluster --start-conf=manual -p "$REPLICA_PORT" "$PG_VERSION" "$REPLICA_CLUSTER" >"$LOG_DIR/pg_createcluster.log" 2>&1 ||
    die "pg_createcluster failed: $(tail -5 "$LOG_DIR/pg_createcluster.log")"
  datadir=$(cluster_datadir "$REPLICA_CLUSTER")
  conf=/etc/postgresql/$PG_VERSION/$REPLICA_CLUSTER
  [[ -n $datadir && -d $datadir && -d $conf ]] || die "replica cluster has no data dir / config dir"

  # Settings a hot standby needs at least as high as the primary's, plus ours.
  local s
  {
    echo "# written by leadex scripts/scale-out.sh"
    echo "listen_addresses = '$HOST'"
    echo "port = $REPLICA_PORT"
    echo "hot_standby = on"
    echo "hot_standby_feedback = on"
    for s in max_connections max_worker_processes max_wal_senders max_prepared_transactions max_locks_per_transaction; do
      echo "$s = $(pq -c "SHOW $s")"
    done
  } >"$conf/conf.d/90-leadex-replica.conf"
  cat >"$conf/pg_hba.conf" <<EOF
# written by leadex scripts/scale-out.sh: loopback only, trust
local   all             all                                     trust
host    all             all             127.0.0.1/32            trust
host    replication     all             127.0.0.1/32            trust
EOF
  chown postgres:postgres "$conf/conf.d/90-leadex-replica.conf" "$conf/pg_hba.conf"

  # Replace the fresh initdb with a base backup of the primary; -R writes
  # standby.signal and primary_conninfo / primary_slot_name.
  # (emptied, not removed: its parent need not be writable by postgres)
  find "$datadir" -mindepth 1 -delete
  chown postgres:postgres "$datadir"
  log "pg_basebackup of the primary into $datadir (slot $REPLICA_SLOT)"
  as_postgres timeout 900 pg_basebackup -h "$HOST" -p "$PRIMARY_PORT" -U postgres -w \
    -D "$datadir" -R -X stream -S "$REPLICA_SLOT" -c fast >"$LOG_DIR/pg_basebackup.log" 2>&1 ||
    die "pg_basebackup failed: $(tail -5 "$LOG_DIR/pg_basebackup.log")"
  chmod 700 "$datadir"
  [[ -f $datadir/standby.signal ]] || die "pg_basebackup -R wrote no standby.signal"
}

ensure_replica() {
  local st datadir rebuild=0
  st=$(cluster_status "$REPLICA_CLUSTER")
  datadir=$(cluster_datadir "$REPLICA_CLUSTER")
  if [[ -z $st ]]; then
    rebuild=1
  elif ! slot_exists; then
    log "slot $REPLICA_SLOT is gone: the replica may miss WAL, rebuilding it"
    rebuild=1
  elif [[ ! -f $datadir/standby.signal ]]; then
    log "$PG_VERSION/$REPLICA_CLUSTER is not a standby: rebuilding it"
    rebuild=1
  fi
  if ((rebuild)); then
    build_replica
    st=down
  fi
  if [[ $st != online* ]]; then
    log "starting replica $PG_VERSION/$REPLICA_CLUSTER"
    pg_ctl_cluster "$REPLICA_CLUSTER" start ||
      die "replica did not start: see /var/log/postgresql/postgresql-$PG_VERSION-$REPLICA_CLUSTER.log"
  fi
  wait_for 60 "replica on port $REPLICA_PORT" rq -c "SELECT 1" || die "replica not reachable on $HOST:$REPLICA_PORT"
  wait_for 30 "replica in recovery" replica_in_recovery || die "replica on $REPLICA_PORT is not in recovery"
  wait_for 60 "replica streaming from the primary" replica_streaming ||
    die "replica is not streaming (pg_stat_replication); see /var/log/postgresql/postgresql-$PG_VERSION-$REPLICA_CLUSTER.log"
}

# --- 3. PgBouncer ---------------------------------------------------------

pgbouncer_bin() {
  command -v pgbouncer 2>/dev/null || { [[ -x /usr/sbin/pgbouncer ]] && echo /usr/sbin/pgbouncer; } || true
}

write_pgbouncer_config() {
  mkdir -p "$PGB_DIR"
  # With auth_type = trust the user must still be listed in auth_file.
  echo '"postgres" ""' >"$PGB_DIR/userlist.txt"
  cat >"$PGB_DIR/pgbouncer.ini" <<EOF
; written by leadex scripts/scale-out.sh
[databases]
; the name the apps use (database.replica_url) -> the streaming replica
$DB = host=$HOST port=$REPLICA_PORT dbname=$DB
; the primary, for comparison / manual checks
${DB}_primary = host=$HOST port=$PRIMARY_PORT dbname=$DB
; any other database name -> the same database on the replica
* = host=$HOST port=$REPLICA_PORT

[pgbouncer]
listen_addr = $HOST
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $PGB_DIR/userlist.txt
admin_users = postgres
stats_users = postgres
; session pooling: a client keeps its server connection, so sqlx's named
; prepared statements stay valid (PgBouncer 1.18 cannot track them in
; transaction mode; see docs/scale-out.md)
pool_mode = session
server_reset_query = DISCARD ALL
; sqlx sends extra_float_digits in the startup packet; 1.18 refuses unknown
; startup parameters unless told to ignore them
ignore_startup_parameters = extra_float_digits,options
max_client_conn = 2000
default_pool_size = $PGBOUNCER_POOL_SIZE
min_pool_size = 0
reserve_pool_size = 0
server_connect_timeout = 5
server_login_retry = 2
query_wait_timeout = 3
logfile = $PGB_DIR/pgbouncer.log
pidfile = $PGB_DIR/pgbouncer.pid
log_connections = 0
log_disconnections = 0
EOF
  chown -R postgres:postgres "$PGB_DIR"
  chmod 600 "$PGB_DIR/userlist.txt"
}

ensure_pgbouncer() {
  local bin
  bin=$(pgbouncer_bin)
  if [[ -z $bin ]]; then
    log "installing pgbouncer (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get install -y -q pgbouncer >"$LOG_DIR/apt-pgbouncer.log" 2>&1 9>&- || {
      timeout 600 apt-get update -q >>"$LOG_DIR/apt-pgbouncer.log" 2>&1 || true
      timeout 600 apt-get install -y -q pgbouncer >>"$LOG_DIR/apt-pgbouncer.log" 2>&1 9>&-
    } || die "apt-get install pgbouncer failed: $(tail -5 "$LOG_DIR/apt-pgbouncer.log")"
    bin=$(pgbouncer_bin)
    [[ -n $bin ]] || die "pgbouncer not found after installing it"
  fi
  write_pgbouncer_config
  if alive "$PGB_DIR/pgbouncer.pid" pgbouncer; then
    kill -HUP "$(<"$PGB_DIR/pgbouncer.pid")" # reload the (rewritten) config
  else
    ! port_open "$PGBOUNCER_PORT" || die "port $PGBOUNCER_PORT is in use by something else (PGBOUNCER_PORT)"
    rm -f "$PGB_DIR/pgbouncer.pid"
    log "starting PgBouncer on $HOST:$PGBOUNCER_PORT (session pooling, user postgres)"
    # PgBouncer refuses to run as root.
    as_postgres timeout 30 "$bin" -d -q "$PGB_DIR/pgbouncer.ini" </dev/null >/dev/null 2>&1 9>&- ||
      die "pgbouncer did not start: $(tail -5 "$PGB_DIR/pgbouncer.log" 2>/dev/null)"
  fi
  wait_for 20 "PgBouncer admin console" bq -c "SHOW VERSION" || die "PgBouncer admin console not reachable"
  wait_for 30 "the replica through PgBouncer" \
    timeout 10 psql -X -q -At -h "$HOST" -p "$PGBOUNCER_PORT" -U postgres -d "$DB" -c "SELECT 1" ||
    die "cannot reach database $DB through PgBouncer; see $PGB_DIR/pgbouncer.log"
}

stop_pgbouncer() {
  local pid=""
  if alive "$PGB_DIR/pgbouncer.pid" pgbouncer; then
    pid=$(<"$PGB_DIR/pgbouncer.pid")
  else
    # The state dir may be gone: a pgbouncer on our port started with a config under $STATE.
    local p
    for p in $(ss -ltnpH "sport = :$PGBOUNCER_PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
      if [[ $(cat "/proc/$p/comm" 2>/dev/null) == pgbouncer ]] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -qF "$PGB_DIR/"; then
        pid=$p
      fi
    done
  fi
  [[ -z $pid ]] || stop_pid "$pid" pgbouncer
}

# --- 4. Redis -------------------------------------------------------------

redis_up() { [[ $(timeout 5 redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }

ensure_redis() {
  if ! redis_up; then
    log "starting Redis on $HOST:$REDIS_PORT"
    timeout 30 redis-server --daemonize yes --bind "$HOST" --port "$REDIS_PORT" --save "" --appendonly no --dir /tmp >/dev/null 9>&-
    wait_for 15 "Redis" redis_up || die "Redis did not start on $REDIS_PORT"
  fi
}

# --- 5. leadex processes --------------------------------------------------

privacy_key() {
  if [[ -n ${PRIVACY_KEY:-} ]]; then
    echo "$PRIVACY_KEY"
    return
  fi
  if [[ ! -s $STATE/privacy.key ]]; then
    (
      umask 077
      echo "k1:$(head -c 32 /dev/urandom | base64 -w0)" >"$STATE/privacy.key"
    )
  fi
  cat "$STATE/privacy.key"
}

app_env() {
  export LEADEX__DATABASE__URL=$PRIMARY_URL
  export LEADEX__DATABASE__REPLICA_URL=$PGBOUNCER_URL
  export LEADEX__REDIS__URL=$REDIS_URL
  LEADEX__PRIVACY__KEY=$(privacy_key)
  export LEADEX__PRIVACY__KEY
  export LEADEX__LOG__LEVEL=info
}

# start_app NAME ROLE PORT
start_app() {
  local name=$1 role=$2 port=$3 exe pid
  local pidfile=$RUN_DIR/$name.pid logfile=$LOG_DIR/$name.log datadir=$STATE/apps/$name
  exe=$(leadex_bin)
  if alive "$pidfile" leadex; then
    log "$name already runs (pid $(<"$pidfile"))"
    return
  fi
  ! port_open "$port" || die "port $port (for $name) is in use by something else"
  mkdir -p "$datadir"
  (
    export LEADEX__DATA_DIR=$datadir
    if [[ $role == serve ]]; then
      exec setsid "$exe" --data-dir "$datadir" --bind "$HOST:$port" serve
    else
      export LEADEX__QUEUE__METRICS_BIND=$HOST:$port
      # One process sends chain transactions (ADR 11): work-1 runs the
      # embedded chain, the others only run jobs.
      [[ $name == work-1 ]] || export LEADEX__CHAIN__MODE=off
      exec setsid "$exe" --data-dir "$datadir" work
    fi
  ) </dev/null >>"$logfile" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$pidfile"
  log "started $name (pid $pid) on $HOST:$port, log $logfile"
}

app_ready() { [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1") == 200 ]]; }

start_apps() {
  local exe i
  exe=$(leadex_bin)
  [[ -x $exe ]] || die "no leadex binary at $exe (build it with 'cargo build --release -p leadex', set BIN, or run with SKIP_APPS=1)"
  mkdir -p "$STATE/apps"
  app_env
  log "migrating $DB"
  LEADEX__DATA_DIR=$STATE/apps/migrate timeout 180 "$exe" --data-dir "$STATE/apps/migrate" migrate \
    </dev/null >>"$LOG_DIR/migrate.log" 2>&1 9>&- || die "leadex migrate failed: $(tail -5 "$LOG_DIR/migrate.log")"
  for ((i = 1; i <= N; i++)); do start_app "serve-$i" serve $((API_BASE_PORT + i - 1)); done
  for ((i = 1; i <= M; i++)); do start_app "work-$i" work $((WORK_BASE_PORT + i - 1)); done
  for ((i = 1; i <= N; i++)); do
    wait_for "$READY_TIMEOUT" "serve-$i /health/ready" app_ready "http://$HOST:$((API_BASE_PORT + i - 1))/health/ready" ||
      die "serve-$i is not ready: $(tail -5 "$LOG_DIR/serve-$i.log")"
    alive "$RUN_DIR/serve-$i.pid" leadex || die "serve-$i exited: $(tail -5 "$LOG_DIR/serve-$i.log")"
  done
  for ((i = 1; i <= M; i++)); do
    wait_for "$READY_TIMEOUT" "work-$i /health/live" app_ready "http://$HOST:$((WORK_BASE_PORT + i - 1))/health/live" ||
      die "work-$i is not live: $(tail -5 "$LOG_DIR/work-$i.log")"
    alive "$RUN_DIR/work-$i.pid" leadex || die "work-$i exited: $(tail -5 "$LOG_DIR/work-$i.log")"
  done
}

stop_apps() {
  local f name
  [[ -d $RUN_DIR ]] || return 0
  # Workers first (they hold leases), then the API processes.
  for f in "$RUN_DIR"/work-*.pid "$RUN_DIR"/serve-*.pid; do
    [[ -e $f ]] || continue
    name=$(basename "$f" .pid)
    if alive "$f" leadex; then stop_pid "$(<"$f")" "$name"; fi
    rm -f "$f"
  done
}

write_env() {
  local api="" work="" i
  if [[ $SKIP_APPS != 1 ]]; then
    for ((i = 0; i < N; i++)); do api+="${api:+ }http://$HOST:$((API_BASE_PORT + i))"; done
    for ((i = 0; i < M; i++)); do work+="${work:+ }http://$HOST:$((WORK_BASE_PORT + i))"; done
  fi
  {
    printf 'export SCALE_STATE=%q\n' "$STATE"
    printf 'export SCALE_DB=%q\n' "$DB"
    printf 'export API_URLS=%q\n' "$api"
    printf 'export WORKER_METRICS_URLS=%q\n' "$work"
    printf 'export PRIMARY_URL=%q\n' "$PRIMARY_URL"
    printf 'export REPLICA_URL=%q\n' "$PGBOUNCER_URL"
    printf 'export REPLICA_DIRECT_URL=%q\n' "$REPLICA_DIRECT_URL"
    printf 'export PGBOUNCER_URL=%q\n' "$PGBOUNCER_URL"
    printf 'export PGBOUNCER_ADMIN_URL=%q\n' "$PGBOUNCER_ADMIN_URL"
    printf 'export REDIS_URL=%q\n' "$REDIS_URL"
    printf 'export PRIVACY_KEY=%q\n' "$(privacy_key)"
  } >"$STATE/env.tmp"
  chmod 600 "$STATE/env.tmp"
  mv "$STATE/env.tmp" "$STATE/env"
}

# --- commands -------------------------------------------------------------

cmd_up() {
  mkdir -p "$STATE" "$RUN_DIR" "$LOG_DIR"
  chmod 755 "$STATE"
  lock
  ensure_primary
  ensure_database
  ensure_replica
  ensure_pgbouncer
  ensure_redis
  if [[ $SKIP_APPS == 1 ]]; then
    log "SKIP_APPS=1: no leadex processes"
  else
    start_apps
  fi
  write_env
  local i
  echo "scale-out is up (state: $STATE; source $STATE/env)"
  echo "  primary     $PRIMARY_URL"
  echo "  replica     $REPLICA_DIRECT_URL  (streaming, slot $REPLICA_SLOT)"
  echo "  pgbouncer   $PGBOUNCER_URL  (session pooling -> replica; admin: psql -h $HOST -p $PGBOUNCER_PORT -U postgres pgbouncer)"
  echo "  redis       $REDIS_URL"
  if [[ $SKIP_APPS != 1 ]]; then
    for ((i = 1; i <= N; i++)); do echo "  serve-$i     http://$HOST:$((API_BASE_PORT + i - 1))  pid $(<"$RUN_DIR/serve-$i.pid")"; done
    for ((i = 1; i <= M; i++)); do echo "  work-$i      http://$HOST:$((WORK_BASE_PORT + i - 1))/metrics  pid $(<"$RUN_DIR/work-$i.pid")"; done
  fi
}

cmd_down() {
  if [[ -d $STATE ]]; then lock; fi
  stop_apps
  stop_pgbouncer
  if [[ -n $(cluster_status "$REPLICA_CLUSTER") ]]; then
    log "dropping replica cluster $PG_VERSION/$REPLICA_CLUSTER"
    timeout 120 pg_dropcluster --stop "$PG_VERSION" "$REPLICA_CLUSTER"
  fi
  if pq -c "SELECT 1" >/dev/null 2>&1; then
    drop_slot
    if [[ -e $STATE/db-created && $KEEP_DB != 1 ]]; then
      pq -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" && log "dropped database $DB"
    fi
  else
    log "primary not reachable: slot $REPLICA_SLOT and database $DB left as they are"
  fi
  rm -rf "$STATE"
  rm -f "$STATE.lock"
  echo "scale-out is down (primary and Redis left running)"
}

cmd_status() {
  local st f name pid
  echo "== clusters"
  pg_lsclusters | awk -v v="$PG_VERSION" -v p="$PRIMARY_CLUSTER" -v r="$REPLICA_CLUSTER" 'NR == 1 || ($1 == v && ($2 == p || $2 == r))'
  echo "== replication (primary $HOST:$PRIMARY_PORT)"
  pq -c "SELECT 'slot ' || slot_name || ' active=' || active || ' retained_bytes=' || coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, 0) FROM pg_replication_slots WHERE slot_name = '$REPLICA_SLOT'" 2>/dev/null || echo "primary unreachable"
  pq -c "SELECT 'walsender pid=' || pid || ' state=' || state || ' lag_bytes=' || coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint, -1) || ' replay_lag=' || coalesce(replay_lag::text, '0') FROM pg_stat_replication" 2>/dev/null || true
  [[ -n $(pq -c "SELECT 1 FROM pg_stat_replication LIMIT 1" 2>/dev/null) ]] || echo "no replica streaming"
  echo "== replica $HOST:$REPLICA_PORT"
  rq -c "SELECT 'in_recovery=' || pg_is_in_recovery() || ' replay_delay=' || coalesce((now() - pg_last_xact_replay_timestamp())::text, 'n/a')" 2>/dev/null || echo "down"
  echo "== pgbouncer $HOST:$PGBOUNCER_PORT"
  if alive "$PGB_DIR/pgbouncer.pid" pgbouncer; then
    echo "pid $(<"$PGB_DIR/pgbouncer.pid")"
    bq -c "SHOW POOLS" 2>/dev/null || echo "admin console unreachable"
  else
    echo "not running"
  fi
  echo "== redis $HOST:$REDIS_PORT"
  redis_up && echo "PONG" || echo "down"
  echo "== leadex processes"
  if [[ -d $RUN_DIR ]] && compgen -G "$RUN_DIR/*.pid" >/dev/null; then
    for f in "$RUN_DIR"/serve-*.pid "$RUN_DIR"/work-*.pid; do
      [[ -e $f ]] || continue
      name=$(basename "$f" .pid)
      pid=$(<"$f")
      if alive "$f" leadex; then st=running; else st=dead; fi
      echo "$name pid $pid $st"
    done
  else
    echo "none"
  fi
}

cmd_kill_replica() {
  local st
  st=$(cluster_status "$REPLICA_CLUSTER")
  if [[ -z $st ]]; then
    echo "no replica cluster $PG_VERSION/$REPLICA_CLUSTER"
  elif [[ $st != online* ]]; then
    echo "replica $PG_VERSION/$REPLICA_CLUSTER is already down"
  else
    pg_ctl_cluster "$REPLICA_CLUSTER" stop -m "$KILL_MODE"
    echo "replica $PG_VERSION/$REPLICA_CLUSTER stopped (-m $KILL_MODE); 'scale-out.sh up' starts it again"
  fi
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[[ $(id -u) == 0 ]] || die "run as root (pg_createcluster, runuser, apt-get)"
case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  kill-replica) cmd_kill_replica ;;
  -h | --help | help | "") usage ;;
  *)
    log "unknown command '$1'"
    usage
    ;;
esac
