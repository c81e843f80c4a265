#!/usr/bin/env bash
# The TypeScript SDK's tests (client/typescript/test) with Node's own test
# runner, against real servers the tests start: builds the cairn binary
# (debug), installs the Python SDK (.venv-sdk, for the cross-language tests),
# Headroom's proxy (.venv-peer-proxy, which Headroom's TypeScript SDK calls in
# the import-swap test), Chromium (the browser test; from the distribution's
# packages, as root) and the package's dev dependencies (Deno among them) from
# package-lock.json (npm ci), builds the package (ESM, CommonJS, declarations;
# tsc --strict) and its examples, then runs every test. Extra arguments go to
# `node --test`.
#
# Usage: scripts/test-typescript.sh [NODE_TEST_ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."

# The package runs on Node 18.17+; its tests and their tools (Playwright, the AI SDK) need 20,
# which npm-ci.sh checks first.
./scripts/npm-ci.sh client/typescript
CAIRN_BIN="$(./scripts/build-cairn.sh)"
SDK_PYTHON="$(./scripts/install-python-sdk.sh .venv-sdk)"
HEADROOM_PROXY_PYTHON="$(./scripts/install-peer.sh .venv-peer-proxy --proxy)"
CAIRN_CHROMIUM="$(./scripts/install-browser.sh)"

cd client/typescript
npm run --silent build
npm run --silent build:examples

CAIRN_BIN="$CAIRN_BIN" SDK_PYTHON="$SDK_PYTHON" HEADROOM_PROXY_PYTHON="$HEADROOM_PROXY_PYTHON" \
  CAIRN_CHROMIUM="$CAIRN_CHROMIUM" \
  node --test --test-concurrency=1 "$@" test/*.test.mjs
