#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image; the zip is
# unpacked in /autograder/source. It installs the kit with the versions pinned in
# constraints.txt, CPU-only torch (Gradescope has no GPU and the CUDA wheels are GBs),
# and prepares the offline dataset so no submission pays for it.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"

if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    apt-get update -q
    apt-get install -y -q python3 python3-pip
fi
# torch/torchvision first from the CPU wheel index, at the pinned versions.
"$PYTHON" -m pip install --no-cache-dir --constraint constraints.txt \
    --index-url "$TORCH_INDEX_URL" --extra-index-url https://pypi.org/simple torch torchvision
"$PYTHON" -m pip install --no-cache-dir --constraint constraints.txt .
"$PYTHON" -m autograder --course course.yaml data prepare
