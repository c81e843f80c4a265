#!/usr/bin/env bash
# Cairn's compression against headroom-ai on a corpus of real tool outputs
# from this machine (BENCHMARKS.md, "Compression"). Installs the peer into
# ./.venv-peer and builds the corpus under target/corpus first.
set -euo pipefail
cd "$(dirname "$0")/.."

python=$(./scripts/install-peer.sh .venv-peer | tail -n 1)
rm -rf target/corpus
python3 bench/peer/build_corpus.py target/corpus
cargo build --release --locked -p cairn-bench
./target/release/cairn-bench compression --corpus target/corpus --python "$python" "$@"
