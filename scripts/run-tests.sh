#!/usr/bin/env bash
# Runs test files through node:test and tsx, without installing or building anything:
#   bash scripts/run-tests.sh                 # every *.test.ts
#   bash scripts/run-tests.sh tests/e2e/kcat.test.ts
# Node 20's --test does not expand globs, so the files are found here.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -gt 0 ]; then
  TESTS=("$@")
else
  mapfile -t TESTS < <(find packages apps scripts tests bench -name '*.test.ts' -not -path '*/node_modules/*' 2>/dev/null | sort)
fi
echo "running ${#TESTS[@]} test files"
# samsa-source resolves workspace packages to their TypeScript sources, so tests need no build.
exec node --conditions=samsa-source --import tsx --test --test-reporter=spec --test-concurrency=2 "${TESTS[@]}"
