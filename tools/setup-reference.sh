#!/bin/sh
# Create the Python environment that regenerates sdcl's reference fixtures.
#
#   tools/setup-reference.sh [VENV_DIR]
#
# VENV_DIR defaults to tests/reference/.venv (git-ignored).  The script
# creates a virtual environment there with `python3 -m venv` (override the
# interpreter with PYTHON=/path/to/python3.11) and pip-installs the pinned
# tests/reference/requirements.txt into it.  torch is taken from PyTorch's
# CPU wheel index (the fixtures are computed on the CPU; no CUDA needed);
# set TORCH_INDEX_URL to use another index, or TORCH_INDEX_URL= (empty) to
# install torch from PyPI like the rest.
#
# Then:  VENV_DIR/bin/python tests/reference/gen_fixtures.py
# Neither the build nor the test suite needs this: fixtures are committed.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-"$root/tests/reference/.venv"}
python=${PYTHON:-python3}
req="$root/tests/reference/requirements.txt"
torch_index=${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}

if [ ! -x "$venv/bin/python" ]; then
    echo "creating virtual environment in $venv"
    "$python" -m venv "$venv"
fi

"$venv/bin/python" -m pip install --upgrade pip
if [ -n "$torch_index" ]; then
    # torch first, from the CPU index; everything else from PyPI.
    torch_req=$(grep -E '^torch==' "$req")
    "$venv/bin/python" -m pip install --extra-index-url "$torch_index" "$torch_req"
fi
"$venv/bin/python" -m pip install -r "$req"

"$venv/bin/python" - <<'EOF'
import diffusers, numpy, safetensors, torch, transformers
print('reference stack: torch %s, diffusers %s, transformers %s, safetensors %s, numpy %s'
      % (torch.__version__, diffusers.__version__, transformers.__version__,
         safetensors.__version__, numpy.__version__))
EOF
echo "done: $venv/bin/python tests/reference/gen_fixtures.py"
