#!/usr/bin/env bash
# How fast the log cleaner still cleans when the broker is saturated: the starvation side of the
# cleaner thread's CPU priority (SCHED_IDLE and its starvation guard,
# packages/broker/src/log/cleaner/thread-priority.ts). Not run by the tests.
#
#   bash bench/log/cleaner-saturated.sh [--mib 256] [--load-s 30]
#
# One broker (release build, log.cleaner.backoff.ms=1000), two compacted topics of --mib MiB of
# 1 KiB records over 10,000 keys (64 MiB segments; left alone by the cleaner until their ratio is
# lowered, as in cleaner-broker.sh). One is cleaned with nothing else running; the other while
# `rdkafka-perf produce` sends 100 B records at full speed to a third topic (acks=1) for up to
# --load-s seconds, which keeps both vCPUs of the development VM busy (the client ~1 core, the
# broker's event loop ~1 core). Printed per pass: MiB/s (closed segments' bytes / pass ms), and
# the produce rate meanwhile. A pass still running when the load stops is reported with the time
# it took; its MiB/s then includes the unloaded tail.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"
MIB=256 LOAD_S=30
while [ $# -gt 0 ]; do
  case "$1" in
    --mib) MIB="$2"; shift ;;
    --load-s) LOAD_S="$2"; shift ;;
    *) sed -n 5p "$0" >&2; exit 2 ;;
  esac
  shift
done

TMP="$(mktemp -d "${TMPDIR:-/tmp}/samsa-bench-cleaner-saturated.XXXXXX")"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "[cleaner-saturated] $*" >&2; }

PERF="$TMP/rdkafka-perf"
bash "$ROOT/bench/broker/build-rdkafka-perf.sh" "$PERF"
PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
BROKER="127.0.0.1:$PORT"
DATA="$TMP/data"
node apps/cli/bin/samsa.js start --host 127.0.0.1 --port "$PORT" --data-dir "$DATA" --log-level info \
  --set log.cleaner.backoff.ms=1000 >"$TMP/broker.log" 2>&1 &
BROKER_PID=$!
PIDS+=("$BROKER_PID")
for _ in $(seq 300); do
  grep -q '"samsa broker started"' "$TMP/broker.log" && break
  sleep 0.1
done
MJS=(node "$HERE/cleaner-broker.mjs")
"${MJS[@]}" create --broker "$BROKER" --topics quiet,busy
# The warm-up pass, as in cleaner-broker.sh: 4 MiB in 1 MiB segments.
"${MJS[@]}" create --broker "$BROKER" --topics warm --segment-bytes 1048576
"$PERF" produce -b "$BROKER" -t warm -n 4096 -s 1024 -k 10000 -a 1 >/dev/null 2>>"$TMP/perf.stderr"
"${MJS[@]}" clean --broker "$BROKER" --topics warm --segment-bytes 1048576 --data-dir "$DATA" --broker-log "$TMP/broker.log"
for t in quiet busy; do
  "$PERF" produce -b "$BROKER" -t "$t" -n $((MIB * 1024)) -s 1024 -k 10000 -a 1 -d 600 >/dev/null 2>>"$TMP/perf.stderr"
done
sync "$DATA"/quiet-0/*.log "$DATA"/busy-0/*.log

pass() { # topic -> "ms mib [starved-after-ms]"
  local bytes line
  bytes=$(find "$DATA/$1-0" -name '*.log' | sort | head -n -1 | xargs stat -c %s | paste -sd+ | bc)
  "${MJS[@]}" clean --broker "$BROKER" --topics "$1" --data-dir "$DATA" --broker-log "$TMP/broker.log" 2>/dev/null
  line=$(grep '"log cleaned"' "$TMP/broker.log" | grep "\"$1-0\"" | tail -1)
  # starvedAfterMs: the cleaner thread's guard took it out of SCHED_IDLE that far into the pass.
  echo "$(sed 's/.*"ms":\([0-9]*\).*/\1/' <<<"$line") $((bytes / 1048576)) $(grep -o '"starvedAfterMs":[0-9]*' <<<"$line" | cut -d: -f2 || true)"
}
read -r ms mib starved < <(pass quiet)
log "quiet: $mib MiB in $ms ms: $((mib * 1000 / ms)) MiB/s${starved:+ (starved: SCHED_OTHER from $starved ms)}"
"$PERF" produce -b "$BROKER" -t load -n 1000000000 -s 100 -a 1 -d "$LOAD_S" >"$TMP/load.out" 2>>"$TMP/perf.stderr" &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
sleep 2
read -r ms mib starved < <(pass busy)
log "busy: $mib MiB in $ms ms: $((mib * 1000 / ms)) MiB/s${starved:+ (starved: SCHED_OTHER from $starved ms)} (load: ${LOAD_S} s of full-speed produce, started 2 s before)"
wait "$LOAD_PID" || true
log "load: $(cat "$TMP/load.out")"
echo "uptime: $(uptime)" >&2
