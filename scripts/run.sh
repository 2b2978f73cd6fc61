#!/usr/bin/env bash
# The main job: set up the environment, then run the end-to-end demo on the bundled Adult data
# (train a skorch classifier, explain held-out rows, check them against exact Shapley values).
# Extra arguments go to the demo, e.g. `bash scripts/run.sh --quick`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
exec "$VENV/bin/python" -m sklxai.demo "$@"
