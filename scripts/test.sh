#!/usr/bin/env bash
# The whole test suite (core and plugins), after setting up the environment.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -x -k kernel`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
exec "$VENV/bin/python" -m pytest -q "$@"
