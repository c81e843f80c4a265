#!/usr/bin/env bash
# The API contract against the server: Schemathesis generates requests from
# the REST API's OpenAPI document (/v1/openapi.json) and from the GraphQL
# schema (introspected at /graphql), valid and invalid ones, and runs every
# one of its checks on each answer (no 5xx; status codes, content types,
# headers and bodies as the schema says; invalid input refused, valid input
# accepted; auth not ignored; ...). It installs Schemathesis (pinned, from
# PyPI) into .venv-schemathesis, builds the cairn binary (debug), starts
# `cairn serve` with auth on (an HS256 secret of its own) on a free loopback
# port over a temporary directory, and runs both suites with a read-write
# bearer token, a fixed seed and a bounded number of examples per operation
# (SCHEMATHESIS_MAX_EXAMPLES, default 30). It exits non-zero on any failure,
# and always stops the server. Extra arguments go to both `schemathesis run`s.
#
# Usage: scripts/test-schemathesis.sh [SCHEMATHESIS_RUN_ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1-}" in
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac

readonly SCHEMATHESIS="4.32.5"
readonly VENV="./.venv-schemathesis"
readonly MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-30}"
readonly SEED=27

die() {
  echo "test-schemathesis: error: $*" >&2
  exit 1
}

command -v python3 >/dev/null 2>&1 || die "python3 is not on PATH"
if [[ "$("$VENV/bin/schemathesis" --version 2>/dev/null || true)" != "schemathesis, version $SCHEMATHESIS" ]]; then
  if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV" \
      || die "python3 -m venv $VENV failed (on Debian, the python3-venv package provides venv)"
  fi
  echo "test-schemathesis: installing schemathesis $SCHEMATHESIS into $VENV (from PyPI)" >&2
  log="$(mktemp)"
  if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      "schemathesis==$SCHEMATHESIS" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    die "pip install schemathesis==$SCHEMATHESIS failed (see pip's output above)"
  fi
  rm -f "$log"
fi

CAIRN_BIN="$(./scripts/build-cairn.sh)"

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

# Auth on, so the auth checks apply: the server and `cairn token issue` share
# a secret made for this run. The failed-authentication throttle is off (0):
# the checks send requests without the token on purpose, and a 429 for the
# address would then answer the good requests too (the throttle has tests
# of its own, in tests/tests/integration/security).
secret="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port"
# The server takes no settings from the caller's environment.
unset_cairn=$(env | sed -n 's/^\(CAIRN_[A-Z_]*\)=.*/-u \1/p')
# shellcheck disable=SC2086
env $unset_cairn CAIRN_JWT_SECRET="$secret" \
  "$CAIRN_BIN" serve --bind "127.0.0.1:$port" --data-dir "$work/data" \
  --auth-failures-per-minute 0 >"$work/server.log" 2>&1 &
server_pid=$!
# shellcheck disable=SC2086
token="$(env $unset_cairn CAIRN_JWT_SECRET="$secret" \
  "$CAIRN_BIN" token issue --sub schemathesis --tenant schemathesis --scopes read,write --ttl 1h)"

healthy() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
    "$url/readyz" >/dev/null 2>&1
}
for _ in $(seq 1 300); do
  healthy && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; die "cairn serve exited"; }
  sleep 0.1
done
healthy || { cat "$work/server.log" >&2; die "cairn serve did not answer /readyz at $url"; }

# One worker: with two, CPython 3.11 before 3.11.8 can fail Hypothesis's
# ast.parse with "AST constructor recursion depth mismatch" (a thread-safety
# bug in the interpreter), a runtime error of the run
# that is no finding about the server.
# tests/schemathesis/hooks.py adds the check `cairn_graphql_errors`;
# tests/schemathesis/schemathesis.toml says, per operation, what a schema
# cannot (each with why).
run() {
  SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$PWD/tests/schemathesis" \
    "$VENV/bin/schemathesis" --config-file tests/schemathesis/schemathesis.toml run "$1" \
    --checks all \
    --header "Authorization: Bearer $token" \
    --max-examples "$MAX_EXAMPLES" \
    --seed "$SEED" \
    --generation-database none \
    --workers 1 \
    --no-color \
    "${@:2}"
}

status=0
echo "test-schemathesis: the REST API ($url/v1/openapi.json)" >&2
run "$url/v1/openapi.json" "$@" || status=$?
echo "test-schemathesis: the GraphQL API ($url/graphql)" >&2
# GraphQL's types cannot state the limits its resolvers enforce, and those
# two checks count every refusal of a type-valid query as a failure; the
# hooks' cairn_graphql_errors checks the same answers by the server's error
# codes instead (see tests/schemathesis/hooks.py).
run "$url/graphql" --exclude-checks not_a_server_error,positive_data_acceptance "$@" || status=$?
if [[ $status -ne 0 ]]; then
  echo "test-schemathesis: the server's log:" >&2
  tail -n 50 "$work/server.log" >&2
fi
exit $status
