#!/usr/bin/env bash
# Build the documentation (Sphinx + numpydoc + sphinx-gallery) into docs/_build/html, with
# warnings as errors. The gallery is rendered from examples/ but not executed (the examples train
# networks; run them with python examples/NAME.py). Nothing is fetched at build time.
# Extra arguments go to sphinx-build, e.g. `bash scripts/docs.sh -E` for a clean rebuild.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
echo "[sklxai] installing sklxai[docs]"
quiet_pip --no-build-isolation -e "$ROOT[docs]"
# autosummary and sphinx-gallery regenerate these; stale stubs of renamed objects would linger
rm -rf docs/generated docs/auto_examples docs/gen_modules docs/sg_execution_times.rst
exec "$VENV/bin/python" -m sphinx -W --keep-going -b html "$@" docs docs/_build/html
