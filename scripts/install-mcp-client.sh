#!/usr/bin/env bash
# Installs the official MCP Python SDK (`mcp` on PyPI), pinned to one version,
# into its own virtual environment. The MCP tests (tests/tests/integration/mcp.rs) drive
# Cairn's MCP server with it: a real client the project did not write.
#
# Usage: scripts/install-mcp-client.sh [DIR]     (DIR defaults to ./.venv-mcp)
#
# The script is idempotent: when DIR already holds a venv whose python imports
# mcp at the pinned version, it installs nothing. On success it prints the
# path of the venv's python, and nothing else, on stdout.
set -euo pipefail

readonly PACKAGE="mcp"
readonly VERSION="2.3.0"
readonly DIR="${1:-./.venv-mcp}"
readonly PY="$DIR/bin/python"

die() {
  echo "install-mcp-client: error: $*" >&2
  exit 1
}

# Prints the version of mcp importable by the venv's python, or nothing.
installed_version() {
  "$PY" -c 'from importlib.metadata import version; print(version("mcp"))' 2>/dev/null || true
}

command -v python3 >/dev/null 2>&1 || die "python3 is not on PATH"

if [[ -x "$PY" && "$(installed_version)" == "$VERSION" ]]; then
  echo "install-mcp-client: $PACKAGE $VERSION is already installed in $DIR" >&2
else
  if [[ ! -x "$PY" ]]; then
    echo "install-mcp-client: creating a virtual environment in $DIR" >&2
    python3 -m venv "$DIR" \
      || die "python3 -m venv $DIR failed (on Debian, the python3-venv package provides venv)"
  fi
  echo "install-mcp-client: installing $PACKAGE==$VERSION into $DIR (from PyPI)" >&2
  # pip's own output is kept in a log file and shown only when it fails.
  log="$(mktemp)"
  trap 'rm -f "$log"' EXIT
  if ! "$PY" -m pip install --quiet --disable-pip-version-check \
      "$PACKAGE==$VERSION" >"$log" 2>&1; then
    cat "$log" >&2
    die "pip install $PACKAGE==$VERSION failed (see pip's output above)"
  fi
  found="$(installed_version)"
  [[ "$found" == "$VERSION" ]] \
    || die "after installing, $PY imports mcp version '${found:-none}', expected $VERSION"
fi

# The absolute path of the venv's python; the MCP tests run their client with it.
echo "$(cd "$(dirname "$PY")" && pwd)/python"
