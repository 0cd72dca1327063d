#!/usr/bin/env python3
"""One training step of the collateral adversary CNN (Ryffel et al. 2019, Sec. 5) in PyTorch, on CPU.

Same network and batch as `privsplit bench train`: Linear k->784 -> [1, 28, 28] -> conv5x5 20 -> maxpool 2
-> conv5x5 50 -> maxpool 2 -> FC 800->500 -> FC 500->classes, ReLU between; cross-entropy; SGD lr 0.01,
momentum 0.9. Prints one JSON line: {"framework": "pytorch", "median_ms": ..., "steps": ..., ...}.

Usage: pytorch_train_step.py [--batch 128] [--k 4] [--classes 2] [--steps 20] [--warmup 3] [--threads N]
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


def main():
    ap = argparse.ArgumentParser()
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
    model = CnnAdversary(a.k, a.classes)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    z = torch.randn(a.batch, a.k)
    y = torch.randint(0, a.classes, (a.batch,))
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(z), y)
        loss.backward()
        opt.step()
        dt = (time.perf_counter() - t0) * 1000.0
        if i >= a.warmup:
            times.append(dt)
    print(json.dumps({
        "framework": "pytorch",
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch": a.batch,
        "steps": a.steps,
        "median_ms": statistics.median(times),
        "min_ms": min(times),
    }))


if __name__ == "__main__":
    main()
