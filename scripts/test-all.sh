#!/usr/bin/env bash
# The README's test command (`npm test`), and what .ci/run calls: installs everything the tests
# need on a fresh clone, then type-checks, lints and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
npm run --silent typecheck   # tests, scripts and benchmarks, which the build does not cover
npx biome ci .

bash scripts/run-tests.sh
