#!/usr/bin/env bash
# Build the Python ladder (app.py) into a dun strategy component.
#
#   examples/python-strategy/build.sh [OUTPUT.wasm]
#
# OUTPUT defaults to target/python-strategy/ladder-python.wasm (git ignores
# target/). The build runs on a scratch copy of app.py, so the source folder
# gets no __pycache__.
# Needs componentize-py 0.25.1 (PyPI); scripts/test installs it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/target/python-strategy/ladder-python.wasm}
wit=$root/wit/v0.1.0
version=0.25.1

# The console script may not be on PATH (pip install --user), the package is.
componentize_py() {
  python3 -c 'import sys, componentize_py; sys.exit(componentize_py.script())' "$@"
}

installed=$(python3 -c 'import importlib.metadata as m; print(m.version("componentize-py"))' 2>/dev/null || true)
if [[ -z $installed ]]; then
  echo "componentize-py is not installed: python3 -m pip install 'componentize-py==$version' (scripts/test does)" >&2
  exit 127
fi
if [[ $installed != "$version" ]]; then
  echo "warning: componentize-py $installed is installed; this example is built and measured with $version" >&2
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp "$here/app.py" "$scratch/"
mkdir -p "$(dirname "$out")"
# -w strategy: the world in wit/v0.1.0. No --stub-wasi: the component then
# imports WASI 0.2 (which dun links with no capabilities), so print() and a
# Python traceback land in the evaluation's log instead of trapping silently.
(cd "$scratch" && componentize_py -q -d "$wit" -w strategy componentize app -p . -o "$scratch/out.wasm")
mv "$scratch/out.wasm" "$out"
echo "$out: $(wc -c <"$out") bytes"
