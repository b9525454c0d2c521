#!/usr/bin/env bash
# Installs what the test suite drives besides Node packages: real Kafka clients written by
# other people (kcat/librdkafka, confluent-kafka-python, kafka-python, Go's sarama).
# Idempotent: does nothing when every package is already there.
set -euo pipefail

PACKAGES=(
  kcat                              # librdkafka's command-line client
  python3-confluent-kafka           # librdkafka from Python (/usr/bin/python3)
  python3-kafka                     # kafka-python, a pure-Python client
  golang-go                         # for the sarama tests
  golang-github-shopify-sarama-dev  # Go's sarama client (GO111MODULE=off GOPATH=/usr/share/gocode)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "test dependencies: all present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "test dependencies: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "test dependencies: installed"
