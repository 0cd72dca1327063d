#!/usr/bin/env python3
"""Reference feature maps from torchvision itself, for privsplit's PyTorch weight import (issue 11).

For each of torchvision's `vgg16`, `resnet50` and `efficientnet_b0`: builds the model with seeded random
weights (eval mode; batch-norm weight, bias, running mean and running variance randomised too, so the import
of every one of them matters), saves its state dict as a zip `.pth` (torch.save), a legacy (pre-1.6, non-zip)
`.pth` and a safetensors file, and saves one seeded input image and the feature map at every partition point
of privsplit's staged model (the output of every stage: VGG-16 conv+ReLU / pool / fc+ReLU; ResNet-50 stem,
bottleneck blocks, head; EfficientNet-B0 stem, MBConv blocks, head) to `<arch>_reference.safetensors`
(`input`: [1, 3, size, size]; `k<k>`: the feature map at partition point k, flattened to
[1, features, 1, 1] after a fully connected layer).

Then run privsplit's side of the check:
    PYTHONPATH=$(bash bench/install-pytorch.sh) python3 bench/torchvision_reference.py --out /tmp/tvref
    cargo run --release -p privsplit-models --example torchvision_agreement -- /tmp/tvref

Never used by CI (it needs torch, torchvision and the Python `safetensors` package; install-pytorch.sh
installs all three into a cache folder).

Usage: torchvision_reference.py --out DIR [--size 64] [--seed 0] [--arch vgg16,resnet50,efficientnet_b0]
"""
import argparse
import json
import os

import torch
import torch.nn as nn
import torchvision
from safetensors.numpy import save_file as save_numpy


def save_file(tensors: dict, path: str) -> None:
    """safetensors through its numpy API (its torch API needs the `packaging` module)."""
    save_numpy({k: v.detach().cpu().numpy() for k, v in tensors.items()}, path)


def randomise(model: nn.Module, seed: int) -> None:
    """Seeded weights everywhere; batch-norm statistics away from their (0, 1) defaults."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
                m.num_batches_tracked.fill_(7)


def stages(arch: str, model: nn.Module):
    """privsplit's stages as callables on the previous stage's output (same boundaries as crates/models zoo.rs)."""
    out = []
    if arch == "vgg16":
        feats = list(model.features)
        i = 0
        while i < len(feats):
            if isinstance(feats[i], nn.Conv2d):
                out.append(nn.Sequential(feats[i], feats[i + 1]))  # conv + ReLU
                i += 2
            else:
                out.append(feats[i])  # max pool
                i += 1
        c = model.classifier
        out.append(lambda x: c[1](c[0](torch.flatten(model.avgpool(x), 1))))  # fc6 (+ReLU; dropout: eval)
        out.append(lambda x: c[4](c[3](x)))  # fc7
        out.append(lambda x: c[6](x))  # fc8
    elif arch == "resnet50":
        out.append(nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool))
        for layer in [model.layer1, model.layer2, model.layer3, model.layer4]:
            out.extend(layer)
        out.append(lambda x: model.fc(torch.flatten(model.avgpool(x), 1)))
    elif arch == "efficientnet_b0":
        out.append(model.features[0])
        for g in range(1, 8):
            out.extend(model.features[g])
        out.append(lambda x: model.classifier(torch.flatten(model.avgpool(model.features[8](x)), 1)))
    else:
        raise SystemExit(f"unknown --arch {arch!r}: expected vgg16, resnet50 or efficientnet_b0")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arch", default="vgg16,resnet50,efficientnet_b0")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    summary = {}
    for arch in args.arch.split(","):
        model = getattr(torchvision.models, arch)(weights=None).eval()
        randomise(model, args.seed)
        sd = {k: v.contiguous() for k, v in model.state_dict().items()}
        torch.save(sd, os.path.join(args.out, f"{arch}.pth"))
        torch.save(sd, os.path.join(args.out, f"{arch}_legacy.pth"), _use_new_zipfile_serialization=False)
        save_file(sd, os.path.join(args.out, f"{arch}.safetensors"))
        g = torch.Generator().manual_seed(args.seed + 1)
        x = torch.randn(1, 3, args.size, args.size, generator=g)
        ref = {"input": x}
        with torch.no_grad():
            y = x
            for k, stage in enumerate(stages(arch, model), start=1):
                y = stage(y)
                ref[f"k{k}"] = (y if y.dim() == 4 else y.reshape(y.shape[0], -1, 1, 1)).contiguous()
            full = model(x)
        # The staged pass is the model's own forward pass.
        assert torch.allclose(full.reshape(-1), y.reshape(-1), rtol=0, atol=0), arch
        save_file(ref, os.path.join(args.out, f"{arch}_reference.safetensors"))
        summary[arch] = {"partition_points": len(ref) - 1, "input": list(x.shape)}
    meta = {"torch": torch.__version__, "torchvision": torchvision.__version__, "size": args.size,
            "seed": args.seed, "models": summary}
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
