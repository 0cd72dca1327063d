#!/usr/bin/env bash
# One command for a GPU check on a machine with an NVIDIA GPU: builds privsplit with `--features cuda`, then runs
# the training benchmark (`privsplit bench train`) and a small Fashion-MNIST sweep subset (partition points 2 and
# 4, c-GAN + inverse network + rMLE) once with `--device cuda` and once with `--device flex` (the CPU), and prints
# both side by side. Outputs go to $OUT (default runs/gpu-check-<UTC time>/).
#
#   bash scripts/gpu-check.sh            # needs: nvidia-smi (driver), Rust, python3 + pip for the LLVM wheels
#   DEVICES=flex bash scripts/gpu-check.sh   # the same steps on the CPU only (no cuda build): checks the script
#
# What the build needs, installed here without any download at build time:
#   - LLVM 23.1 for CubeCL (scripts/install-llvm.sh: PyPI mlc-llvm-static + NVPTX);
#   - libdevice.10.bc for CUDA math: $CUDA_PATH/nvvm/libdevice; when CUDA_PATH is unset and /usr/local/cuda
#     is absent, PyPI nvidia-cuda-nvcc-cu12 (into ~/.cache/privsplit-cuda) provides it.
# cudarc picks the CUDA API version from the build system; set CUDARC_CUDA_VERSION (e.g. 12080) to pin it.
# Exit codes: 0 done, 4 no NVIDIA GPU/driver or no Fashion-MNIST, other = the failing step's.
set -euo pipefail
cd "$(dirname "$0")/.."

devices="${DEVICES:-cuda flex}"
case " $devices " in *" cuda "*) with_cuda=1 ;; *) with_cuda=0 ;; esac
if [ "$with_cuda" = 1 ] && { ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; }; then
    echo "gpu-check: no NVIDIA GPU or driver (nvidia-smi -L failed); nothing to check" >&2
    exit 4
fi
fmnist=/usr/share/datasets/fashion-mnist
if [ ! -d "$fmnist" ]; then
    echo "gpu-check: Fashion-MNIST missing at $fmnist; run: bash scripts/install-deps.sh" >&2
    exit 4
fi
features=()
if [ "$with_cuda" = 1 ]; then
    bash scripts/install-llvm.sh
    features=(--features cuda)
    if [ -z "${CUDA_PATH:-}" ]; then
        if [ -d /usr/local/cuda/nvvm/libdevice ]; then
            export CUDA_PATH=/usr/local/cuda
        else
            wheels="${PRIVSPLIT_CUDA_DIR:-$HOME/.cache/privsplit-cuda}"
            if [ ! -d "$wheels/nvidia/cuda_nvcc/nvvm/libdevice" ]; then
                echo "gpu-check: installing libdevice from PyPI nvidia-cuda-nvcc-cu12 into $wheels"
                python3 -m pip install -q --disable-pip-version-check --no-deps --target "$wheels" nvidia-cuda-nvcc-cu12
            fi
            export CUDA_PATH="$wheels/nvidia/cuda_nvcc"
        fi
    fi
    echo "gpu-check: $(nvidia-smi -L | head -1); CUDA_PATH=$CUDA_PATH"
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/gpu-check}"
echo "gpu-check: devices: $devices; building privsplit ${features[*]:-(CPU only)}"
time cargo build --release -p privsplit-cli "${features[@]}"
bin="$CARGO_TARGET_DIR/release/privsplit"
out="${OUT:-runs/gpu-check-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
threads="${THREADS:-$(nproc)}"

for dev in $devices; do
    echo "== $dev: privsplit bench train --device $dev --threads $threads"
    "$bin" bench train --device "$dev" --threads "$threads" --no-pytorch | tee "$out/bench-train-$dev.md"
    echo "== $dev: privsplit sweep --device $dev --points 2,4 --eval-images 32"
    start=$(date +%s.%N)
    "$bin" sweep --device "$dev" --threads "$threads" --points 2,4 --eval-images 32 --data-dir "$fmnist" \
        --out "$out/sweep-$dev" 2> "$out/sweep-$dev.log" | tee "$out/sweep-$dev.txt"
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f\n", b - a }' > "$out/sweep-$dev.seconds"
done

echo
echo "== $devices side by side ($threads CPU threads), outputs in $out"
for f in $devices; do
    echo "-- bench train on $f"; cat "$out/bench-train-$f.md"
done
for f in $devices; do
    printf 'sweep subset (points 2,4) on %s: %s s\n' "$f" "$(cat "$out/sweep-$f.seconds")"
done
