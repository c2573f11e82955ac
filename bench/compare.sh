#!/usr/bin/env bash
# Runs bench/compare.py with the Python of the cached torch venv that scripts/setup.sh
# made (torch, torchvision and pillow: `scripts/setup.sh --bench`). Arguments pass through:
#   bench/compare.sh                 # the full comparison -> reports/performance.md
#   bench/compare.sh --quick         # a smoke run          -> reports/performance-quick.md
#   bench/compare.sh --help
set -euo pipefail
TORCH_VERSION=2.11.0
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/fmnist-harness/torch-$TORCH_VERSION"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$VENV/bin/python"
if [ ! -x "$PY" ] || ! "$PY" -c 'import torchvision, PIL' 2>/dev/null; then
  echo "bench: no torch venv with torchvision at $VENV; run scripts/setup.sh --bench (or make bench)" >&2
  exit 1
fi
cd "$ROOT"
exec "$PY" bench/compare.py "$@"
