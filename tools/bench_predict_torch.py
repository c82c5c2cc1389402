#!/usr/bin/env python3
"""PyTorch twin of `hierars predict`: MMSegmentation's "slide" inference of the same network (the
checkpoint's ResNet-18 UPerNet + BHCCM, weights loaded from the HieraRS checkpoint by name) over a
scene of the same size, then joint path selection; prints one JSON line with seconds, Mpx/s and peak RSS.

    /usr/bin/python3 tools/bench_predict_torch.py CHECKPOINT --size 4096 [--window 512] [--overlap 64] [--threads 2]

MMSeg's slide keeps the whole image and a [1, C, H, W] sum of logits (C = all levels' classes) in
memory, as it does; the image is random (speed and memory do not depend on its content).
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F
import yaml

sys.path.insert(0, os.path.dirname(__file__))
from bench_torch import resnet_features  # noqa: E402
from make_golden_bhccm import UPerHead, path_scores, tree_paths  # noqa: E402
from safetensors_io import load  # noqa: E402


class Net(torch.nn.Module):
    def __init__(self, bands, channels, counts, mode):
        super().__init__()
        from torchvision.models import resnet18
        self.backbone = resnet18()
        self.backbone.conv1 = torch.nn.Conv2d(bands, 64, 7, 2, 3, bias=False)
        del self.backbone.fc
        self.decode_head = UPerHead([64, 128, 256, 512], channels, counts, mode)

    def forward(self, x):
        outs = self.decode_head(resnet_features(self.backbone, x))
        return [F.interpolate(z, size=x.shape[2:], mode="bilinear", align_corners=False) for z in outs]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--overlap", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    tensors, meta = load(a.checkpoint)
    model_meta = json.loads(meta["model"])
    counts, paths = tree_paths(yaml.safe_load(meta["hierarchy"]))
    bands = int(meta["bands"])
    mode = {"bidirectional_residual": "bires"}[model_meta["mode"]]
    net = Net(bands, model_meta["channels"], counts, mode).eval()
    state = {k: v for k, v in tensors.items() if not k.startswith("optimizer.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert not [k for k in missing if "num_batches" not in k], missing
    torch.manual_seed(0)
    img = torch.randn(1, bands, a.size, a.size)
    win, stride = a.window, a.window - a.overlap
    t0 = time.perf_counter()
    with torch.no_grad():
        # mmseg EncoderDecoder.slide_inference
        h, w = a.size, a.size
        hg = max(h - win + stride - 1, 0) // stride + 1
        wg = max(w - win + stride - 1, 0) // stride + 1
        preds = [torch.zeros(1, k, h, w) for k in counts]
        count = torch.zeros(1, 1, h, w)
        for hi in range(hg):
            for wi in range(wg):
                y1, x1 = hi * stride, wi * stride
                y2, x2 = min(y1 + win, h), min(x1 + win, w)
                y1, x1 = max(y2 - win, 0), max(x2 - win, 0)
                outs = net(img[:, :, y1:y2, x1:x2])
                for p, o in zip(preds, outs):
                    p[:, :, y1:y2, x1:x2] += o
                count[:, :, y1:y2, x1:x2] += 1
        logits = [p / count for p in preds]
        best = torch.zeros(1, h, w, dtype=torch.long)
        for r0 in range(0, h, 256):  # JSPS in row chunks (the path scores of a whole scene do not fit)
            best[:, r0:r0 + 256] = path_scores([z[:, :, r0:r0 + 256] for z in logits], paths).argmax(1)
    secs = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"size": a.size, "windows": hg * wg, "seconds": round(secs, 2), "mpx_per_s": round(h * w / 1e6 / secs, 3), "peak_rss_mb": round(rss)}))


if __name__ == "__main__":
    main()
