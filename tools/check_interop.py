#!/usr/bin/env python3
"""Checks that weights move both ways between HieraRS and PyTorch through safetensors.

    /usr/bin/python3 tools/check_interop.py

1. Python writes torchvision resnet18 weights (random, with non-trivial BN statistics), an input and
   torch's eval-mode pooled features; tools/Interop loads them by name into HieraRS' ResNet-18 and
   compares its own output.
2. tools/Interop writes its own ResNet-18 state dict; Python loads it into torchvision with
   strict=True (names, shapes, the I64 num_batches_tracked) and compares the outputs.
Uses tools/safetensors_io.py (the safetensors format, since Debian has no python3-safetensors).
"""
import os
import subprocess
import sys
import tempfile

import torch
from torchvision.models import resnet18

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_io import load, save  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")


def features(m, x):
    b = m
    y = b.maxpool(b.relu(b.bn1(b.conv1(x))))
    for layer in (b.layer1, b.layer2, b.layer3, b.layer4):
        y = layer(y)
    return y.mean(dim=(2, 3))


def main():
    torch.manual_seed(0)
    m = resnet18()
    del m.fc
    m.train()
    with torch.no_grad():
        features(m, torch.randn(2, 3, 64, 64))  # non-trivial running statistics
    m.eval()
    x = torch.randn(2, 3, 96, 80)
    with torch.no_grad():
        y = features(m, x)
    with tempfile.TemporaryDirectory() as d:
        a, b = os.path.join(d, "torch.safetensors"), os.path.join(d, "hierars.safetensors")
        save(a, {**{f"model.{k}": v for k, v in m.state_dict().items()}, "x": x, "y": y})
        subprocess.run(["dotnet", "run", "-c", "Release", "--project", os.path.join(ROOT, "tools", "Interop"), "--", a, b], check=True)
        t, meta = load(b)
        assert meta.get("writer") == "hierars", meta
        assert t["model.bn1.num_batches_tracked"].dtype == torch.int64
        own = resnet18()
        del own.fc
        own.load_state_dict({k[6:]: v for k, v in t.items() if k.startswith("model.")}, strict=True)
        own.eval()
        with torch.no_grad():
            y_own = features(own, t["x"])
        d1 = (t["y_in"] - y).abs().max().item()
        d2 = (t["y_own"] - y_own).abs().max().item()
        print(f"torch -> hierars: max |diff| {d1:.3g}; hierars -> torch: max |diff| {d2:.3g}")
        if max(d1, d2) > 1e-3:
            raise SystemExit("interop check FAILED")
        print("interop check passed")


if __name__ == "__main__":
    main()
