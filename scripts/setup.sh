#!/usr/bin/env bash
# Create .venv (once) and install sklxai, its plugins and the dev extras into it. Idempotent.
# Sourced by scripts/run.sh and scripts/test.sh; not meant to be run on its own.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SKLXAI_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    echo "[sklxai] creating virtual environment in $VENV"
    "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
# some pip configurations warn about every missing local index entry; keep real errors visible
quiet_pip() { "${PIP[@]}" "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

# torch first, pinned, so that a CPU-only machine with the CPU wheel at hand does not fetch a
# multi-GB CUDA build. Set SKLXAI_TORCH_SPEC to choose another build (e.g. "torch>=2.1").
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    echo "[sklxai] installing ${SKLXAI_TORCH_SPEC:-torch==2.13.0}"
    quiet_pip "${SKLXAI_TORCH_SPEC:-torch==2.13.0}"
fi

# setuptools is the build backend; install it so editable installs need no network isolation
quiet_pip "setuptools>=64" wheel
echo "[sklxai] installing sklxai[dev] and the plugins"
plugins=()
for p in "$ROOT"/plugins/*/; do
    [ -f "$p/pyproject.toml" ] && plugins+=(-e "$p")
done
# the torch spec again, so that the dev extra's grad-cam gets the torchvision of this torch (not a
# newer one that would replace torch with another build); see docs/getting_started.rst
quiet_pip --no-build-isolation -e "$ROOT[dev]" "${plugins[@]}" "${SKLXAI_TORCH_SPEC:-torch==2.13.0}"
