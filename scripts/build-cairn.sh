#!/usr/bin/env bash
# Builds the cairn binary (debug, --locked) and prints its path, and nothing
# else, on stdout: what the SDK and dashboard test scripts run their servers
# from.
#
# Usage: scripts/build-cairn.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --locked -p cairn-server --bin cairn
bin="$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/debug/cairn"
if [[ ! -x "$bin" ]]; then
  echo "build-cairn: error: no cairn binary at $bin after building it" >&2
  exit 1
fi
echo "$bin"
