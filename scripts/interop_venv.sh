#!/usr/bin/env bash
# The PaddleOCR interoperability environment: paddleocr 3.7 in a virtual environment of its own (it pins numpy < 2.4
# and opencv-contrib 4.10, which ocrtrain's environment does not use). tests/pipeline/test_paddleocr_interop.py reads our
# exported models with it.
#   bash scripts/interop_venv.sh [DIR]        (default: .venv-paddleocr; DIR/ready is written when complete)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv-paddleocr}"
mkdir -p "$VENV"
rm -f "$VENV/ready" "$VENV/failed"
LOG="$VENV/build.log"
trap 'status=$?; [ $status -eq 0 ] || { tail -50 "$LOG" > "$VENV/failed"; cat "$VENV/failed" >&2; }' EXIT
exec > >(tee "$LOG") 2>&1
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "paddleocr==3.7.0" "paddlepaddle==3.3.1"
"$VENV/bin/python" -c "import paddleocr, paddle; print('paddleocr', paddleocr.__version__, 'paddle', paddle.__version__)"
touch "$VENV/ready"
