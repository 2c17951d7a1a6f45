#!/usr/bin/env bash
# Sets up a virtual environment for fastgan (make setup / train / test call this): the venv,
# torch (the CUDA build where a GPU is present, else the CPU build), then fastgan itself
# (editable) with its test tools. Idempotent: what is there already is kept.
#   scripts/setup.sh PYTHON VENV
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating the virtual environment $venv (it also sees $python's own packages)"
  "$python" -m venv --system-site-packages "$venv"
fi
py="$venv/bin/python"
if "$py" -c "import torch" 2>/dev/null; then
  echo "setup: torch $("$py" -c 'import torch; print(torch.__version__)') is there"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "setup: installing torch (a GPU is present: pip's default build, with CUDA)"
  "$py" -m pip install torch
else
  echo "setup: installing torch's CPU build (no GPU found), from PyTorch's CPU wheel index"
  "$py" -m pip install torch --index-url https://download.pytorch.org/whl/cpu
fi
echo "setup: installing fastgan (editable) and its test tools (pytest, pytest-benchmark)"
"$py" -m pip install -q -e ".[dev]"
echo "setup: done ($venv)"
