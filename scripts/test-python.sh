#!/usr/bin/env bash
# The Python SDK's tests (client/python/tests) against a real server, and
# every shell command of README.md and docs/ (tests/docs): builds
# the cairn binary (debug), installs the SDK (.venv-sdk) and Headroom
# (.venv-peer, for the import-swap test), starts `cairn serve` on a free
# loopback port over a temporary directory, runs pytest with CAIRN_URL set,
# and always stops the server. Extra arguments go to pytest.
#
# Usage: scripts/test-python.sh [PYTEST_ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "test-python: error: $*" >&2
  exit 1
}

CAIRN_BIN="$(./scripts/build-cairn.sh)"
SDK_PYTHON="$(./scripts/install-python-sdk.sh .venv-sdk)"
HEADROOM_PYTHON="$(./scripts/install-peer.sh .venv-peer)"

work="$(mktemp -d)"
server_pid=""
stop() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port"
# The tests' server takes no settings from the caller's environment.
env $(env | sed -n 's/^\(CAIRN_[A-Z_]*\)=.*/-u \1/p') \
  "$CAIRN_BIN" serve --bind "127.0.0.1:$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
server_pid=$!

healthy() {
  "$SDK_PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
    "$url/healthz" >/dev/null 2>&1
}
for _ in $(seq 1 300); do
  healthy && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; die "cairn serve exited"; }
  sleep 0.1
done
healthy || { cat "$work/server.log" >&2; die "cairn serve did not answer /healthz at $url"; }

status=0
CAIRN_URL="$url" CAIRN_BIN="$CAIRN_BIN" HEADROOM_PYTHON="$HEADROOM_PYTHON" \
  "$SDK_PYTHON" -m pytest client/python/tests tests/docs -q -p no:cacheprovider "$@" || status=$?
if [[ $status -ne 0 ]]; then
  echo "test-python: the server's log:" >&2
  tail -n 50 "$work/server.log" >&2
fi
exit $status
