#!/usr/bin/env bash
# Issue 3 — job-queue benchmarks, end to end (see BENCHMARKS.md, "Issue 3 — job queue").
#
#   1. no-op throughput: N jobs pre-loaded, drained by 1 and 2 `leadex work`
#      processes, PostgreSQL and SQLite, for each QUEUE_SETTINGS entry;
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
#   QUEUE_SETTINGS="64:256 256:512"   concurrency:batch pairs tried
#   VERTICAL_LIMIT=32            queue.default_vertical_limit (config default 32)
#   SKIP="bullmq ingest"         phases to skip (throughput sched ingest bullmq)
#   PGURL_BASE=postgres://postgres@127.0.0.1:5432
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PG_N=${PG_N:-100000}
LITE_N=${LITE_N:-50000}
QUEUE_SETTINGS=${QUEUE_SETTINGS:-"64:256 256:512"}
VERTICAL_LIMIT=${VERTICAL_LIMIT:-32}
SKIP=${SKIP:-}
PGURL_BASE=${PGURL_BASE:-postgres://postgres@127.0.0.1:5432}
SCHED_N=${SCHED_N:-10000}
INGEST_RATE=${INGEST_RATE:-500}
INGEST_SECS=${INGEST_SECS:-60}
PORT=${PORT:-18733}
STAMP=$(date -u +%Y%m%dT%H%M%S)
OUT=${OUT:-/tmp/bench-issue3-$STAMP}
LEADEX=$ROOT/target/release/leadex
QB=$ROOT/target/release/leadex-queue-bench
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
}
trap cleanup EXIT INT TERM

skip() { [[ " $SKIP " == *" $1 "* ]]; }
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

if [[ ! -x $LEADEX || ! -x $QB ]]; then
  cargo build --release -p leadex -p leadex-loadgen
fi

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

# Waits (up to 40 min) until no leadex server/worker/loadgen this script did
# not start is running, so two benchmarks never share the machine.
wait_idle() {
  local i
  for i in $(seq 80); do
    local foreign
    foreign=$(ps -eo pid=,comm= | awk '$2 == "leadex" || $2 == "leadex-loadgen" {print $1}' | while read -r p; do
      [[ " ${PIDS[*]} " == *" $p "* ]] || echo "$p"
    done)
    [[ -z $foreign ]] && return 0
    log "waiting for other benchmark processes to finish: $(echo "$foreign" | tr '\n' ' ')"
    sleep 30
  done
  log "still busy after 40 min; measuring anyway"
}

# ---------------------------------------------------------------- throughput
BEST_RATE=0
BEST_CONC=64
if ! skip throughput; then
  for engine in pg sqlite; do
    n=$PG_N
    [[ $engine == sqlite ]] && n=$LITE_N
    for procs in 1 2; do
      for s in $QUEUE_SETTINGS; do
        conc=${s%%:*}
        batch=${s##*:}
        tag="throughput-$engine-p$procs-c$conc-b$batch"
        wait_idle
        log "$tag: loading $n jobs"
        fresh_db "$engine"
        timeout 300 "$QB" load --db "$DB_URL" --count "$n" --verticals 10 >"$OUT/$tag.load.json"
        t0=$(date +%s%3N)
        start_workers "$procs" "$conc" "$batch"
        timeout 700 "$QB" wait --db "$DB_URL" --expect "$n" --t0-ms "$t0" --timeout-secs 600 >"$OUT/$tag.wait.json"
        stop_workers
        "$QB" report --db "$DB_URL" --label "$tag" >"$OUT/$tag.json"
        rate=$(json_get .jobs_per_sec "$OUT/$tag.json")
        log "$tag: $(printf %.0f "$rate") jobs/s (table), wall $(json_get .wall_secs "$OUT/$tag.wait.json") s"
        if [[ $engine == pg && $procs == 1 ]] && awk "BEGIN{exit !($rate > $BEST_RATE)}"; then
          BEST_RATE=$rate
          BEST_CONC=$conc
          BEST_BATCH=$batch
        fi
        drop_db
      done
    done
  done
fi
BEST_BATCH=${BEST_BATCH:-256}
log "best PostgreSQL single-worker setting: concurrency $BEST_CONC, batch $BEST_BATCH"

# ------------------------------------------------------- scheduling accuracy
if ! skip sched; then
  for engine in pg sqlite; do
    tag="sched-$engine"
    wait_idle
    log "$tag: $SCHED_N jobs over 60 s"
    fresh_db "$engine"
    start_workers 1 "$BEST_CONC" "$BEST_BATCH"
    sleep 2
    timeout 120 "$QB" load --db "$DB_URL" --count "$SCHED_N" --verticals 10 --delay-ms 2000 --spread-secs 60 \
      >"$OUT/$tag.load.json"
    timeout 200 "$QB" wait --db "$DB_URL" --expect "$SCHED_N" --timeout-secs 180 >"$OUT/$tag.wait.json"
    stop_workers
    "$QB" report --db "$DB_URL" --label "$tag" >"$OUT/$tag.json"
    log "$tag: start-run_at $(jq -c '.start_minus_run_at' "$OUT/$tag.json")"
    drop_db
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
    sleep 5
    kill -TERM "$srv"
    timeout 30 tail --pid="$srv" -f /dev/null || kill -KILL "$srv"
    "$QB" leads --db "$DB_URL" >"$OUT/$tag.json"
    log "$tag: accepted $(jq .accepted "$OUT/$tag.submit.json"), opened-created $(jq -c .in_auction_opened_minus_created "$OUT/$tag.json")"
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
