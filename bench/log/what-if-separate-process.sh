#!/usr/bin/env bash
# What-if: does a cleaning-like load disturb the producer's p99 less from its own SCHED_IDLE process
# than from a SCHED_IDLE worker thread of the broker? (bench/log/README.md, "What is left".)
#
#   [HOG_KIND=spin|none] bash bench/log/what-if-separate-process.sh [--hog process|thread] [--policy idle|nice] [--rounds 4]
#
# One broker (release build: run `npm run build` first), `rdkafka-perf latency -A` at 5,000 100 B
# records/s, acks=all, as cleaner-broker.sh; then rounds of a 4 s idle window and a 4 s window with
# what-if-hog.mjs running: as its own process (`chrt --idle` or `nice -n 10`) or in a worker
# thread of the broker (SCHED_IDLE or nice 10). Prints p50/p99/p99.9 of the records sent in each
# kind of window.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"
HOG=process POLICY=idle ROUNDS=4
while [ $# -gt 0 ]; do
  case "$1" in
    --hog) HOG="$2"; shift ;;
    --policy) POLICY="$2"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    *) echo "usage: $0 [--hog process|thread] [--policy idle|nice] [--rounds N]" >&2; exit 2 ;;
  esac
  shift
done
TMP="$(mktemp -d "${TMPDIR:-/tmp}/samsa-what-if-hog.XXXXXX")"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
PERF="$TMP/rdkafka-perf"
bash "$ROOT/bench/broker/build-rdkafka-perf.sh" "$PERF"
PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
NODE_OPTS=()
[ "$HOG" = thread ] && NODE_OPTS=(--import "$HERE/what-if-hog.mjs")
HOG_POLICY="$POLICY" node ${NODE_OPTS[@]+"${NODE_OPTS[@]}"} apps/cli/bin/samsa.js start --host 127.0.0.1 \
  --port "$PORT" --data-dir "$TMP/data" --log-level warn >"$TMP/broker.log" 2>&1 &
BROKER_PID=$!
PIDS+=("$BROKER_PID")
until node -e 'require("net").connect(+process.argv[1],"127.0.0.1").on("connect",()=>process.exit(0)).on("error",()=>process.exit(1))' "$PORT"; do sleep 0.2; done
"$PERF" latency -A -b "127.0.0.1:$PORT" -t steady -s 100 -r 5000 -a all -w 1 -d 600 -o "$TMP/samples.txt" >/dev/null 2>&1 &
CLIENT_PID=$!
PIDS+=("$CLIENT_PID")
sleep 3 # 1 s of warm-up is not recorded
mono() { python3 -c 'import time; print("%.3f" % (time.monotonic() * 1000))'; }
uptime >&2
for _ in $(seq "$ROUNDS"); do
  s=$(mono); sleep 4; echo "idle $s $(mono)" >>"$TMP/windows.txt"
  s=$(mono)
  if [ "$HOG" = thread ]; then
    kill -USR2 "$BROKER_PID"; sleep 4
  elif [ "$POLICY" = idle ]; then
    chrt --idle 0 node "$HERE/what-if-hog.mjs" 4000 >/dev/null
  else
    nice -n 10 node "$HERE/what-if-hog.mjs" 4000 >/dev/null
  fi
  echo "hog $s $(mono)" >>"$TMP/windows.txt"
done
kill -INT "$CLIENT_PID"
wait "$CLIENT_PID" || true
uptime >&2
echo "hog as a $HOG ($POLICY)"
node "$HERE/busy-vcpu.mjs" report "$TMP/windows.txt" "$TMP/samples.txt"
