#!/usr/bin/env bash
# Installs the peer compressor used by the benchmark in bench/peer/: the Python
# package headroom-ai, pinned to one version, into its own virtual environment.
#
# Usage: scripts/install-peer.sh [DIR] [--proxy]     (DIR defaults to ./.venv-peer)
#
# --proxy installs headroom-ai[proxy] instead: Headroom's HTTP proxy
# (`headroom proxy`), which Headroom's TypeScript SharedContext calls to
# compress (the TypeScript SDK's import-swap test runs it). Its extra
# packages (magika, onnxruntime, transformers) change how Headroom detects
# content, so it goes into a venv of its own, never the benchmark's.
#
# The script is idempotent: when DIR already holds a venv whose python imports
# headroom at the pinned version (and, with --proxy, the proxy's packages), it
# installs nothing. On success it prints the path of the venv's python, and
# nothing else, on stdout.
set -euo pipefail

readonly VERSION="0.42.0"
DIR=""
PACKAGE="headroom-ai"
CHECK="import headroom"
for argument in "$@"; do
  case "$argument" in
    --proxy) PACKAGE="headroom-ai[proxy]"; CHECK="import headroom, fastapi, uvicorn" ;;
    -*) echo "install-peer: error: unknown option $argument (the one option is --proxy)" >&2; exit 2 ;;
    *)
      [[ -z "$DIR" ]] || { echo "install-peer: error: one DIR only, not also $argument" >&2; exit 2; }
      DIR="$argument"
      ;;
  esac
done
DIR="${DIR:-./.venv-peer}"
readonly DIR PACKAGE CHECK
readonly PY="$DIR/bin/python"

die() {
  echo "install-peer: error: $*" >&2
  exit 1
}

# Prints the version of headroom importable by the venv's python, or nothing.
installed_version() {
  "$PY" -c "$CHECK; print(headroom.__version__)" 2>/dev/null || true
}

command -v python3 >/dev/null 2>&1 || die "python3 is not on PATH"

if [[ -x "$PY" && "$(installed_version)" == "$VERSION" ]]; then
  echo "install-peer: $PACKAGE $VERSION is already installed in $DIR" >&2
else
  if [[ ! -x "$PY" ]]; then
    echo "install-peer: creating a virtual environment in $DIR" >&2
    python3 -m venv "$DIR" \
      || die "python3 -m venv $DIR failed (on Debian, the python3-venv package provides venv)"
  fi
  echo "install-peer: installing $PACKAGE==$VERSION into $DIR (from PyPI)" >&2
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
    || die "after installing, $PY imports headroom version '${found:-none}', expected $VERSION"
fi

# The absolute path of the venv's python; the benchmark runs the worker with it.
echo "$(cd "$(dirname "$PY")" && pwd)/python"
