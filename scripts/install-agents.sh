#!/usr/bin/env bash
# Installs the real agent CLIs the conformance suite runs through Cairn
# (server/tests/agents/): Claude Code, Codex CLI and Gemini CLI, from the
# npm registry, at the versions pinned in tests/agents/package.json (and its
# package-lock.json), into tests/agents/node_modules.
#
# Usage: scripts/install-agents.sh
#
# The script is idempotent: when each CLI already answers --version with its
# pinned version, it installs nothing. On success it prints the folder of the
# three executables (tests/agents/node_modules/.bin), and nothing else, on
# stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly DIR="tests/agents"
readonly BIN="$DIR/node_modules/.bin"

die() {
  echo "install-agents: error: $*" >&2
  exit 1
}

command -v node >/dev/null 2>&1 || die "node is not on PATH (Debian: apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || die "npm is not on PATH"

# The pinned version of a package, from package.json.
pinned() {
  node -e 'console.log(require(process.argv[1]).dependencies[process.argv[2]])' \
    "$PWD/$DIR/package.json" "$1"
}

# Whether BIN/$1 --version prints the version pinned for package $2.
current() {
  local version
  version="$(pinned "$2")"
  [[ -x "$BIN/$1" ]] || return 1
  HOME="$(mktemp -d)" timeout 60 "$BIN/$1" --version 2>/dev/null | grep -qF "$version"
}

if current claude @anthropic-ai/claude-code && current codex @openai/codex \
    && current gemini @google/gemini-cli; then
  echo "install-agents: the pinned agent CLIs are already installed in $DIR" >&2
else
  echo "install-agents: installing the agent CLIs pinned in $DIR/package.json (from npm)" >&2
  log="$(mktemp)"
  trap 'rm -f "$log"' EXIT
  # Each CLI ships its native part as a platform package, which npm picks
  # by itself. No install script runs (native add-ons the CLIs only use
  # interactively would need a compiler), but Claude Code's own, which puts
  # its platform binary in place.
  if ! npm ci --prefix "$DIR" --no-audit --no-fund --ignore-scripts >"$log" 2>&1 \
      || ! (cd "$DIR/node_modules/@anthropic-ai/claude-code" && node install.cjs) >>"$log" 2>&1; then
    cat "$log" >&2
    die "npm ci failed (see npm's output above)"
  fi
  for pair in claude:@anthropic-ai/claude-code codex:@openai/codex gemini:@google/gemini-cli; do
    current "${pair%%:*}" "${pair#*:}" \
      || die "after installing, $BIN/${pair%%:*} --version does not print $(pinned "${pair#*:}")"
  done
fi

echo "$(cd "$BIN" && pwd)"
