#!/usr/bin/env python3
"""PyTorch side of the benchmark: times one case and prints one JSON line.

    /usr/bin/python3 tools/bench_torch.py CASE [--threads 2] [--warmup W] [--iters N]

The cases mirror bench/HieraRS.Bench exactly (same shapes, same network layout); seconds are the
median per iteration after warm-up, peak_rss_mb the process's peak resident set.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from make_golden import FpnHead  # noqa: E402  (same head as the C# FpnHead)


def resnet_features(b, x):
    """The four stage outputs of a torchvision ResNet (strides 4 to 32), as HieraRS's ResNet.ForwardFeatures."""
    y = b.maxpool(b.relu(b.bn1(b.conv1(x))))
    feats = []
    for layer in (b.layer1, b.layer2, b.layer3, b.layer4):
        y = layer(y)
        feats.append(y)
    return feats


class ResNetFpn(torch.nn.Module):
    def __init__(self, num_classes=15, channels=128):
        super().__init__()
        from torchvision.models import resnet18
        self.backbone = resnet18()
        del self.backbone.fc
        self.decode_head = FpnHead([64, 128, 256, 512], channels, num_classes)

    def forward(self, x):
        return F.interpolate(self.decode_head(resnet_features(self.backbone, x)), size=x.shape[2:], mode="bilinear", align_corners=False)


def make_case(name):
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    if name == "sgemm":
        a, b = r(2048, 2048), r(2048, 2048)
        return lambda: torch.mm(a, b)
    if name in ("conv3x3", "dwconv7", "batchnorm", "bilinear"):
        if name == "conv3x3":
            x, w = r(8, 64, 112, 112).requires_grad_(), r(64, 64, 3, 3).requires_grad_()
            f = lambda: F.conv2d(x, w, padding=1)  # noqa: E731
        elif name == "dwconv7":
            x, w, bias = r(8, 96, 56, 56).requires_grad_(), r(96, 1, 7, 7).requires_grad_(), r(96).requires_grad_()
            f = lambda: F.conv2d(x, w, bias, padding=3, groups=96)  # noqa: E731
        elif name == "batchnorm":
            x, w, bias = r(8, 64, 112, 112).requires_grad_(), r(64).requires_grad_(), r(64).requires_grad_()
            rm, rv = torch.zeros(64), torch.ones(64)
            f = lambda: F.batch_norm(x, rm, rv, w, bias, training=True)  # noqa: E731
        else:
            x = r(8, 64, 56, 56).requires_grad_()
            f = lambda: F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)  # noqa: E731
        gy = f().detach().normal_(generator=g)

        def step():
            y = f()
            y.backward(gy)
        return step
    if name == "resnet18-fpn-train-step":
        torch.manual_seed(0)
        model = ResNetFpn().train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
        x = r(8, 3, 224, 224)
        t = torch.randint(0, 15, (8, 224, 224), generator=g)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), t, ignore_index=255)
            loss.backward()
            opt.step()
        return step
    raise SystemExit(f"unknown case {name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    step = make_case(a.case)
    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"case": a.case, "seconds": statistics.median(times), "peak_rss_mb": peak,
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
