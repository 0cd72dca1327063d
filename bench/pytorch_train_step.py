#!/usr/bin/env python3
"""One training step of each network of `privsplit bench train`, in PyTorch on the CPU (the same networks,
batch, losses and optimisers as crates/experiments/src/bench/train.rs):

- adversary-cnn: the collateral adversary CNN (Ryffel et al. 2019, Sec. 5): Linear k->784 -> [1, 28, 28] ->
  conv5x5 20 -> maxpool 2 -> conv5x5 50 -> maxpool 2 -> FC 800->500 -> FC 500->classes, ReLU between;
  cross-entropy; SGD lr 0.01, momentum 0.9.
- cgan-pool1: the c-GAN of the Fashion-MNIST sweep at the pool1 partition point (crates/attacks/src/cgan.rs,
  decoder.rs): generator = decoder [32, 14, 14] -> conv3x3 24 -> nearest x2 -> conv3x3 12 -> conv3x3 1 ->
  sigmoid; PatchGAN discriminator = 1x1 conv of the feature map to 8 channels, nearest resize to 28x28,
  concatenated with the image, conv4x4/2 16, conv4x4/2 32 (leaky ReLU 0.2), conv3x3 1; BCE on patch
  logits + 100 x L1; Adam lr 2e-3, betas (0.5, 0.999); one discriminator step + one generator step.
- quadratic: the quadratic network (Ryffel et al. 2019): Linear 784->40 -> square -> Linear 40->4 (no bias)
  -> ReLU -> Linear 4->32 -> ReLU -> Linear 32->10; cross-entropy; SGD lr 0.01, momentum 0.9.

Prints one JSON line: {"framework": "pytorch", "network": ..., "median_ms": ..., "steps": ..., ...}.

Usage: pytorch_train_step.py [--network adversary-cnn|cgan-pool1|quadratic] [--batch 128] [--k 4]
       [--classes 2] [--steps 20] [--warmup 3] [--threads N]
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class CnnAdversary(nn.Module):
    def __init__(self, k: int, classes: int):
        super().__init__()
        self.expand = nn.Linear(k, 28 * 28)
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(50 * 4 * 4, 500)
        self.fc2 = nn.Linear(500, classes)

    def forward(self, z):
        x = F.relu(self.expand(z)).view(-1, 1, 28, 28)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


class Decoder(nn.Module):
    """crates/attacks/src/decoder.rs for a spatial feature map [c, 14, 14] -> [1, 28, 28], channels 24/12."""

    def __init__(self, c: int):
        super().__init__()
        self.inp = nn.Conv2d(c, 24, 3, padding=1)
        self.up = nn.Conv2d(24, 12, 3, padding=1)
        self.out = nn.Conv2d(12, 1, 3, padding=1)

    def forward(self, z):
        x = F.relu(self.inp(z))
        x = F.relu(self.up(F.interpolate(x, size=(28, 28), mode="nearest")))
        return torch.sigmoid(self.out(x))


class Discriminator(nn.Module):
    """crates/attacks/src/cgan.rs: cond 8 channels, disc 16 channels."""

    def __init__(self, c: int):
        super().__init__()
        self.cond = nn.Conv2d(c, 8, 1)
        self.c1 = nn.Conv2d(1 + 8, 16, 4, 2, 1)
        self.c2 = nn.Conv2d(16, 32, 4, 2, 1)
        self.out = nn.Conv2d(32, 1, 3, padding=1)

    def forward(self, img, z):
        c = F.interpolate(self.cond(z), size=img.shape[2:], mode="nearest")
        x = F.leaky_relu(self.c1(torch.cat([img, c], 1)), 0.2)
        return self.out(F.leaky_relu(self.c2(x), 0.2))


class Quadratic(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(784, 40)
        self.out = nn.Linear(40, 4, bias=False)
        self.fc1 = nn.Linear(4, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        z = self.out(self.proj(x).square())
        return self.fc2(F.relu(self.fc1(F.relu(z))))


def classifier_step(model, x, y, lr=0.01, momentum=0.9):
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return step


def cgan_step(batch: int, c: int = 32, side: int = 14):
    g, d = Decoder(c), Discriminator(c)
    og = torch.optim.Adam(g.parameters(), 2e-3, betas=(0.5, 0.999))
    od = torch.optim.Adam(d.parameters(), 2e-3, betas=(0.5, 0.999))
    z = torch.rand(batch, c, side, side)
    img = torch.rand(batch, 1, 28, 28)

    def step():
        od.zero_grad()
        fake = g(z).detach()
        (F.softplus(-d(img, z)).mean() + F.softplus(d(fake, z)).mean()).backward()
        od.step()
        og.zero_grad()
        fake = g(z)
        (F.softplus(-d(fake, z)).mean() + 100.0 * (fake - img).abs().mean()).backward()
        og.step()

    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--network", default="adversary-cnn", choices=["adversary-cnn", "cgan-pool1", "quadratic"])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0 keeps the default")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    if a.network == "adversary-cnn":
        step = classifier_step(CnnAdversary(a.k, a.classes), torch.randn(a.batch, a.k),
                               torch.randint(0, a.classes, (a.batch,)))
    elif a.network == "quadratic":
        step = classifier_step(Quadratic(), torch.rand(a.batch, 784), torch.randint(0, 10, (a.batch,)))
    else:
        step = cgan_step(a.batch)
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        step()
        dt = (time.perf_counter() - t0) * 1000.0
        if i >= a.warmup:
            times.append(dt)
    print(json.dumps({
        "framework": "pytorch",
        "network": a.network,
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch": a.batch,
        "steps": a.steps,
        "median_ms": statistics.median(times),
        "min_ms": min(times),
    }))


if __name__ == "__main__":
    main()
