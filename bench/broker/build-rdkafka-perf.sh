#!/usr/bin/env bash
# Builds rdkafka-perf.c (the librdkafka load generator) into OUTPUT, after installing what it needs
# (install-deps.sh, idempotent). Used by the bench/log scripts.
#
#   bash bench/broker/build-rdkafka-perf.sh OUTPUT
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
[ $# -eq 1 ] || { echo "usage: $0 OUTPUT" >&2; exit 2; }
bash "$HERE/install-deps.sh" >&2
gcc -O2 -Wall -o "$1" "$HERE/rdkafka-perf.c" $(pkg-config --cflags --libs rdkafka) -lpthread -lm
