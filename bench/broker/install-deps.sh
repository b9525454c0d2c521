#!/usr/bin/env bash
# Installs what bench/broker needs besides Node: librdkafka's headers (the C load generator is
# compiled against them), a C compiler, and Redis (the peer: redis-server and redis-benchmark).
# Idempotent: does nothing when every package is already there. Not run by the tests.
set -euo pipefail

PACKAGES=(
  librdkafka-dev    # librdkafka headers and .so for rdkafka-perf.c
  build-essential   # gcc, make, libc headers
  pkg-config        # finds librdkafka's compile flags
  redis-server      # the peer
  redis-tools       # redis-benchmark, redis-cli
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "bench dependencies: all present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "bench dependencies: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "bench dependencies: installed"
