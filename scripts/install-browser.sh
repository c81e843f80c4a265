#!/usr/bin/env bash
# Installs Chromium, the real browser the browser tests (tests/tests/integration/security/browser.rs)
# drive headless: GraphiQL under its Content-Security-Policy, and a page on
# another origin (or a rebound name) trying to reach the loopback server.
# From the distribution's packages (Debian: `chromium`), as root.
#
# Usage: scripts/install-browser.sh
#
# Idempotent: with a `chromium` (or `chromium-browser`, or $CAIRN_CHROMIUM)
# that answers --version it installs nothing. On success it prints the
# browser's path, and nothing else, on stdout.
set -euo pipefail

die() {
  echo "install-browser: error: $*" >&2
  exit 1
}

found() {
  local candidate
  for candidate in "${CAIRN_CHROMIUM:-}" chromium chromium-browser; do
    [[ -n "$candidate" ]] || continue
    if path="$(command -v "$candidate")" && "$path" --version >/dev/null 2>&1; then
      echo "$path"
      return 0
    fi
  done
  return 1
}

if found; then
  exit 0
fi
command -v apt-get >/dev/null 2>&1 \
  || die "no Chromium and no apt-get: install Chromium and put it on PATH, or set CAIRN_CHROMIUM"
[[ "$(id -u)" == 0 ]] || die "no Chromium: run as root to install it (apt-get install chromium), or set CAIRN_CHROMIUM"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends chromium >&2; then
  apt-get update >&2
  apt-get install -y --no-install-recommends chromium >&2
fi
found || die "chromium was installed but does not answer --version"
