#!/usr/bin/env bash
# Issue 3 — job-queue benchmarks, end to end (see BENCHMARKS.md, "Issue 3 — job queue").
#
#   1. no-op throughput: N jobs pre-loaded, drained by 1 and 2 `leadex work`
#      processes, PostgreSQL and SQLite; each QUEUE_SETTINGS entry on
#      PostgreSQL with one worker, the best one for the rest; once with
#      `ANALYZE jobs` after the load and once without ("cold", as shipped);
#   2. scheduling accuracy: 10 000 jobs with run_at spread over 60 s, one worker;
#   3. ingest -> in_auction latency at a sustained 500 leads/s (`leadex run`);
#   4. BullMQ 6.7.0 on the local Redis: the same N no-op jobs with the best
#      concurrency, and 10 000 delayed jobs over 60 s.
#
# Everything is local (127.0.0.1): PostgreSQL via psql (trust auth), Redis at
# 127.0.0.1:6379 (only this run's queue keys are touched). Every database,
# data directory and process this script creates is removed/stopped on exit.
# Results: one JSON document per run under $OUT (printed at the end).
#
# Knobs (environment):
#   PG_N=100000 LITE_N=50000     jobs per throughput run
#   REPEAT=3 COLD_REPEAT=1       runs per throughput configuration (median reported)
#   QUEUE_SETTINGS="64:256 128:256 256:512"   concurrency:batch pairs tried on PostgreSQL,
#                                1 worker; the best is used for everything else
#   VERTICAL_LIMIT=32            queue.default_vertical_limit (config default 32)
#   SKIP="bullmq ingest"         phases to skip (throughput cold sched ingest bullmq)
#   BEST_CONC/BEST_BATCH         settings for the later phases when throughput is skipped
#   PGURL_BASE=postgres://postgres@127.0.0.1:5432
set -euo pipefail

cd "$(dirname "$0")/.."
# Benchmarks drive one key far past the production rate limits.
export LEADEX__RATE_LIMITS__ENABLED=false
ROOT=$(pwd)
PG_N=${PG_N:-100000}
LITE_N=${LITE_N:-50000}
QUEUE_SETTINGS=${QUEUE_SETTINGS:-"64:256 128:256 256:512"}
VERTICAL_LIMIT=${VERTICAL_LIMIT:-32}
SKIP=${SKIP:-}
PGURL_BASE=${PGURL_BASE:-postgres://postgres@127.0.0.1:5432}
SCHED_N=${SCHED_N:-10000}
REPEAT=${REPEAT:-3}
COLD_REPEAT=${COLD_REPEAT:-1}
INGEST_RATE=${INGEST_RATE:-500}
INGEST_SECS=${INGEST_SECS:-60}
PORT=${PORT:-18733}
STAMP=$(date -u +%Y%m%dT%H%M%S)
OUT=${OUT:-/tmp/bench-issue3-$STAMP}
mkdir -p "$OUT"

PIDS=()
DBS=()
DIRS=()
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then kill -TERM "$p" 2>/dev/null; fi
  done
  sleep 1
  for p in "${PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null; fi
  done
  for d in "${DBS[@]}"; do psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1; done
  for d in "${DIRS[@]}"; do rm -rf "$d"; done
  rm -rf "$OUT/bin"
}
trap cleanup EXIT INT TERM

skip() { [[ " $SKIP " == *" $1 "* ]]; }
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

if [[ ${BUILD:-1} == 1 ]]; then
  cargo build --release -p leadex -p leadex-loadgen
fi
# Private copies: a concurrent `cargo build` must not swap binaries mid-run.
BIN=$OUT/bin
mkdir -p "$BIN"
cp target/release/leadex target/release/leadex-queue-bench "$BIN/"
LEADEX=$BIN/leadex
QB=$BIN/leadex-queue-bench
{
  echo "date: $(date -u)"
  echo "git: $(git rev-parse --short HEAD) ($(git status --short | wc -l) files changed in the working tree)"
  echo "leadex binary built: $(date -u -r target/release/leadex)"
  echo "nproc: $(nproc); cpu: $(lscpu | sed -n 's/^Model name: *//p')"
  free -h
  echo "postgres: $(psql -h 127.0.0.1 -U postgres -d postgres -Atc 'SHOW server_version') synchronous_commit=$(psql -h 127.0.0.1 -U postgres -d postgres -Atc 'SHOW synchronous_commit') shared_buffers=$(psql -h 127.0.0.1 -U postgres -d postgres -Atc 'SHOW shared_buffers')"
  echo "redis: $(redis-cli -h 127.0.0.1 info server | sed -n 's/^redis_version://p' | tr -d '\r') hz=$(redis-cli -h 127.0.0.1 config get hz | tail -1)"
  echo "node: $(node --version)"
} >"$OUT/machine.txt"

export LEADEX__LOG__LEVEL=warn
export LEADEX__PRIVACY__KEY="k1:$(head -c32 /dev/urandom | base64)"
export LEADEX__QUEUE__DEFAULT_VERTICAL_LIMIT=$VERTICAL_LIMIT

SEQ=0
# fresh_db pg|sqlite -> sets DB_URL and DATA_DIR (a migrated, empty database)
fresh_db() {
  SEQ=$((SEQ + 1))
  DATA_DIR=$(mktemp -d "/tmp/bench-i3-$STAMP-$SEQ-XXXX")
  DIRS+=("$DATA_DIR")
  if [[ $1 == pg ]]; then
    local name="leadex_bench_i3_${STAMP,,}_$SEQ"
    psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $name" >/dev/null
    DBS+=("$name")
    DB_URL="$PGURL_BASE/$name"
    LEADEX__DATABASE__URL=$DB_URL timeout 60 "$LEADEX" --data-dir "$DATA_DIR" migrate >/dev/null
  else
    DB_URL="sqlite://$DATA_DIR/leadex.db"
    LEADEX__DATABASE__URL= timeout 60 "$LEADEX" --data-dir "$DATA_DIR" migrate >/dev/null
  fi
}
drop_db() {
  if [[ $DB_URL == postgres* ]]; then
    psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS ${DB_URL##*/} WITH (FORCE)" >/dev/null
  fi
  rm -rf "$DATA_DIR"
}
db_env() { if [[ $DB_URL == postgres* ]]; then echo "$DB_URL"; else echo ""; fi; }

# start_workers COUNT CONCURRENCY BATCH -> WORKER_PIDS
start_workers() {
  WORKER_PIDS=()
  for _ in $(seq "$1"); do
    LEADEX__DATABASE__URL=$(db_env) LEADEX__QUEUE__CONCURRENCY=$2 LEADEX__QUEUE__BATCH=$3 \
      "$LEADEX" --data-dir "$DATA_DIR" work >>"$OUT/worker.log" 2>&1 &
    WORKER_PIDS+=("$!")
    PIDS+=("$!")
  done
}
stop_workers() {
  for p in "${WORKER_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${WORKER_PIDS[@]}"; do timeout 20 tail --pid="$p" -f /dev/null || kill -KILL "$p" 2>/dev/null || true; done
}

json_get() { jq -r "$1" "$2"; }

# Waits (up to 40 min) until no leadex server/worker and no loadgen this
# script did not start is busy, so two benchmarks never share the machine. A
# leadex-loadgen process always counts as busy; a leftover server counts as
# busy unless it used under 0.3 s of CPU in the last 30 s (idle).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
wait_idle() {
  local i p busy
  for i in $(seq 80); do
    busy=
    declare -A before=()
    for p in $(ps -eo pid=,comm= | awk '$2 == "leadex" || $2 == "leadex-loadgen" {print $1}'); do
      [[ " ${PIDS[*]} " == *" $p "* ]] && continue
      if [[ $(ps -o comm= -p "$p") == leadex-loadgen ]]; then busy+=" $p"; else before[$p]=$(cpu_ticks "$p"); fi
    done
    if [[ -z $busy && ${#before[@]} -gt 0 ]]; then
      sleep 30
      for p in "${!before[@]}"; do
        [[ -d /proc/$p ]] || continue
        if (( $(cpu_ticks "$p") - ${before[$p]} > 30 )); then busy+=" $p"; fi
      done
    fi
    if [[ -z $busy ]]; then return 0; fi
    log "waiting for other benchmark processes to finish:$busy"
    sleep 30
  done
  log "still busy after 40 min; measuring anyway"
}

# ---------------------------------------------------------------- throughput
# throughput_once ENGINE PROCS CONC BATCH STATS(analyzed|cold) TAG -> $OUT/TAG.json, RATE
throughput_once() {
  local engine=$1 procs=$2 conc=$3 batch=$4 stats=$5 tag=$6 n=$PG_N analyze=--analyze
  [[ $engine == sqlite ]] && n=$LITE_N
  [[ $stats == cold ]] && analyze=
  wait_idle
  log "$tag: loading $n jobs (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  fresh_db "$engine"
  timeout 300 "$QB" load --db "$DB_URL" --count "$n" --verticals 10 $analyze >"$OUT/$tag.load.json"
  local t0
  t0=$(date +%s%3N)
  start_workers "$procs" "$conc" "$batch"
  timeout 700 "$QB" wait --db "$DB_URL" --expect "$n" --t0-ms "$t0" --timeout-secs 600 >"$OUT/$tag.wait.json"
  stop_workers
  "$QB" report --db "$DB_URL" --label "$tag" >"$OUT/$tag.json"
  RATE=$(json_get .jobs_per_sec "$OUT/$tag.json")
  log "$tag: $(printf %.0f "$RATE") jobs/s (table), wall $(json_get .wall_secs "$OUT/$tag.wait.json") s"
  drop_db
}
# throughput_run ENGINE PROCS CONC BATCH STATS -> REPEAT runs, LAST_RATE = their median
throughput_run() {
  local tag="throughput-$1-$5-p$2-c$3-b$4" rates=() r reps=$REPEAT
  [[ $5 == cold ]] && reps=$COLD_REPEAT
  for r in $(seq "$reps"); do
    throughput_once "$@" "$tag-r$r"
    rates+=("$RATE")
  done
  LAST_RATE=$(printf '%s\n' "${rates[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  log "$tag: median of $reps: $(printf %.0f "$LAST_RATE") jobs/s"
}

BEST_RATE=0
BEST_CONC=${BEST_CONC:-256}
BEST_BATCH=${BEST_BATCH:-512}
if ! skip throughput; then
  first=1
  for s in $QUEUE_SETTINGS; do
    conc=${s%%:*}
    batch=${s##*:}
    throughput_run pg 1 "$conc" "$batch" analyzed
    if [[ $first == 1 ]] || awk "BEGIN{exit !($LAST_RATE > $BEST_RATE)}"; then
      BEST_RATE=$LAST_RATE BEST_CONC=$conc BEST_BATCH=$batch first=0
    fi
  done
  log "best PostgreSQL single-worker setting: concurrency $BEST_CONC, batch $BEST_BATCH"
  throughput_run pg 2 "$BEST_CONC" "$BEST_BATCH" analyzed
  throughput_run sqlite 1 "$BEST_CONC" "$BEST_BATCH" analyzed
  throughput_run sqlite 2 "$BEST_CONC" "$BEST_BATCH" analyzed
  # As shipped: nothing runs ANALYZE after a bulk enqueue (SQLite never
  # does on its own; PostgreSQL's autovacuum gets to it after a while).
  if ! skip cold; then
    for engine in pg sqlite; do
      for procs in 1 2; do throughput_run "$engine" "$procs" "$BEST_CONC" "$BEST_BATCH" cold; done
    done
  fi
fi

# ------------------------------------------------------- scheduling accuracy
if ! skip sched; then
  for engine in pg sqlite; do
    for stats in cold analyzed; do
      tag="sched-$engine-$stats"
      analyze=
      [[ $stats == analyzed ]] && analyze=--analyze
      wait_idle
      log "$tag: $SCHED_N jobs over 60 s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
      fresh_db "$engine"
      start_workers 1 "$BEST_CONC" "$BEST_BATCH"
      sleep 2
      timeout 120 "$QB" load --db "$DB_URL" --count "$SCHED_N" --verticals 10 --delay-ms 2000 --spread-secs 60 \
        $analyze >"$OUT/$tag.load.json"
      timeout 200 "$QB" wait --db "$DB_URL" --expect "$SCHED_N" --timeout-secs 180 >"$OUT/$tag.wait.json"
      stop_workers
      "$QB" report --db "$DB_URL" --label "$tag" >"$OUT/$tag.json"
      log "$tag: start-run_at $(jq -c '.start_minus_run_at' "$OUT/$tag.json")"
      drop_db
    done
  done
fi

# ------------------------------------------------ ingest -> in_auction latency
if ! skip ingest; then
  for engine in sqlite pg; do
    tag="ingest-$engine"
    wait_idle
    log "$tag: $INGEST_RATE leads/s for $INGEST_SECS s"
    fresh_db "$engine"
    admin=$(LEADEX__DATABASE__URL=$(db_env) "$LEADEX" --data-dir "$DATA_DIR" admin create-account --role admin --name A --json)
    seller=$(LEADEX__DATABASE__URL=$(db_env) "$LEADEX" --data-dir "$DATA_DIR" admin create-account --role seller --name S --json)
    # Auctions last 600 s so every lead is still in_auction when measured.
    LEADEX__DATABASE__URL=$(db_env) LEADEX__QUEUE__CONCURRENCY=$BEST_CONC LEADEX__QUEUE__BATCH=$BEST_BATCH \
      LEADEX__LIMITS__DEFAULT_AUCTION_SECS=600 \
      "$LEADEX" --data-dir "$DATA_DIR" --bind "127.0.0.1:$PORT" run >>"$OUT/server.log" 2>&1 &
    srv=$!
    PIDS+=("$srv")
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
    timeout $((INGEST_SECS + 120)) "$QB" submit --base-url "http://127.0.0.1:$PORT" \
      --key "$(jq -r .api_key <<<"$seller")" --admin-key "$(jq -r .api_key <<<"$admin")" \
      --seller-id "$(jq -r .account_id <<<"$seller")" --rate "$INGEST_RATE" --duration-secs "$INGEST_SECS" \
      >"$OUT/$tag.submit.json"
    # Measured once the pipeline has caught up (nothing left `received`), at most 120 s later.
    "$QB" leads --db "$DB_URL" --settle-secs 120 >"$OUT/$tag.json"
    kill -TERM "$srv"
    timeout 30 tail --pid="$srv" -f /dev/null || kill -KILL "$srv"
    log "$tag: accepted $(jq .accepted "$OUT/$tag.submit.json"), settled after $(jq .settle_secs "$OUT/$tag.json") s, opened-created $(jq -c .in_auction_opened_minus_created "$OUT/$tag.json")"
    drop_db
  done
fi

# ------------------------------------------------------------------- BullMQ
if ! skip bullmq; then
  (cd loadgen/bullmq && [[ -d node_modules/bullmq ]] || npm install --no-audit --no-fund >/dev/null)
  wait_idle
  log "bullmq: throughput $PG_N jobs, concurrency $BEST_CONC"
  (cd loadgen/bullmq && timeout 700 node bench.mjs throughput --count "$PG_N" --concurrency "$BEST_CONC" \
    >"$OUT/bullmq-throughput.json")
  (cd loadgen/bullmq && timeout 700 node bench.mjs throughput --count "$PG_N" --concurrency "$BEST_CONC" \
    --remove-on-complete >"$OUT/bullmq-throughput-removeoncomplete.json")
  log "bullmq: delayed $SCHED_N jobs over 60 s"
  (cd loadgen/bullmq && timeout 200 node bench.mjs delayed --count "$SCHED_N" --concurrency "$BEST_CONC" \
    --spread-secs 60 --offset-ms 2000 >"$OUT/bullmq-delayed.json")
fi

log "results in $OUT"
for f in "$OUT"/*.json; do
  echo "== $(basename "$f")"
  cat "$f"
done
