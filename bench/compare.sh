#!/usr/bin/env bash
# Runs bench/compare.py with the Python of the cached torch venv that scripts/setup.sh
# made (torch, torchvision and pillow: `scripts/setup.sh --bench`). Arguments pass through:
#   bench/compare.sh                 # the full comparison -> reports/performance.md
#   bench/compare.sh --quick         # a smoke run          -> reports/performance-quick.md
#   bench/compare.sh --help
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
cd "$ROOT"
exec "$PY" bench/compare.py "$@"
