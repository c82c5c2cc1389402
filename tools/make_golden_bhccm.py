#!/usr/bin/env python3
"""PyTorch golden fixtures for BHCCM (merge block, head in every mode), L_HPC, L_HSC and JSPS.

An independent implementation of ../shared/docs/method.md sections 2-4, written from the text.
Writes tests/fixtures/bhccm/*.safetensors. Run with Debian's python3-torch:
    /usr/bin/python3 tools/make_golden_bhccm.py
"""
import itertools
import os
import sys
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_io import save  # noqa: E402

HERE = os.path.dirname(__file__)
OUT = os.path.join(HERE, "..", "tests", "fixtures", "bhccm")
torch.set_num_threads(1)


def load_tree(path):
    return tree_paths(yaml.safe_load(open(path)))


def tree_paths(doc):
    """Class counts per level and the valid paths of a hierarchy document (parents by name or id),
    by walking the parents from every leaf."""
    levels = []
    for li, lv in enumerate(doc["levels"]):
        cls = []
        for c in lv["classes"]:
            p = c.get("parent", [])
            p = p if isinstance(p, list) else [p]
            cls.append((c["name"], [q if isinstance(q, int) else levels[li - 1][0].index(q) for q in p]))
        levels.append(([c["name"] for c in lv["classes"]], cls))
    n = len(levels)

    def walk(level, c):
        if level == 0:
            return [[c]]
        return [up + [c] for p in levels[level][1][c][1] for up in walk(level - 1, p)]

    paths = [p for leaf in range(len(levels[-1][0])) for p in walk(n - 1, leaf)]
    return [len(l[0]) for l in levels], paths


class MergeBlock(nn.Module):
    def __init__(self, ka, kb, relu=False):
        super().__init__()
        self.fc = nn.Linear(ka, kb, bias=False)
        self.conv = nn.Conv2d(ka, kb, 1, bias=False)
        self.spatial = nn.Conv2d(2, 1, 7, padding=3, bias=False)
        self.relu = relu

    def forward(self, x):
        f = (lambda v: F.relu(self.fc(v))) if self.relu else self.fc
        gmp = F.adaptive_max_pool2d(x, 1).flatten(1)
        gap = F.adaptive_avg_pool2d(x, 1).flatten(1)
        c = torch.sigmoid(f(gmp) + f(gap))[:, :, None, None]
        s = torch.sigmoid(self.spatial(torch.cat([x.max(1, keepdim=True)[0], x.mean(1, keepdim=True)], 1)))
        return c * self.conv(x) * s


class Bhccm(nn.Module):
    """conv_seg = finest classifier, conv_seg_coarse.i = level i+1; bhccm.mb_a_b, bhccm.w/y/z scalars (1-based)."""

    def __init__(self, c, counts, mode, relu=False):
        super().__init__()
        n = len(counts)
        self.n, self.mode = n, mode
        self.conv_seg = nn.Conv2d(c, counts[-1], 1)
        self.conv_seg_coarse = nn.ModuleList([nn.Conv2d(c, k, 1) for k in counts[:-1]])
        self.bhccm = nn.Module()
        down = mode in ("c2f", "bi", "bires")
        up = mode in ("f2c", "bi", "bires")
        if down:
            for b in range(1, n):
                for a in range(b):
                    self.bhccm.add_module(f"mb_{a + 1}_{b + 1}", MergeBlock(counts[a], counts[b], relu))
                    self.bhccm.register_parameter(f"w{a + 1}{b + 1}", nn.Parameter(torch.ones(1)))
                self.bhccm.register_parameter(f"w{b + 1}{b + 1}", nn.Parameter(torch.ones(1)))
        if up:
            for b in range(n - 2, -1, -1):
                for a in range(n - 1, b, -1):
                    self.bhccm.add_module(f"mb_{a + 1}_{b + 1}", MergeBlock(counts[a], counts[b], relu))
                    self.bhccm.register_parameter(f"y{a + 1}{b + 1}", nn.Parameter(torch.ones(1)))
                self.bhccm.register_parameter(f"y{b + 1}{b + 1}", nn.Parameter(torch.ones(1)))
        if mode == "bires":
            for i in range(n):
                self.bhccm.register_parameter(f"z{i + 1}{i + 1}", nn.Parameter(torch.ones(1)))

    def p(self, name):
        return getattr(self.bhccm, name)

    def mb(self, a, b, x):
        return getattr(self.bhccm, f"mb_{a + 1}_{b + 1}")(x)

    def forward(self, feat):
        n = self.n
        zin = [conv(feat) for conv in self.conv_seg_coarse] + [self.conv_seg(feat)]
        if self.mode == "independent":
            return zin
        zm = zin
        if self.mode in ("c2f", "bi", "bires"):
            zm = [zin[0]]
            for b in range(1, n):
                acc = self.p(f"w{b + 1}{b + 1}") * zin[b]
                for a in range(b):
                    acc = acc + self.p(f"w{a + 1}{b + 1}") * self.mb(a, b, zin[a])
                zm.append(acc)
            if self.mode == "c2f":
                return zm
        zb = [None] * n
        zb[n - 1] = zm[n - 1]
        for b in range(n - 2, -1, -1):
            acc = self.p(f"y{b + 1}{b + 1}") * zm[b]
            for a in range(n - 1, b, -1):
                acc = acc + self.p(f"y{a + 1}{b + 1}") * self.mb(a, b, zm[a])
            zb[b] = acc
        if self.mode in ("f2c", "bi"):
            return zb
        return [zin[i] + self.p(f"z{i + 1}{i + 1}") * zb[i] for i in range(n)]


class ConvModule(nn.Module):
    """MMCV ConvModule: conv (no bias) -> BN -> ReLU, named conv / bn."""

    def __init__(self, cin, cout, k, padding=0, dilation=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=padding, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class UPerHead(Bhccm):
    """MMSegmentation's UPerHead (PPM 1,2,3,6 + FPN), its classifier replaced by BHCCM."""

    def __init__(self, in_channels, c, counts, mode, scales=(1, 2, 3, 6)):
        super().__init__(c, counts, mode)
        self.psp_modules = nn.ModuleList([nn.Sequential(nn.AdaptiveAvgPool2d(s), ConvModule(in_channels[-1], c, 1)) for s in scales])
        self.bottleneck = ConvModule(in_channels[-1] + len(scales) * c, c, 3, padding=1)
        self.lateral_convs = nn.ModuleList([ConvModule(k, c, 1) for k in in_channels[:-1]])
        self.fpn_convs = nn.ModuleList([ConvModule(c, c, 3, padding=1) for _ in in_channels[:-1]])
        self.fpn_bottleneck = ConvModule(len(in_channels) * c, c, 3, padding=1)

    def features(self, inputs):
        x = inputs[-1]
        psp = [x] + [F.interpolate(m(x), size=x.shape[2:], mode="bilinear", align_corners=False) for m in self.psp_modules]
        lat = [l(inputs[i]) for i, l in enumerate(self.lateral_convs)] + [self.bottleneck(torch.cat(psp, 1))]
        for i in range(len(lat) - 1, 0, -1):
            lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[2:], mode="bilinear", align_corners=False)
        outs = [self.fpn_convs[i](lat[i]) for i in range(len(lat) - 1)] + [lat[-1]]
        outs = [outs[0]] + [F.interpolate(o, size=outs[0].shape[2:], mode="bilinear", align_corners=False) for o in outs[1:]]
        return self.fpn_bottleneck(torch.cat(outs, 1))

    def forward(self, inputs):
        return super().forward(self.features(inputs))


class DSConv(nn.Module):
    """MMCV DepthwiseSeparableConvModule: depthwise_conv and pointwise_conv, each conv-BN-ReLU."""

    def __init__(self, cin, cout, k, padding=0, dilation=1):
        super().__init__()
        self.depthwise_conv = ConvModule(cin, cin, k, padding, dilation)
        self.depthwise_conv.conv = nn.Conv2d(cin, cin, k, padding=padding, dilation=dilation, groups=cin, bias=False)
        self.pointwise_conv = ConvModule(cin, cout, 1)

    def forward(self, x):
        return self.pointwise_conv(self.depthwise_conv(x))


class ASPPHead(Bhccm):
    """MMSegmentation's DepthwiseSeparableASPPHead (DeepLabV3+), its classifier replaced by BHCCM."""

    def __init__(self, in_channels, c, counts, mode, dilations=(1, 2, 3), c1=5):
        super().__init__(c, counts, mode)
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), ConvModule(in_channels[-1], c, 1))
        self.aspp_modules = nn.ModuleList([ConvModule(in_channels[-1], c, 1) if d == 1 else DSConv(in_channels[-1], c, 3, d, d) for d in dilations])
        self.bottleneck = ConvModule((len(dilations) + 1) * c, c, 3, padding=1)
        self.c1_bottleneck = ConvModule(in_channels[0], c1, 1)
        self.sep_bottleneck = nn.Sequential(DSConv(c + c1, c, 3, 1), DSConv(c, c, 3, 1))

    def forward(self, inputs):
        x = inputs[-1]
        outs = [F.interpolate(self.image_pool(x), size=x.shape[2:], mode="bilinear", align_corners=False)]
        outs += [m(x) for m in self.aspp_modules]
        y = self.bottleneck(torch.cat(outs, 1))
        low = self.c1_bottleneck(inputs[0])
        y = torch.cat([F.interpolate(y, size=low.shape[2:], mode="bilinear", align_corners=False), low], 1)
        return super().forward(self.sep_bottleneck(y))


def head_case(name, head, feats):
    with torch.no_grad():
        for _, p in head.named_parameters():
            p.copy_(torch.rand_like(p) + 0.5 if p.numel() == 1 else torch.randn_like(p) * 0.3)
    xs = [f.clone().requires_grad_(True) for f in feats]
    t = {f"p.{k}": v.detach().clone() for k, v in head.state_dict().items()}
    outs = head(xs)
    gys = [torch.randn_like(o) for o in outs]
    torch.autograd.backward(outs, gys)
    t.update({f"x{i}": f for i, f in enumerate(feats)})
    t.update({f"gx{i}": x.grad if x.grad is not None else torch.zeros_like(x) for i, x in enumerate(xs)})
    t.update({f"y{i}": o.detach() for i, o in enumerate(outs)})
    t.update({f"gy{i}": g for i, g in enumerate(gys)})
    t.update({f"gp.{k}": p.grad for k, p in head.named_parameters()})
    t.update({f"after.{k}": v.detach() for k, v in head.state_dict().items() if "running" in k})
    save(os.path.join(OUT, name + ".safetensors"), t)


def path_scores(logits, paths):
    """[N, P, H, W]: s_t = sum_i log_softmax(Z_i)[t_i]."""
    lsm = [F.log_softmax(z, 1) for z in logits]
    return torch.stack([sum(lsm[i][:, t[i]] for i in range(len(t))) for t in paths], 1)


def l_hpc(logits, labels, paths):
    s = path_scores(logits, paths)
    logp = s - torch.logsumexp(s, 1, keepdim=True)
    index = {tuple(t): k for k, t in enumerate(paths)}
    n, _, h, w = s.shape
    gt = torch.full((n, h, w), -1, dtype=torch.long)
    for b, y, x in itertools.product(range(n), range(h), range(w)):
        gt[b, y, x] = index.get(tuple(int(l[b, y, x]) for l in labels), -1)
    valid = gt >= 0
    if not valid.any():
        return logits[0].sum() * 0
    picked = logp.gather(1, gt.clamp(min=0)[:, None])[:, 0]
    return -(picked[valid]).mean()


def l_hce(logits, labels):
    # MMSegmentation's reduction: summed CE over non-ignored pixels divided by all pixels
    return sum(F.cross_entropy(z, y, ignore_index=255, reduction="sum") / y.numel() for z, y in zip(logits, labels))


def tree_min(logits, labels, paths, gamma=0.0, weight=1.0):
    """HSSN tree-min loss from explicit ancestor / descendant sets (read off the valid paths)."""
    n_levels = len(logits)
    s = [torch.sigmoid(z) for z in logits]
    total = 0
    for l in range(n_levels):
        k = logits[l].shape[1]
        down, up = [], []
        for c in range(k):
            anc = {(a, t[a]) for t in paths if t[l] == c for a in range(l)}
            des = {(d, t[d]) for t in paths if t[l] == c for d in range(l + 1, n_levels)}
            lo = s[l][:, c]
            for a, ca in anc:
                lo = torch.minimum(lo, s[a][:, ca])
            hi = s[l][:, c]
            for d, cd in des:
                hi = torch.maximum(hi, s[d][:, cd])
            down.append(lo)
            up.append(hi)
        down, up = torch.stack(down, 1), torch.stack(up, 1)
        y = labels[l]
        valid = (y != 255)
        if not valid.any():
            continue
        target = F.one_hot(y.clamp(max=k - 1), k).permute(0, 3, 1, 2).float() * valid[:, None]
        pos = down.clamp(1e-6, 1).log()
        neg = (1 - up).clamp(1e-6, 1).log()
        if gamma > 0:
            term = target * (1 - down).clamp(0, 1).pow(gamma) * pos + (1 - target) * up.clamp(0, 1).pow(gamma) * neg
        else:
            term = target * pos + (1 - target) * neg
        total = total - (term * valid[:, None]).sum() / valid.sum()
    return total * weight


def jsps(logits, paths):
    best = path_scores(logits, paths).argmax(1)
    table = torch.tensor(paths)
    return [table[:, i][best] for i in range(len(paths[0]))]


def main():
    os.makedirs(OUT, exist_ok=True)
    counts, paths = load_tree(os.path.join(OUT, "tree.yaml"))
    torch.manual_seed(1234)
    c, n, h, w = 6, 2, 5, 7
    feat = torch.randn(n, c, h, w)
    for mode in ["independent", "c2f", "f2c", "bi", "bires", "bires_relu"]:
        torch.manual_seed(zlib.crc32(mode.encode()))
        m = Bhccm(c, counts, mode.replace("_relu", ""), relu=mode.endswith("_relu"))
        with torch.no_grad():  # scalars away from 1 so every one matters
            for name, p in m.named_parameters():
                if p.numel() == 1:
                    p.copy_(torch.rand(1) + 0.5)
        x = feat.clone().requires_grad_(True)
        outs = m(x)
        gys = [torch.randn_like(o) for o in outs]
        torch.autograd.backward(outs, gys)
        t = {"x": feat, "gx": x.grad}
        for i, (o, g) in enumerate(zip(outs, gys)):
            t[f"y{i}"] = o.detach()
            t[f"gy{i}"] = g
        for name, p in m.named_parameters():
            t[f"p.{name}"] = p.detach()
            t[f"gp.{name}"] = p.grad
        save(os.path.join(OUT, f"head_{mode}.safetensors"), t)

    # UPerHead + BHCCM in training mode (batch-norm statistics included), features of 4 stages; batch 3, as
    # with 2 images the 1x1 pool's batch norm sees two values per channel and its input gradient is zero up to eps
    torch.manual_seed(77)
    head_case("uper_bires", UPerHead([4, 6, 8, 10], 6, counts, "bires"),
              [torch.randn(3, ch, sz, sz + 1) for ch, sz in [(4, 12), (6, 6), (8, 3), (10, 2)]])

    # DeepLabV3+ head + BHCCM in training mode; stage 1 and stage 4 features (dilated backbone: 1/8)
    torch.manual_seed(78)
    head_case("aspp_bires", ASPPHead([4, 6, 8, 10], 6, counts, "bires"),
              [torch.randn(3, ch, sz, sz + 1) for ch, sz in [(4, 12), (6, 6), (8, 6), (10, 6)]])

    # losses and JSPS on random logits; labels mix valid paths, invalid combinations and ignores
    torch.manual_seed(99)
    logits = [torch.randn(n, k, h, w) * 2 for k in counts]
    labels = []
    pick = torch.randint(0, len(paths), (n, h, w))
    for i in range(len(counts)):
        labels.append(torch.tensor(paths)[:, i][pick])
    labels[1][0, 0, :3] = 255            # partly labelled pixels: not valid for L_HPC, still in L_HCE
    labels[2][1, 2, 1:4] = 3             # w under A/a1 or a2: labelled but not a valid path
    labels[0][1, 4, :] = 255
    zs = [z.clone().requires_grad_(True) for z in logits]
    hce, hpc = l_hce(zs, labels), l_hpc(zs, labels, paths)
    hsc = hce + 2.0 * hpc
    hsc.backward()
    t = {f"z{i}": z for i, z in enumerate(logits)}
    t.update({f"label{i}": l for i, l in enumerate(labels)})
    t.update({"hce": hce.detach().reshape(1), "hpc": hpc.detach().reshape(1), "hsc": hsc.detach().reshape(1)})
    t.update({f"gz{i}": z.grad for i, z in enumerate(zs)})
    for i, lab in enumerate(jsps(logits, paths)):
        t[f"jsps{i}"] = lab
    for gamma, weight, key in [(0.0, 1.0, "tm"), (2.0, 5.0, "tmfocal")]:
        zs = [z.clone().requires_grad_(True) for z in logits]
        v = tree_min(zs, labels, paths, gamma, weight)
        v.backward()
        t[key] = v.detach().reshape(1)
        t.update({f"g{key}{i}": z.grad for i, z in enumerate(zs)})
    save(os.path.join(OUT, "loss_jsps.safetensors"), t)


if __name__ == "__main__":
    main()
