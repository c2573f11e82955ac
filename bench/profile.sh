#!/usr/bin/env bash
# Runs bench/perf_profile.py (perf profiles of ours and the PyTorch reference on one trial) with
# the Python of the cached torch venv. Needs perf: `apt-get install linux-perf` on Debian.
#   bench/profile.sh                      # conv4, 2,048 images -> reports/profile.md
#   bench/profile.sh --variant conv2_aug --out reports/profile-conv2_aug.md
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
if ! command -v perf >/dev/null 2>&1; then
  echo "profile: perf is not installed (Debian: apt-get install linux-perf)" >&2
  exit 1
fi
cd "$ROOT"
exec "$PY" bench/perf_profile.py "$@"
