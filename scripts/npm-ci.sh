#!/usr/bin/env bash
# Installs a test package's npm dependencies exactly as its package-lock.json
# says (npm ci), after checking Node is 20 or newer (what the tests' tools
# need). npm's output is shown only when it fails.
#
# Usage: scripts/npm-ci.sh DIR
set -euo pipefail

die() {
  echo "npm-ci: error: $*" >&2
  exit 1
}

[[ $# -eq 1 && -f "$1/package-lock.json" ]] || die "usage: scripts/npm-ci.sh DIR (a folder with a package-lock.json)"
command -v node >/dev/null 2>&1 || die "node is not on PATH"
command -v npm >/dev/null 2>&1 || die "npm is not on PATH"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || die "the tests need Node 20 or newer, not $(node --version)"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! (cd "$1" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
  cat "$log" >&2
  die "npm ci in $1 failed"
fi
