#!/usr/bin/env bash
# The log cleaner seen from a producer: a real broker process (the release build, as
# bench/broker/run.sh runs it) and librdkafka clients. Not run by the tests.
#
#   bash bench/log/cleaner-broker.sh [--no-build] [--quick] [--rounds 3] [--mib 1024] [--keys 10000]
#        [--segment-mib 64] [--idle-s 5] [--rate 5000] [--set key=value ...] [--keep] [--out FILE]
#        [--node-options "..."] [--probe] [--aa-ms MS] [--fill-per-round] [--idle-s match]
#   --aa-ms MS: an A/A run, the noise floor: each "cleaning" window is a plain MS-ms window, no pass.
#   --fill-per-round: each round's topic is filled just before its round (uncounted, then --settle-fill-s),
#     not all up front, so that many rounds fit: the dirty log is seconds old (still in the page cache,
#     which this VM's DAMON pages out after ~60 s idle) and only a few rounds' segments are on disk.
#   --idle-s match: each idle window lasts as long as the pass of its round (the previous round's
#     pass when idle comes first), so that both kinds of window hold about as many samples and a rare
#     stall of the machine weighs the same in either.
#
# 1. One broker, started with log.cleaner.backoff.ms=1000 (the cleaner looks for work every second),
#    and one warm-up pass on a small compacted topic (the cleaner's worker thread started and warm).
# 2. `--rounds` compacted topics (cleanup.policy=compact, segment.bytes=--segment-mib), each filled
#    with --mib MiB of 1 KiB records over --keys keys by rdkafka-perf at full speed (acks=1), while
#    the cleaner leaves them alone: min.cleanable.dirty.ratio=1 (a log is cleaned when its dirty
#    ratio is above the minimum, which a ratio of at most 1 never is). Their files are fsynced.
# 3. A steady producer on an ordinary topic: `rdkafka-perf latency -A`, 100 B records at --rate/s,
#    acks=all, linger.ms=0, the latency of each record from the time it was scheduled to be sent to
#    its acknowledgement (delivery report), written out with its send time (CLOCK_MONOTONIC).
# 4. cleaner-broker.mjs runs the windows: per round an idle window (--idle-s) and a cleaning window,
#    the order alternating between rounds. Cleaning starts when the round's topic gets
#    min.cleanable.dirty.ratio=0.5 (AlterConfigs, at runtime) and the cleaner next wakes up; the
#    window is the pass, [start, end] from the broker's "log cleaned" line (its time and ms). One
#    second between windows belongs to neither. CPU is sampled every 100 ms.
# 5. The producer is stopped (SIGINT) and the report printed: per window records/s, p50/p99/p99.9/max
#    of the records *sent* in it, CPU of the broker (its main thread in brackets), of the client and
#    of the rest of the machine, % of one core; per round p99 cleaning / idle; the cleaner's MiB/s
#    (the closed segments' bytes over the pass's ms), `uptime` before and after.
#
# Everything lives in a new temp dir (~rounds x mib of disk), removed on exit unless --keep; only
# processes started here are stopped, by PID. Needs what bench/broker/install-deps.sh installs.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"

usage() {
  sed -n '5,6p' "$0" | sed 's/^# *//' >&2
  exit 2
}
BUILD=1 KEEP=0 FILL_PER_ROUND=0 SETTLE_FILL_S=3 ROUNDS=3 MIB=1024 KEYS=10000 SEGMENT_MIB=64 IDLE_S=5 RATE=5000 OUT_FILE="" PROBE=0 AA_ARGS=()
NODE_OPTS=()
BROKER_SETS=(--set log.cleaner.backoff.ms=1000)
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0 ;;
    --keep) KEEP=1 ;;
    --quick) ROUNDS=2 MIB=96 SEGMENT_MIB=16 IDLE_S=2 ;;
    --rounds) [ $# -ge 2 ] || usage; ROUNDS="$2"; shift ;;
    --mib) [ $# -ge 2 ] || usage; MIB="$2"; shift ;;
    --keys) [ $# -ge 2 ] || usage; KEYS="$2"; shift ;;
    --segment-mib) [ $# -ge 2 ] || usage; SEGMENT_MIB="$2"; shift ;;
    --idle-s) [ $# -ge 2 ] || usage; IDLE_S="$2"; shift ;;
    --rate) [ $# -ge 2 ] || usage; RATE="$2"; shift ;;
    --set) [ $# -ge 2 ] || usage; BROKER_SETS+=(--set "$2"); shift ;;
    --out) [ $# -ge 2 ] || usage; OUT_FILE="$2"; shift ;;
    --node-options) [ $# -ge 2 ] || usage; read -r -a more <<<"$2"; NODE_OPTS+=("${more[@]}"); shift ;;
    --probe) PROBE=1 ;;
    --aa-ms) [ $# -ge 2 ] || usage; AA_ARGS=(--aa-ms "$2"); shift ;;
    --fill-per-round) FILL_PER_ROUND=1 ;;
    --settle-fill-s) [ $# -ge 2 ] || usage; SETTLE_FILL_S="$2"; shift ;;
    *) usage ;;
  esac
  shift
done

TMP="$(mktemp -d "${TMPDIR:-/tmp}/samsa-bench-cleaner-broker.XXXXXX")"
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

log() { echo "[cleaner-broker] $*" >&2; }
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

if [ "$BUILD" = 1 ]; then
  log "npm run build"
  npm run --silent build >&2
fi
PERF="$TMP/rdkafka-perf"
bash "$ROOT/bench/broker/build-rdkafka-perf.sh" "$PERF"

UPTIME_BEFORE="$(uptime)"
DATA="$TMP/data"
PORT="$(free_port)"
BROKER="127.0.0.1:$PORT"
if [ "$PROBE" = 1 ]; then
  # stall-probe.mjs: GCs, event loop lag and CPU waits of the broker's threads, for stall-report.mjs.
  NODE_OPTS+=(--import "$HERE/stall-probe.mjs")
  export STALL_PROBE_OUT="$TMP/probe.jsonl"
fi
node ${NODE_OPTS[@]+"${NODE_OPTS[@]}"} apps/cli/bin/samsa.js start --host 127.0.0.1 --port "$PORT" --data-dir "$DATA" --log-level info \
  "${BROKER_SETS[@]}" >"$TMP/broker.log" 2>&1 &
BROKER_PID=$!
PIDS+=("$BROKER_PID")
for _ in $(seq 300); do
  grep -q '"samsa broker started"' "$TMP/broker.log" && break
  kill -0 "$BROKER_PID" 2>/dev/null || { cat "$TMP/broker.log" >&2; log "the broker did not start"; exit 1; }
  sleep 0.1
done
log "broker pid $BROKER_PID on $BROKER (${BROKER_SETS[*]})"

TOPICS=()
for r in $(seq "$ROUNDS"); do TOPICS+=("dirty-$r"); done
TOPIC_LIST="$(IFS=,; echo "${TOPICS[*]}")"
node "$HERE/cleaner-broker.mjs" create --broker "$BROKER" --topics "$TOPIC_LIST" \
  --segment-bytes "$((SEGMENT_MIB * 1024 * 1024))"
# A warm-up pass (4 MiB in 1 MiB segments) first, as a running broker's cleaner would have had:
# the cleaner's worker thread and its JIT are not part of the first round.
node "$HERE/cleaner-broker.mjs" create --broker "$BROKER" --topics warm --segment-bytes 1048576
"$PERF" produce -b "$BROKER" -t warm -n 4096 -s 1024 -k "$KEYS" -a 1 >/dev/null 2>>"$TMP/rdkafka-perf.stderr"
node "$HERE/cleaner-broker.mjs" clean --broker "$BROKER" --topics warm --segment-bytes 1048576 \
  --data-dir "$DATA" --broker-log "$TMP/broker.log"
RECORDS=$((MIB * 1024)) # 1 KiB values: --mib MiB of values (keys and batch headers add ~2%)
FILL_ARGS=(--fill-perf "$PERF" --fill-records "$RECORDS" --fill-keys "$KEYS" --fill-log "$TMP/rdkafka-perf.stderr")
if [ "$FILL_PER_ROUND" = 1 ]; then
  FILL_ARGS+=(--settle-fill-s "$SETTLE_FILL_S")
else
  # All up front; the .log files are fsynced, so the fill's dirty pages are written back now, not during the windows.
  node "$HERE/cleaner-broker.mjs" fill --broker "$BROKER" --topics "$TOPIC_LIST" --data-dir "$DATA" "${FILL_ARGS[@]}"
  FILL_ARGS=()
  grep '"log cleaned"' "$TMP/broker.log" | grep -q '"dirty-' && { log "a topic was cleaned before its window"; exit 1; }
fi

log "steady producer: 100 B at $RATE/s, acks=all, linger.ms=0, produce -> ack"
"$PERF" latency -A -b "$BROKER" -t steady -s 100 -r "$RATE" -a all -w 1 -d 1800 -o "$TMP/samples.txt" \
  >"$TMP/latency.out" 2>>"$TMP/rdkafka-perf.stderr" &
CLIENT_PID=$!
PIDS+=("$CLIENT_PID")
sleep 3 # 1 s of warm-up is not recorded; two more before the first window

node "$HERE/cleaner-broker.mjs" windows --broker "$BROKER" --topics "$TOPIC_LIST" --data-dir "$DATA" \
  --broker-log "$TMP/broker.log" --broker-pid "$BROKER_PID" --client-pid "$CLIENT_PID" \
  --idle-s "$IDLE_S" --settle-s 1 --out "$TMP/windows.json" ${AA_ARGS[@]+"${AA_ARGS[@]}"} \
  ${FILL_ARGS[@]+"${FILL_ARGS[@]}"}

kill -INT "$CLIENT_PID"
wait "$CLIENT_PID" || true # non-zero when stopped early, which -A is meant to be
UPTIME_AFTER="$(uptime)"
LATENCY_OUT="$(cat "$TMP/latency.out")"

REPORT="$TMP/report.md"
{
  echo "## cleaner-broker: produce latency while the cleaner is idle / cleaning ($(date -u '+%Y-%m-%d %H:%M UTC'))"
  echo
  echo "Samsa $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- packages apps || echo ' + uncommitted changes'), release build;" \
    "broker ${BROKER_SETS[*]}; $ROUNDS rounds; dirty log per round: $MIB MiB of 1 KiB records over $KEYS keys," \
    "$SEGMENT_MIB MiB segments$([ "$FILL_PER_ROUND" = 1 ] && echo ", each filled just before its round")$([ -n "${AA_ARGS[*]:-}" ] && echo "; A/A: ${AA_ARGS[*]}"); idle windows of $IDLE_S s; steady producer: 100 B at $RATE/s, acks=all, linger.ms=0," \
    "latency = scheduled send -> delivery report. $(nproc) CPUs, $(uname -r), Node $(node --version)."
  echo
  node "$HERE/cleaner-broker.mjs" report --samples "$TMP/samples.txt" --windows "$TMP/windows.json"
  echo
  echo "rdkafka-perf (whole run, windows and gaps): \`$LATENCY_OUT\`"
  echo
  echo "uptime before: \`$UPTIME_BEFORE\`; after: \`$UPTIME_AFTER\`"
} >"$REPORT"
cat "$REPORT"
if [ -n "$OUT_FILE" ]; then cp "$REPORT" "$OUT_FILE"; fi
