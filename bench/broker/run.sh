#!/usr/bin/env bash
# bench/broker: Samsa against Redis Streams in the same run, driven by librdkafka (C).
#
#   bash bench/broker/run.sh [--no-build] [--no-profile | --profile] [--keep] [--quick]
#                            [--set key=value ...] [--node-options "..."] [--out FILE]
#
# Builds the broker (npm run build) and bench/broker/rdkafka-perf.c, starts one Samsa broker and
# one redis-server on free loopback ports with their data in a new temp dir, runs the workloads
# (README.md in this folder says which and why), samples the broker's RSS, and prints a markdown
# report that is also written to bench/broker/RESULTS.md. When a goal is missed (or --profile),
# the missed workloads are repeated against a broker started under `node --cpu-prof`, and the
# profiles are summarized in the report. Only processes started here are stopped, by PID; the
# temp dir is removed at the end (--keep leaves it, with the .cpuprofile files, and says where).
# --set passes a broker config to `samsa start`, --node-options extra options to the broker's
# node (e.g. "--import ./bench/broker/what-if-sync-fs.mjs"): for trying a change before making it;
# the report names them. The report goes to bench/broker/RESULTS.md only from a full run of the
# default broker; --quick and what-if runs print it (and write it where --out says). Not run by
# the tests.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"

usage() {
  echo "usage: bash bench/broker/run.sh [--no-build] [--no-profile | --profile] [--keep] [--quick] [--set key=value ...] [--node-options \"...\"] [--out FILE]" >&2
  exit 2
}
BUILD=1 PROFILE=auto KEEP=0 QUICK=0 OUT_FILE=""
BROKER_SETS=() BROKER_NODE_OPTIONS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0 ;;
    --profile) PROFILE=always ;;
    --no-profile) PROFILE=never ;;
    --keep) KEEP=1 ;;
    --quick) QUICK=1 ;;
    --set) [ $# -ge 2 ] || usage; BROKER_SETS+=(--set "$2"); shift ;;
    --node-options) [ $# -ge 2 ] || usage; read -r -a opts <<<"$2"; BROKER_NODE_OPTIONS+=("${opts[@]}"); shift ;;
    --out) [ $# -ge 2 ] || usage; OUT_FILE="$2"; shift ;;
    *) usage ;;
  esac
  shift
done
if [ -z "$OUT_FILE" ] && [ "$QUICK" = 0 ] && [ ${#BROKER_SETS[@]} -eq 0 ] && [ ${#BROKER_NODE_OPTIONS[@]} -eq 0 ]; then
  OUT_FILE="$HERE/RESULTS.md"
fi

# Workload sizes: each produce run takes 1-4 s here; three runs of each, the best one reported.
N_SMALL=3000000        # 100 B records per produce run (300 MB)
N_LARGE=500000         # 1 KiB records per produce run (512 MB)
REPEATS=3
LATENCY_RATE=5000      # records/s
LATENCY_SECONDS=10     # measured, after 1 s of warm-up
REDIS_N_SMALL=2000000
REDIS_N_LARGE=500000
if [ "$QUICK" = 1 ]; then
  N_SMALL=500000 N_LARGE=100000 REPEATS=1 LATENCY_SECONDS=3 REDIS_N_SMALL=300000 REDIS_N_LARGE=100000
fi

# Goals (issue 5). Reported as met / not met; the script never fails on them.
GOAL_REDIS_RATIO=2
GOAL_CONSUME=1500000
GOAL_P99_MS=3
GOAL_RSS_MB=300

# ---------------------------------------------------------------------------------------------
# Processes and files of this run; everything here is undone on exit.

TMP="$(mktemp -d "${TMPDIR:-/tmp}/samsa-bench-broker.XXXXXX")"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  if [ "$KEEP" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[bench] $*" >&2; }
# key=value from one rdkafka-perf output line.
kv() { sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$1"; }
fmt_int() { awk -v x="$1" 'BEGIN { s = sprintf("%.0f", x); out = ""; while (length(s) > 3) { out = " " substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) } print s out }'; }
calc() { awk "BEGIN { printf \"%s\", ($1) }"; }
calc0() { awk "BEGIN { printf \"%.0f\", ($1) }"; }
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
CLK_TCK="$(getconf CLK_TCK)"
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# Busy CPU ticks of the whole machine (user nice system irq softirq steal).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
stop_pid() {
  local pid="$1"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  log "pid $pid did not stop within 30 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
log "dependencies"
bash "$HERE/install-deps.sh" >&2
if [ "$BUILD" = 1 ]; then
  log "npm run build"
  npm run --silent build >&2
fi
PERF="$TMP/rdkafka-perf"
gcc -O2 -Wall -o "$PERF" "$HERE/rdkafka-perf.c" $(pkg-config --cflags --libs rdkafka) -lpthread -lm

BROKER_PID="" BROKER_PORT=""
start_broker() { # data-dir log-file [node options...]
  local data="$1" logfile="$2"
  shift 2
  BROKER_PORT="$(free_port)"
  node ${BROKER_NODE_OPTIONS[@]+"${BROKER_NODE_OPTIONS[@]}"} "$@" apps/cli/bin/samsa.js start --host 127.0.0.1 \
    --port "$BROKER_PORT" --data-dir "$data" --log-level info ${BROKER_SETS[@]+"${BROKER_SETS[@]}"} >"$logfile" 2>&1 &
  BROKER_PID=$!
  PIDS+=("$BROKER_PID")
  for _ in $(seq 300); do
    if grep -q '"samsa broker started"' "$logfile"; then return 0; fi
    kill -0 "$BROKER_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$logfile" >&2
  log "the broker did not start"
  exit 1
}

# RSS sampling: a background loop appends VmRSS (kB) of $1 every 100 ms to $2 until stopped.
SAMPLER_PID=""
start_sampler() {
  local pid="$1" out="$2"
  (while [ -r "/proc/$pid/status" ]; do
    awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true
    sleep 0.1
  done) >>"$out" &
  SAMPLER_PID=$!
  PIDS+=("$SAMPLER_PID")
}
stop_sampler() { kill -TERM "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; }
max_kb() { sort -n "$1" | tail -1; }

# Runs rdkafka-perf against the broker, sampling its RSS and CPU; sets OUT, RSS_MB, BROKER_CPU
# and OTHERS_CPU (what other processes on the machine used meanwhile: a disturbed run shows).
MAX_OTHERS=0 TRACK_OTHERS=0 # only the reported workloads count towards the "disturbed" flag
run_perf() {
  local samples="$TMP/rss.$RANDOM"
  : >"$samples"
  local t0 c0 m0 t1 c1 m1
  start_sampler "$BROKER_PID" "$samples"
  t0="$(date +%s.%N)" c0="$(cpu_ticks "$BROKER_PID")" m0="$(machine_ticks)"
  OUT="$("$PERF" "$@" -b "127.0.0.1:$BROKER_PORT" 2>>"$TMP/rdkafka-perf.stderr")" || {
    log "rdkafka-perf $* failed: $OUT"
    tail -5 "$TMP/rdkafka-perf.stderr" >&2
  }
  t1="$(date +%s.%N)" c1="$(cpu_ticks "$BROKER_PID")" m1="$(machine_ticks)"
  stop_sampler
  cat "$samples" >>"$TMP/rss.all"
  RSS_MB="$(calc0 "$(max_kb "$samples") / 1024")"
  BROKER_CPU="$(calc0 "100 * ($c1 - $c0) / $CLK_TCK / ($t1 - $t0)")"
  local client_cpu client_ticks
  client_cpu="$(kv "$OUT" process_cpu_s)"
  client_ticks="$(calc "${client_cpu:-0} * $CLK_TCK")"
  OTHERS_CPU="$(awk "BEGIN { o = 100 * ($m1 - $m0 - ($c1 - $c0) - $client_ticks) / $CLK_TCK / ($t1 - $t0); printf \"%.0f\", (o > 0 ? o : 0) }")"
  if [ "$TRACK_OTHERS" = 1 ]; then MAX_OTHERS="$(calc0 "($OTHERS_CPU > $MAX_OTHERS) ? $OTHERS_CPU : $MAX_OTHERS")"; fi
  log "$OUT broker_cpu=${BROKER_CPU}% others_cpu=${OTHERS_CPU}% rss_peak_mb=$RSS_MB"
}

# ---------------------------------------------------------------------------------------------
log "Samsa"
mkdir -p "$TMP/samsa"
: >"$TMP/rss.all"
start_broker "$TMP/samsa/data" "$TMP/samsa/broker.log"
log "broker pid $BROKER_PID on 127.0.0.1:$BROKER_PORT"

# Warm-up (not reported): JIT, the first segment files, the heap's first growth.
run_perf produce -t warmup -n "$N_SMALL" -s 100 -a 1 -z none
run_perf produce -t warmup-lz4 -n "$((N_SMALL / 3))" -s 100 -a 1 -z lz4
TRACK_OTHERS=1

declare -A P_BEST P_ALL P_MB P_CPU P_CCPU P_RSS P_OTH
PRODUCE_ROWS=()
for size in 100 1024; do
  for acks in 1 all; do
    for codec in none lz4; do
      key="$size/$acks/$codec"
      PRODUCE_ROWS+=("$key")
      n=$([ "$size" = 100 ] && echo "$N_SMALL" || echo "$N_LARGE")
      P_BEST[$key]=0 P_ALL[$key]="" P_RSS[$key]=0
      for r in $(seq "$REPEATS"); do
        run_perf produce -t "p$size-$acks-$codec-r$r" -n "$n" -s "$size" -a "$acks" -z "$codec"
        rate="$(kv "$OUT" msgs_per_s)"
        rate="${rate:-0}"
        P_ALL[$key]+="${P_ALL[$key]:+, }$(fmt_int "$rate")"
        P_RSS[$key]="$(calc "($RSS_MB > ${P_RSS[$key]}) ? $RSS_MB : ${P_RSS[$key]}")"
        if awk "BEGIN { exit !($rate > ${P_BEST[$key]}) }"; then
          P_BEST[$key]="$rate" P_MB[$key]="$(kv "$OUT" mb_per_s)" P_CPU[$key]="$BROKER_CPU" P_OTH[$key]="$OTHERS_CPU"
          P_CCPU[$key]="$(calc0 "100 * $(kv "$OUT" client_cpu_s) / $(kv "$OUT" secs)")"
        fi
      done
    done
  done
done

declare -A C_RATE C_MB C_CPU C_CCPU C_RSS C_OTH
CONSUME_ROWS=("100/none" "100/lz4" "1024/none")
for key in "${CONSUME_ROWS[@]}"; do
  size="${key%/*}" codec="${key#*/}"
  n=$([ "$size" = 100 ] && echo "$N_SMALL" || echo "$N_LARGE")
  run_perf consume -t "p$size-1-$codec-r1" -n "$n"
  C_RATE[$key]="$(kv "$OUT" msgs_per_s)" C_MB[$key]="$(kv "$OUT" mb_per_s)"
  C_CPU[$key]="$BROKER_CPU" C_RSS[$key]="$RSS_MB" C_OTH[$key]="$OTHERS_CPU"
  C_CCPU[$key]="$(calc0 "100 * $(kv "$OUT" client_cpu_s) / $(kv "$OUT" secs)")"
done

run_perf latency -t latency -s 100 -a all -r "$LATENCY_RATE" -d "$LATENCY_SECONDS" -w 1
LAT="$OUT" LAT_CPU="$BROKER_CPU" LAT_RSS="$RSS_MB" LAT_OTH="$OTHERS_CPU"

BROKER_HWM_MB="$(calc0 "$(awk '/^VmHWM:/ { print $2 }' "/proc/$BROKER_PID/status") / 1024")"
BROKER_RSS_MB="$(calc0 "$(max_kb "$TMP/rss.all") / 1024")"
stop_pid "$BROKER_PID"
TRACK_OTHERS=0
rm -rf "$TMP/samsa/data" # ~7.5 GB of segments; Redis's files come next

# ---------------------------------------------------------------------------------------------
log "Redis Streams"
mkdir -p "$TMP/redis"
REDIS_PORT="$(free_port)"
# --save "": the append-only file is the persistence under test; RDB snapshots would add forks
# that Samsa's side has no counterpart for. AOF rewrites (Redis's defaults) stay on.
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$TMP/redis" --appendonly yes \
  --appendfsync everysec --save "" --daemonize no --logfile "$TMP/redis/redis.log" &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
for _ in $(seq 100); do
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break
  sleep 0.1
done

# redis-benchmark --csv prints "test","rps",...; sets R_RATE, R_CPU.
redis_bench() { # clients pipeline requests command...
  local clients="$1" pipeline="$2" n="$3"
  shift 3
  local t0 c0 t1 c1 line
  t0="$(date +%s.%N)" c0="$(cpu_ticks "$REDIS_PID")"
  line="$(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$clients" -P "$pipeline" -n "$n" --csv "$@" | tail -1)"
  t1="$(date +%s.%N)" c1="$(cpu_ticks "$REDIS_PID")"
  R_RATE="$(cut -d, -f2 <<<"$line" | tr -d '"')"
  R_CPU="$(calc0 "100 * ($c1 - $c0) / $CLK_TCK / ($t1 - $t0)")"
  log "redis $1 ... c=$clients P=$pipeline: $R_RATE/s, server cpu ${R_CPU}%"
}

V100="$(head -c 100 /dev/zero | tr '\0' x)"
V1K="$(head -c 1024 /dev/zero | tr '\0' x)"
declare -A R_BEST R_DESC R_ROWS
REDIS_CONFIGS=("1 1000" "50 16")
for size in 100 1024; do
  R_BEST[$size]=0 R_ROWS[$size]=""
  for cfg in "${REDIS_CONFIGS[@]}"; do
    read -r clients pipeline <<<"$cfg"
    n=$([ "$size" = 100 ] && echo "$REDIS_N_SMALL" || echo "$REDIS_N_LARGE")
    value=$([ "$size" = 100 ] && echo "$V100" || echo "$V1K")
    redis_bench "$clients" "$pipeline" "$n" XADD "s$size-$clients" '*' f "$value"
    R_ROWS[$size]+="| XADD, ${size} B field | $clients | $pipeline | $(fmt_int "$R_RATE") | ${R_CPU}% |"$'\n'
    if awk "BEGIN { exit !($R_RATE > ${R_BEST[$size]}) }"; then
      R_BEST[$size]="$R_RATE" R_DESC[$size]="$clients conn., pipeline $pipeline"
    fi
  done
done
# Reading: XRANGE of 1000 entries at a time from the 100 B stream, as a consumer's fetch would.
redis_bench 1 4 "$(( (QUICK ? 300 : 3000) ))" XRANGE "s100-1" - + COUNT 1000
R_READ="$(calc0 "$R_RATE * 1000")" R_READ_CPU="$R_CPU"
REDIS_HWM_MB="$(calc0 "$(awk '/^VmHWM:/ { print $2 }' "/proc/$REDIS_PID/status") / 1024")"
stop_pid "$REDIS_PID"

# ---------------------------------------------------------------------------------------------
# Goals.
P100="${P_BEST[100/1/none]}"
RATIO100="$(calc "$P100 / ${R_BEST[100]}")"
CONSUME100="${C_RATE[100/none]:-0}"
P99="$(kv "$LAT" p99_ms)"
P99="${P99:--1}"
verdict() { if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "**not met**"; fi; }
G_PRODUCE="$(verdict "$RATIO100 >= $GOAL_REDIS_RATIO")"
G_CONSUME="$(verdict "$CONSUME100 >= $GOAL_CONSUME")"
G_LATENCY="$(verdict "$P99 >= 0 && $P99 <= $GOAL_P99_MS")"
G_RSS="$(verdict "$BROKER_HWM_MB <= $GOAL_RSS_MB && $BROKER_RSS_MB <= $GOAL_RSS_MB")"

# ---------------------------------------------------------------------------------------------
# Profiles of the missed goals: a broker under --cpu-prof, one profile per workload.
PROFILE_MD=""
profile_workload() { # title perf-args...
  local title="$1"
  shift
  local dir="$TMP/profile/$PROFILE_N"
  mkdir -p "$dir"
  start_broker "$TMP/profile/data" "$dir/broker.log" --cpu-prof --cpu-prof-dir="$dir" --trace-gc
  if [ "$1" = consume ]; then
    # Fill the topic first, then profile only the reads in a second broker process.
    run_perf produce -t profiled -n "$N_SMALL" -s 100 -a 1 -z none
    stop_pid "$BROKER_PID"
    rm -f "$dir"/*.cpuprofile
    start_broker "$TMP/profile/data" "$dir/broker.log" --cpu-prof --cpu-prof-dir="$dir" --trace-gc
  fi
  run_perf "$@"
  stop_pid "$BROKER_PID"
  local prof
  prof="$(ls "$dir"/*.cpuprofile | head -1)"
  PROFILE_MD+=$'\n'"### Profile: $title"$'\n\n'"Workload under \`node --cpu-prof\` (numbers slower than above): \`$OUT\`"$'\n\n'
  PROFILE_MD+="$(node --import tsx "$HERE/profile-top.ts" "$prof" 15 --gc-log "$dir/broker.log")"$'\n'
  PROFILE_N=$((PROFILE_N + 1))
}
PROFILE_N=1
if [ "$PROFILE" != never ]; then
  any_missed=0
  [ "$PROFILE" = always ] && any_missed=1
  if [ "$G_PRODUCE" != met ] || [ "$any_missed" = 1 ]; then
    profile_workload "produce 100 B, acks=1, no compression" produce -t profiled -n "$N_SMALL" -s 100 -a 1 -z none
  fi
  if [ "$G_CONSUME" != met ] || [ "$any_missed" = 1 ]; then
    profile_workload "consume 100 B records" consume -t profiled -n "$N_SMALL"
  fi
  if [ "$PROFILE" = always ]; then # no goal of its own, but the one produce row where the broker is the limit
    profile_workload "produce 1 KiB, acks=1, no compression" produce -t profiled-1k -n "$N_LARGE" -s 1024 -a 1 -z none
  fi
  if [ "$G_LATENCY" != met ] || [ "$any_missed" = 1 ]; then
    profile_workload "end-to-end latency at $LATENCY_RATE msg/s" latency -t latency -s 100 -a all \
      -r "$LATENCY_RATE" -d "$LATENCY_SECONDS" -w 1
  fi
fi

# ---------------------------------------------------------------------------------------------
# Report.
GIT_REV="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain -- packages apps 2>/dev/null)" ]; then GIT_REV+=" + uncommitted changes in packages/ or apps/"; fi
if [ "$BUILD" = 0 ]; then GIT_REV+=" (--no-build: the existing build, which may be older)"; fi
REPORT="$TMP/RESULTS.md"
{
  echo "# bench/broker results"
  echo
  echo "Generated by \`bash bench/broker/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); see [README.md](README.md) for the method."
  echo
  echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')),"
  echo "$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r), Node $(node --version),"
  echo "librdkafka $(pkg-config --modversion rdkafka), Redis $(redis-server --version | awk '{ print $3 }' | tr -d 'v='),"
  echo "Samsa $GIT_REV. Load generator, broker and Redis share the same CPUs; everything on 127.0.0.1."
  if [ ${#BROKER_SETS[@]} -gt 0 ] || [ ${#BROKER_NODE_OPTIONS[@]} -gt 0 ]; then
    echo
    echo "> **Not the default broker:** started with \`${BROKER_NODE_OPTIONS[*]:-} … samsa start ${BROKER_SETS[*]:-}\`."
  fi
  if [ "$MAX_OTHERS" -gt 20 ]; then
    echo
    echo "> **Disturbed run:** other processes used up to ${MAX_OTHERS}% of a core during a workload"
    echo "> (\"others\" columns); those rows understate Samsa. Rerun on a quiet machine to compare."
  fi
  echo
  echo "## Goals"
  echo
  echo "| goal | target | reached | |"
  echo "|---|---|---|---|"
  echo "| produce 100 B, acks=1 vs Redis XADD | ≥ ${GOAL_REDIS_RATIO}× | $(calc "sprintf(\"%.2f\", $RATIO100)")× ($(fmt_int "$P100") vs $(fmt_int "${R_BEST[100]}") records/s) | $G_PRODUCE |"
  echo "| consume 100 B | ≥ $(fmt_int "$GOAL_CONSUME") records/s | $(fmt_int "$CONSUME100") records/s | $G_CONSUME |"
  echo "| end-to-end p99 at $LATENCY_RATE msg/s | ≤ $GOAL_P99_MS ms | $P99 ms | $G_LATENCY |"
  echo "| broker RSS during the run | ≤ $GOAL_RSS_MB MB | peak $BROKER_RSS_MB MiB sampled, VmHWM $BROKER_HWM_MB MiB | $G_RSS |"
  echo
  echo "## Samsa produce (one librdkafka producer, one partition)"
  echo
  echo "Best of $REPEATS runs; \"runs\" lists each. CPU is % of one core over the best run (broker: all its"
  echo "threads; client: rdkafka-perf's threads while timed; others: every other process on the machine)."
  echo
  echo "| record | acks | compression | records/s | MB/s | runs (records/s) | broker CPU | client CPU | others | broker RSS peak | vs Redis XADD |"
  echo "|--:|---|---|--:|--:|---|--:|--:|--:|--:|--:|"
  for key in "${PRODUCE_ROWS[@]}"; do
    IFS=/ read -r size acks codec <<<"$key"
    label=$([ "$size" = 100 ] && echo "100 B" || echo "1 KiB")
    echo "| $label | $acks | $codec | $(fmt_int "${P_BEST[$key]}") | ${P_MB[$key]:-0} | ${P_ALL[$key]} | ${P_CPU[$key]:-?}% | ${P_CCPU[$key]:-?}% | ${P_OTH[$key]:-?}% | ${P_RSS[$key]} MiB | $(calc "sprintf(\"%.2f\", ${P_BEST[$key]} / ${R_BEST[$size]})")× |"
  done
  echo
  echo "## Samsa consume (from offset 0 of a topic written above)"
  echo
  echo "| record | compression | records/s | MB/s | broker CPU | client CPU | others | broker RSS peak | vs Redis XRANGE |"
  echo "|--:|---|--:|--:|--:|--:|--:|--:|--:|"
  for key in "${CONSUME_ROWS[@]}"; do
    IFS=/ read -r size codec <<<"$key"
    label=$([ "$size" = 100 ] && echo "100 B" || echo "1 KiB")
    ratio=$([ "$size" = 100 ] && calc "sprintf(\"%.2f×\", ${C_RATE[$key]:-0} / $R_READ)" || echo "–")
    echo "| $label | $codec | $(fmt_int "${C_RATE[$key]:-0}") | ${C_MB[$key]:-0} | ${C_CPU[$key]}% | ${C_CCPU[$key]}% | ${C_OTH[$key]}% | ${C_RSS[$key]} MiB | $ratio |"
  done
  echo
  echo "## Samsa end-to-end latency (100 B records at $LATENCY_RATE/s, acks=all, producer linger.ms=0)"
  echo
  echo "| samples | p50 | p99 | p99.9 | max | mean | sends > 1 ms late | broker CPU | others | broker RSS peak |"
  echo "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
  echo "| $(kv "$LAT" samples) | $(kv "$LAT" p50_ms) ms | $(kv "$LAT" p99_ms) ms | $(kv "$LAT" p999_ms) ms | $(kv "$LAT" max_ms) ms | $(kv "$LAT" mean_ms) ms | $(kv "$LAT" late_sends) | ${LAT_CPU}% | ${LAT_OTH}% | ${LAT_RSS} MiB |"
  echo
  echo "## Redis Streams (the peer, same run)"
  echo
  echo "\`redis-server --appendonly yes --appendfsync everysec --save \"\"\`, driven by \`redis-benchmark\`."
  echo "The ratios above divide by the best XADD configuration of each size"
  echo "(100 B: ${R_DESC[100]}; 1 KiB: ${R_DESC[1024]}). Redis RSS VmHWM: $REDIS_HWM_MB MiB."
  echo
  echo "| command | connections | pipeline | records/s | server CPU |"
  echo "|---|--:|--:|--:|--:|"
  printf "%s" "${R_ROWS[100]}" "${R_ROWS[1024]}"
  echo "| XRANGE COUNT 1000, 100 B entries | 1 | 4 | $(fmt_int "$R_READ") | ${R_READ_CPU}% |"
  if [ -n "$PROFILE_MD" ]; then
    echo
    echo "## Where the broker's time goes"
    echo
    echo "Self time = samples in the function itself; inclusive = with its callees. Native frames"
    echo "(\`writeBuffer\`, \`read\`) are libuv/fs bindings called from JavaScript; \`(program)\` is V8 and"
    echo "libuv outside JavaScript. On a 2-CPU machine a sample also lands in a frame while the thread"
    echo "waits for a CPU, so system calls that wake other threads look more expensive than they are."
    printf "%s\n" "$PROFILE_MD"
  fi
} >"$REPORT"

cat "$REPORT"
if [ -n "$OUT_FILE" ]; then
  cp "$REPORT" "$OUT_FILE"
  log "written to $OUT_FILE"
fi
