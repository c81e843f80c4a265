#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, every test.
# It installs what the tests need (cargo-nextest; cargo-fuzz; headroom-ai, the
# peer the compression benchmark compares against; the Python SDK and pytest;
# the MCP Python SDK, the client the MCP tests drive the server with;
# Schemathesis, which tests the API against its OpenAPI and GraphQL schemas; the
# TypeScript SDK's dev dependencies (npm ci) and Headroom's proxy, which its
# import-swap test compares against; the
# real agent CLIs from npm, which the conformance suite runs through Cairn;
# Chromium, the real browser of the browser tests; the ML models, so the
# tests run real inference) and uses
# nothing set up by hand. CAIRN_FUZZ_SECONDS sets how long each fuzz target
# runs (default 30); CAIRN_FUZZ_SKIP which targets it leaves out (default
# `router`, whose build alone would take CI past 30 minutes: nextest replays
# its corpus with mutations instead; CAIRN_FUZZ_SKIP= runs it too).
#
# Usage: scripts/test.sh [--quick]
#
# --quick is the contributor's tier: formatting, lints and the unit tests of
# every crate (no servers, agents, browsers, databases or models; under two
# minutes on a warm build). CI runs the whole suite: no arguments.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=false
case "${1-}" in
    "") ;;
    --quick) quick=true ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "test.sh: unknown argument ${1}: the choices are none (the whole suite) or --quick" >&2
        exit 2
        ;;
esac

# Each step's heading says how long the run has taken so far, so a slow step shows.
started=$SECONDS
step() { printf '\n==> [%dm%02ds] %s\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)) "$*"; }

if ! cargo nextest --version >/dev/null 2>&1; then
    step "installing cargo-nextest"
    cargo install cargo-nextest --locked
fi

if $quick; then
    step "cargo fmt --check"
    cargo fmt --all -- --check
    step "cargo clippy (warnings are errors)"
    cargo clippy --workspace --all-targets --locked -- -D warnings
    step "unit tests of every crate (cargo nextest run --lib --bins)"
    status=0
    cargo nextest run --workspace --locked --lib --bins --no-fail-fast || status=$?
    printf '\n==> [%dm%02ds] done (the quick tier; ./scripts/test.sh runs everything)\n' \
        $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60))
    exit "$status"
fi

step "installing the benchmark peer (headroom-ai) into .venv-peer"
./scripts/install-peer.sh .venv-peer >/dev/null

step "installing the MCP test client (the official MCP Python SDK) into .venv-mcp"
./scripts/install-mcp-client.sh .venv-mcp >/dev/null

step "installing the real agent CLIs (Claude Code, Codex, Gemini CLI; tests/agents/package.json)"
./scripts/install-agents.sh >/dev/null

step "installing Chromium for the browser tests (GraphiQL, pages on other sites)"
./scripts/install-browser.sh >/dev/null

step "installing the local ML models (MiniLM, ONNX Runtime) into ./models"
./scripts/install-models.sh ./models >/dev/null

step "PostgreSQL at 127.0.0.1:5432 for the PostgreSQL tests (started if it is down)"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [[ -d /etc/postgresql ]]; then
        for version in /etc/postgresql/*; do
            pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start || true
        done
    fi
    pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null \
        || echo "warning: no PostgreSQL at 127.0.0.1:5432: its tests skip loudly, or fail under CI=true" >&2
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "doc tests"
cargo test --workspace --locked --doc

step "fuzzing (compression engine, session parsers, refs and markers, request bodies; cargo-fuzz, ${CAIRN_FUZZ_SECONDS:-30}s per target)"
CAIRN_FUZZ_SKIP="${CAIRN_FUZZ_SKIP-router}" ./scripts/fuzz.sh "${CAIRN_FUZZ_SECONDS:-30}"

step "Python SDK tests (pytest against a real server)"
./scripts/test-python.sh

step "API contract (Schemathesis, every check, REST and GraphQL, against a real server)"
./scripts/test-schemathesis.sh

step "TypeScript SDK tests (node --test against real servers)"
./scripts/test-typescript.sh

step "dashboard tests (/ui in headless Chromium against real servers)"
./scripts/test-dashboard.sh

# Last, so its summary is the end of the log (then only the total time).
step "cargo nextest run (unit, integration, end-to-end, CLI, examples)"
status=0
cargo nextest run --workspace --locked --no-fail-fast || status=$?
printf '\n==> [%dm%02ds] done\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60))
exit "$status"
