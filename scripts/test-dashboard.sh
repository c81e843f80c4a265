#!/usr/bin/env bash
# The dashboard's end-to-end tests (tests/dashboard) in a real browser:
# builds the cairn binary (debug), installs Chromium (from the distribution's
# packages, as root) and playwright-core from tests/dashboard/package-lock.json
# (npm ci; it drives Chromium through its executable path and downloads no
# browser), then runs Node's test runner. The tests start their own servers,
# import real sessions of the three agents, and take the screenshots of
# docs/dashboard.md (written there with CAIRN_SCREENSHOTS=1). Extra arguments
# go to `node --test`.
#
# Usage: scripts/test-dashboard.sh [NODE_TEST_ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/npm-ci.sh tests/dashboard
CAIRN_BIN="$(./scripts/build-cairn.sh)"
CAIRN_CHROMIUM="$(./scripts/install-browser.sh)"

cd tests/dashboard

CAIRN_BIN="$CAIRN_BIN" CAIRN_CHROMIUM="$CAIRN_CHROMIUM" \
  node --test --test-concurrency=1 "$@" ./*.test.mjs
