#!/usr/bin/env bash
# The floor under cleaner-broker.sh's p99 ratio on a given machine: what a busy CPU at the lowest
# priority costs the steady producer's p99, whatever the busy code is (bench/log/README.md, session 6).
#
#   bash bench/log/busy-vcpu.sh [--hog busy|pass|none] [--pin none|split|shared] [--rounds 8] [--window-s 3]
#
# One broker (release build: run `npm run build` first) and `rdkafka-perf latency -A` at 5,000 100 B
# records/s, acks=all, as in cleaner-broker.sh. One hog process, started once under `chrt --idle`
# and stopped (SIGSTOP) outside its windows, so no process start or exit falls in a window; then
# rounds of an idle window and a hog window (SIGCONT ... SIGSTOP).
#   --hog busy: a C loop incrementing a counter (no memory traffic, no system calls);
#         pass: the broker's cleaning pass (cleanLog) over a 256 MiB dirty log, in a loop;
#         none: a sleep (an A/A run: the noise).
#   --pin split: the broker and the client on CPU 0, the hog on CPU 1; shared: all three on CPU 0;
#         none: where the kernel puts them.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"
HOG=busy PIN=none ROUNDS=8 WINDOW_S=3
usage() { echo "usage: $0 [--hog busy|pass|none] [--pin none|split|shared] [--rounds N] [--window-s S]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --hog) [ $# -ge 2 ] || usage; HOG="$2"; shift ;;
    --pin) [ $# -ge 2 ] || usage; PIN="$2"; shift ;;
    --rounds) [ $# -ge 2 ] || usage; ROUNDS="$2"; shift ;;
    --window-s) [ $# -ge 2 ] || usage; WINDOW_S="$2"; shift ;;
    *) usage ;;
  esac
  shift
done
case "$PIN" in
  none) ON_REQUEST_CPU=() ON_HOG_CPU=() ;;
  split) ON_REQUEST_CPU=(taskset -c 0) ON_HOG_CPU=(taskset -c 1) ;;
  shared) ON_REQUEST_CPU=(taskset -c 0) ON_HOG_CPU=(taskset -c 0) ;;
  *) usage ;;
esac
TMP="$(mktemp -d "${TMPDIR:-/tmp}/samsa-busy-vcpu.XXXXXX")"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
PERF="$TMP/rdkafka-perf"
bash "$ROOT/bench/broker/build-rdkafka-perf.sh" "$PERF"
case "$HOG" in
  busy)
    printf 'int main(void) { volatile unsigned long n = 0; for (;;) n++; }\n' >"$TMP/busy.c"
    gcc -O2 -o "$TMP/busy" "$TMP/busy.c"
    HOG_CMD=("$TMP/busy") ;;
  pass)
    node "$HERE/busy-vcpu.mjs" dirty "$TMP/dirty" 256
    HOG_CMD=(node "$HERE/busy-vcpu.mjs" pass "$TMP/dirty") ;;
  none) HOG_CMD=(sleep 100000) ;;
  *) usage ;;
esac
PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
${ON_REQUEST_CPU[@]+"${ON_REQUEST_CPU[@]}"} node apps/cli/bin/samsa.js start --host 127.0.0.1 --port "$PORT" \
  --data-dir "$TMP/data" --log-level warn >"$TMP/broker.log" 2>&1 &
PIDS+=("$!")
until node -e 'require("net").connect(+process.argv[1],"127.0.0.1").on("connect",()=>process.exit(0)).on("error",()=>process.exit(1))' "$PORT"; do sleep 0.2; done
${ON_REQUEST_CPU[@]+"${ON_REQUEST_CPU[@]}"} "$PERF" latency -A -b "127.0.0.1:$PORT" -t steady -s 100 -r 5000 -a all -w 1 \
  -d 3600 -o "$TMP/samples.txt" >/dev/null 2>&1 &
CLIENT_PID=$!
PIDS+=("$CLIENT_PID")
${ON_HOG_CPU[@]+"${ON_HOG_CPU[@]}"} chrt --idle 0 "${HOG_CMD[@]}" >"$TMP/hog.log" 2>&1 &
HOG_PID=$!
PIDS+=("$HOG_PID")
sleep 4 # the client's warm-up and the hog's first second (a pass's JIT) are not recorded
kill -STOP "$HOG_PID"
mono() { python3 -c 'import time; print("%.3f" % (time.monotonic() * 1000))'; }
uptime >&2
for _ in $(seq "$ROUNDS"); do
  s=$(mono); sleep "$WINDOW_S"; echo "idle $s $(mono)" >>"$TMP/windows.txt"
  kill -CONT "$HOG_PID"
  s=$(mono); sleep "$WINDOW_S"; echo "hog $s $(mono)" >>"$TMP/windows.txt"
  kill -STOP "$HOG_PID"
done
kill -INT "$CLIENT_PID"
wait "$CLIENT_PID" || true
uptime >&2
kill -0 "$HOG_PID" 2>/dev/null || { echo "the hog exited early: $(cat "$TMP/hog.log")" >&2; exit 1; }
echo "hog ${HOG}, pin ${PIN}, ${ROUNDS} rounds of ${WINDOW_S} s windows"
node "$HERE/busy-vcpu.mjs" report "$TMP/windows.txt" "$TMP/samples.txt"
