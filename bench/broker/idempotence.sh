#!/usr/bin/env bash
# bench/broker/idempotence.sh: the cost of the idempotent producer, plain vs enable.idempotence
# produce throughput against one Samsa broker in the same run, driven by rdkafka-perf (librdkafka).
#
#   bash bench/broker/idempotence.sh [--no-build] [--rounds N] [-n RECORDS] [-s SIZE] [--client-preload SO]
#
# Builds the broker (unless --no-build) and rdkafka-perf, starts one broker on a free loopback port
# with its data in a new temp dir, warms it up, then alternates plain and idempotent produce runs
# (acks=all: idempotence requires it; librdkafka then keeps at most 5 requests in flight per
# partition) to fresh single-partition topics, ROUNDS of each, so that drift of the machine hits
# both sides alike. Reports every run, the best and the median of each side and their ratio
# (goal: idempotence costs at most 5%, i.e. median ratio >= 0.95), with the client's CPU seconds
# per run (librdkafka's idempotent producer busy-polls while 5 requests are in flight; see
# what-if-no-busy-poll.c, which --client-preload loads into rdkafka-perf alone). The broker is
# stopped by its PID; the temp dir is removed. Not run by the tests.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"

BUILD=1 ROUNDS=5 N=2000000 SIZE=100 PRELOAD=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0 ;;
    --rounds) ROUNDS="$2"; shift ;;
    -n) N="$2"; shift ;;
    -s) SIZE="$2"; shift ;;
    --client-preload) PRELOAD="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift ;;
    *) echo "usage: bash bench/broker/idempotence.sh [--no-build] [--rounds N] [-n RECORDS] [-s SIZE] [--client-preload SO]" >&2; exit 2 ;;
  esac
  shift
done
GOAL_RATIO=0.95

TMP="$(mktemp -d "${TMPDIR:-/tmp}/samsa-bench-idem.XXXXXX")"
BROKER_PID=""
cleanup() {
  if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$BROKER_PID" 2>/dev/null && kill -KILL "$BROKER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "[bench] $*" >&2; }
kv() { sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$1"; }
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

if [ "$BUILD" = 1 ]; then
  log "npm run build"
  npm run --silent build >&2
fi
PERF="$TMP/rdkafka-perf"
gcc -O2 -Wall -o "$PERF" "$HERE/rdkafka-perf.c" $(pkg-config --cflags --libs rdkafka) -lpthread -lm

PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
node apps/cli/bin/samsa.js start --host 127.0.0.1 --port "$PORT" --data-dir "$TMP/data" --log-level warn \
  >"$TMP/broker.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 300); do
  if node -e 'require("net").connect('"$PORT"',"127.0.0.1").on("connect",()=>process.exit(0)).on("error",()=>process.exit(1))'; then break; fi
  sleep 0.1
done

perf() { # topic idempotence [more -X settings]
  local topic="$1" idem="$2"
  shift 2
  env ${PRELOAD:+LD_PRELOAD="$PRELOAD"} "$PERF" produce -t "$topic" -n "$N" -s "$SIZE" -a all -z none \
    -X "enable.idempotence=$idem" "$@" -b "127.0.0.1:$PORT" 2>>"$TMP/perf.stderr"
}
log "warm-up"
perf warmup-plain false >/dev/null
perf warmup-idem true >/dev/null

PLAIN=() IDEM=() PLAIN5=() PLAIN_CPU=() IDEM_CPU=() PLAIN5_CPU=()
for r in $(seq "$ROUNDS"); do
  out="$(perf "plain-$r" false)"; PLAIN+=("$(kv "$out" msgs_per_s)") PLAIN_CPU+=("$(kv "$out" client_cpu_s)")
  [ "$(kv "$out" failed)" = 0 ] || log "plain run $r: $(kv "$out" failed) failed"
  out="$(perf "idem-$r" true)"; IDEM+=("$(kv "$out" msgs_per_s)") IDEM_CPU+=("$(kv "$out" client_cpu_s)")
  [ "$(kv "$out" failed)" = 0 ] || log "idempotent run $r: $(kv "$out" failed) failed"
  # The client side of idempotence: librdkafka then keeps at most 5 requests in flight (Kafka's
  # rule for ordering retries). Plain with the same limit isolates what the broker's checks cost.
  out="$(perf "plain5-$r" false -X max.in.flight.requests.per.connection=5)"
  PLAIN5+=("$(kv "$out" msgs_per_s)") PLAIN5_CPU+=("$(kv "$out" client_cpu_s)")
  log "round $r: plain ${PLAIN[-1]}, idempotent ${IDEM[-1]}, plain with 5 in flight ${PLAIN5[-1]} msgs/s" \
    "(client CPU ${PLAIN_CPU[-1]}, ${IDEM_CPU[-1]}, ${PLAIN5_CPU[-1]} s)"
done
PM="$(printf '%s\n' "${PLAIN[@]}" | median)" IM="$(printf '%s\n' "${IDEM[@]}" | median)"
PB="$(printf '%s\n' "${PLAIN[@]}" | sort -n | tail -1)" IB="$(printf '%s\n' "${IDEM[@]}" | sort -n | tail -1)"
P5M="$(printf '%s\n' "${PLAIN5[@]}" | median)" P5B="$(printf '%s\n' "${PLAIN5[@]}" | sort -n | tail -1)"
PC="$(printf '%s\n' "${PLAIN_CPU[@]}" | median)" IC="$(printf '%s\n' "${IDEM_CPU[@]}" | median)"
P5C="$(printf '%s\n' "${PLAIN5_CPU[@]}" | median)"
BROKER_RATIO="$(awk "BEGIN { printf \"%.3f\", $IM / $P5M }")"
RATIO="$(awk "BEGIN { printf \"%.3f\", $IM / $PM }")"
BEST_RATIO="$(awk "BEGIN { printf \"%.3f\", $IB / $PB }")"
MET="$(awk "BEGIN { print ($RATIO >= $GOAL_RATIO) ? \"met\" : \"**not met**\" }")"
cat <<REPORT
## Idempotent vs plain produce ($(date -u +%Y-%m-%d), $(nproc) CPUs, librdkafka $(pkg-config --modversion rdkafka))

$N records of $SIZE B per run, acks=all, no compression, one partition, $ROUNDS alternating rounds.${PRELOAD:+
Client run with LD_PRELOAD=$(basename "$PRELOAD") (an experiment, not librdkafka as shipped).}

| producer | runs (msgs/s) | median | best | client CPU s (median) |
|---|---|---|---|---|
| plain | ${PLAIN[*]} | $PM | $PB | $PC |
| enable.idempotence=true | ${IDEM[*]} | $IM | $IB | $IC |
| plain, max.in.flight=5 | ${PLAIN5[*]} | $P5M | $P5B | $P5C |

Idempotent / plain: median $RATIO, best $BEST_RATIO (goal >= $GOAL_RATIO: $MET).
Idempotent / plain with the same 5 requests in flight (what the broker's checks cost): median $BROKER_RATIO.
REPORT
