#!/usr/bin/env bash
# Installs PyTorch (and torchvision) from PyPI into a cache folder, on demand, for the side-by-side benchmarks and
# numerical cross-checks under bench/. Never used by CI or at run time. The PyPI Linux wheel is the CUDA build
# (about 4.7 GB installed); it runs on the CPU.
#   bash bench/install-pytorch.sh        -> prints the folder to put on PYTHONPATH
# Versions are pinned so ratios stay comparable between runs; override with TORCH_VERSION / TORCHVISION_VERSION.
set -euo pipefail
dir="${PRIVSPLIT_TORCH_DIR:-$HOME/.cache/privsplit-torch}"
torch_v="${TORCH_VERSION:-2.13.0}"
vision_v="${TORCHVISION_VERSION:-0.28.0}"
if ! PYTHONPATH="$dir" python3 -c "import torch, torchvision, safetensors" >/dev/null 2>&1; then
    echo "install-pytorch: installing torch==$torch_v torchvision==$vision_v into $dir (several GB, once)" >&2
    python3 -m pip install -q --disable-pip-version-check --target "$dir" "torch==$torch_v" "torchvision==$vision_v" "safetensors==0.6.2" >&2
fi
echo "$dir"
