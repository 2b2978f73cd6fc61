#!/usr/bin/env bash
# Look at an sklxai HTML report the way a reader will: render it in headless Chromium, save a
# screenshot and check that it is not blank.
#
#   bash scripts/check_report.sh [REPORT.html [OUT.png]]
#
# Without REPORT.html, the demo's report is made first (sklxai demo --quick --device cpu, about
# half a minute on a laptop CPU). OUT.png defaults to /tmp/report_screenshot.png. The window is
# 1280 x $HEIGHT pixels (default 6400: the whole demo report). Needs a Chromium binary (Debian:
# `apt-get install -y chromium`; set CHROMIUM to use another) and the project's .venv (or set
# PYTHON). The page is opened from a file:// URL with networking features off: a self-contained
# report needs nothing else.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
HEIGHT="${HEIGHT:-6400}"
OUT="${2:-/tmp/report_screenshot.png}"

CHROMIUM="${CHROMIUM:-}"
if [[ -z "$CHROMIUM" ]]; then
    for name in chromium chromium-browser google-chrome google-chrome-stable; do
        if command -v "$name" >/dev/null 2>&1; then CHROMIUM="$(command -v "$name")"; break; fi
    done
fi
if [[ -z "$CHROMIUM" ]]; then
    echo "check_report: no Chromium binary found (Debian: apt-get install -y chromium)" >&2
    exit 3
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
if [[ $# -ge 1 ]]; then
    REPORT="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
    [[ -f "$REPORT" ]] || { echo "check_report: no such file: $1" >&2; exit 3; }
else
    REPORT="$WORK/report.html"
    (cd "$WORK" && "$PYTHON" -m sklxai.cli demo --quick --device cpu --report "$REPORT")
fi

"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$WORK/profile" --screenshot="$OUT" --window-size="1280,$HEIGHT" \
    "file://$REPORT" 2>"$WORK/chromium.log" || { cat "$WORK/chromium.log" >&2; exit 1; }

"$PYTHON" - "$OUT" <<'EOF'
import sys

import matplotlib.image

pixels = matplotlib.image.imread(sys.argv[1])[..., :3]
spread = float(pixels.reshape(-1, 3).std(axis=0).max())
if spread < 0.05:
    sys.exit(f"check_report: the screenshot {sys.argv[1]} looks blank (pixel std {spread:.3f})")
print(f"check_report: {sys.argv[1]}: {pixels.shape[1]}x{pixels.shape[0]} pixels, "
      f"pixel std {spread:.3f}: not blank; look at it to judge the layout")
EOF
