# Sourced by bench/compare.sh and bench/profile.sh: sets ROOT (the repository) and PY (the
# Python of the cached torch venv that `scripts/setup.sh --bench` made, with torchvision
# and pillow), or stops with what to run.
TORCH_VERSION=2.11.0
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/fmnist-harness/torch-$TORCH_VERSION"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$VENV/bin/python"
if [ ! -x "$PY" ] || ! "$PY" -c 'import torchvision, PIL' 2>/dev/null; then
  echo "bench: no torch venv with torchvision at $VENV; run scripts/setup.sh --bench (or make bench)" >&2
  exit 1
fi
