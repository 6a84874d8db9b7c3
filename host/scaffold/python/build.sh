#!/usr/bin/env bash
# Build app.py into the dun strategy component __CRATE__.wasm (or OUTPUT).
#
#   ./build.sh [OUTPUT.wasm]
#
# Needs componentize-py 0.25.1 (python3 -m pip install 'componentize-py==0.25.1').
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/__CRATE__.wasm}
# The console script may not be on PATH (pip install --user); the package is.
python3 -c 'import componentize_py' 2>/dev/null || {
  echo "componentize-py is not installed: python3 -m pip install 'componentize-py==0.25.1'" >&2
  exit 127
}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp "$here/app.py" "$scratch/"
(cd "$scratch" && python3 -c 'import sys, componentize_py; sys.exit(componentize_py.script())' \
  -q -d "$here/wit/v0.1.0" -w strategy componentize app -p . -o "$scratch/out.wasm")
mv "$scratch/out.wasm" "$out"
echo "$out: $(wc -c <"$out") bytes"
