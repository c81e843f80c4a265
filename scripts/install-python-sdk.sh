#!/usr/bin/env bash
# Installs the Python SDK (client/python, editable) and what its tests need
# (pytest, mypy, ruff, and the OpenAI SDK for the proxy example) into a virtual environment of its own.
#
# Usage: scripts/install-python-sdk.sh [DIR]     (DIR defaults to ./.venv-sdk)
#
# The script is idempotent: when DIR already holds a venv that imports cairn
# from this checkout with the pinned httpx, pytest, mypy, ruff and openai, it installs
# nothing. On success it prints the path of the venv's python, and nothing
# else, on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly DIR="${1:-./.venv-sdk}"
readonly PY="$DIR/bin/python"
readonly SDK="$PWD/client/python"
# Pinned in client/python/pyproject.toml; checked here to know when to reinstall.
readonly HTTPX="0.28.1"
readonly PYTEST="9.2.0"
readonly MYPY="2.4.1"
readonly RUFF="0.17.5"
readonly OPENAI="3.54.0"

die() {
  echo "install-python-sdk: error: $*" >&2
  exit 1
}

# Prints "ok" when the venv imports this checkout's cairn with the pinned deps.
installed() {
  "$PY" - "$SDK" "$HTTPX" "$PYTEST" "$MYPY" "$RUFF" "$OPENAI" 2>/dev/null <<'PY' || true
import os, sys
from importlib.metadata import version
import cairn
sdk, want_httpx, want_pytest, want_mypy, want_ruff, want_openai = sys.argv[1:]
here = os.path.realpath(os.path.join(sdk, "src", "cairn"))
if os.path.realpath(os.path.dirname(cairn.__file__)) == here \
        and version("httpx") == want_httpx and version("pytest") == want_pytest \
        and version("mypy") == want_mypy and version("ruff") == want_ruff \
        and version("openai") == want_openai:
    print("ok")
PY
}

command -v python3 >/dev/null 2>&1 || die "python3 is not on PATH"

if [[ -x "$PY" && "$(installed)" == "ok" ]]; then
  echo "install-python-sdk: the SDK and its test dependencies are already in $DIR" >&2
else
  if [[ ! -x "$PY" ]]; then
    echo "install-python-sdk: creating a virtual environment in $DIR" >&2
    python3 -m venv "$DIR" \
      || die "python3 -m venv $DIR failed (on Debian, the python3-venv package provides venv)"
  fi
  echo "install-python-sdk: installing client/python (editable), pytest, mypy and ruff into $DIR (from PyPI)" >&2
  # pip's own output is kept in a log file and shown only when it fails.
  log="$(mktemp)"
  trap 'rm -f "$log"' EXIT
  if ! "$PY" -m pip install --quiet --disable-pip-version-check \
      --editable "$SDK[test]" >"$log" 2>&1; then
    cat "$log" >&2
    die "pip install of client/python failed (see pip's output above)"
  fi
  [[ "$(installed)" == "ok" ]] \
    || die "after installing, $PY does not import cairn from $SDK with httpx $HTTPX, pytest $PYTEST, mypy $MYPY and ruff $RUFF"
fi

# The absolute path of the venv's python.
echo "$(cd "$(dirname "$PY")" && pwd)/python"
