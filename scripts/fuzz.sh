#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for a bounded time (cargo-fuzz, libFuzzer,
# AddressSanitizer; nightly Rust). Installs cargo-fuzz when it is missing.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 45)
#
# CAIRN_FUZZ_SKIP names targets to leave out (space-separated; setting it
# replaces the test command's default). The test command leaves out `router`:
# its instrumented build of the whole server (axum, sqlx, tantivy; behind the
# fuzz package's `router` feature, so the other targets do not build it)
# takes longer than CI's budget, and the nextest suite replays its corpus with
# mutations instead (tests/tests/integration/router_corpus.rs).
#
# New inputs the fuzzer finds go to a scratch directory, not to the committed
# seed corpus; a crash leaves its input under fuzz/artifacts/ and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly SECONDS_PER_TARGET="${1:-45}"
readonly CARGO_FUZZ_VERSION="0.13.2"

die() {
    echo "fuzz: error: $*" >&2
    exit 1
}

cargo +nightly --version >/dev/null 2>&1 ||
    die "the nightly toolchain is missing (rustup toolchain install nightly): cargo-fuzz needs it"
if [[ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in $(env -u CARGO_TARGET_DIR cargo +nightly fuzz list); do
    if [[ " ${CAIRN_FUZZ_SKIP:-} " == *" $target "* ]]; then
        echo "fuzz: $target skipped (CAIRN_FUZZ_SKIP)" >&2
        continue
    fi
    echo "fuzz: $target for ${SECONDS_PER_TARGET}s" >&2
    mkdir -p "$scratch/$target"
    features=()
    # A target behind a feature of its own (its dependencies are built only then).
    if grep -q "^$target = \[" fuzz/Cargo.toml; then
        features=(--features "$target")
    fi
    # -timeout: one input taking longer than 10 s is a failure (bounded time).
    # TMPDIR: what a target keeps in a temporary folder for the whole run (the
    # router's store and index) goes with the scratch directory.
    # CARGO_TARGET_DIR (CI's build cache) is left out: the sanitized builds
    # stay in fuzz/target, where cargo-fuzz looks for them.
    TMPDIR="$scratch" env -u CARGO_TARGET_DIR cargo +nightly fuzz run "${features[@]}" "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1
done
