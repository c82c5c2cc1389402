#!/usr/bin/env python3
"""PyTorch golden fixtures for TransLU's CDKS (method.md §5): multi-scale deformable attention with one
level (Deformable DETR's MSDeformAttn with its pure-PyTorch core, as ViT-Adapter uses it) and a whole
injector (Linear source projection, deformable cross-attention, ConvFFN, per-channel gates), forward and
backward. Written from the papers' reference structure, independently of the C# code.
Writes tests/fixtures/translu/*.safetensors:  /usr/bin/python3 tools/make_golden_translu.py
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_io import save  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "translu")
torch.set_num_threads(1)


def ms_deform_attn_core(value, shapes, locations, weights):
    """value [N, S, M, D] (levels concatenated), locations [N, Lq, M, L, P, 2] in [0, 1], weights [N, Lq, M, L, P]."""
    n, _, m, d = value.shape
    _, lq, _, levels, points, _ = locations.shape
    per_level = value.split([h * w for h, w in shapes], dim=1)
    grids = 2 * locations - 1
    sampled = []
    for lid, (h, w) in enumerate(shapes):
        v = per_level[lid].flatten(2).transpose(1, 2).reshape(n * m, d, h, w)
        g = grids[:, :, :, lid].transpose(1, 2).flatten(0, 1)
        sampled.append(F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False))
    weights = weights.transpose(1, 2).reshape(n * m, 1, lq, levels * points)
    out = (torch.stack(sampled, dim=-2).flatten(-2) * weights).sum(-1).view(n, m * d, lq)
    return out.transpose(1, 2).contiguous()


class MSDeformAttn(nn.Module):
    def __init__(self, d_model, n_heads, n_points, ratio, n_levels=1):
        super().__init__()
        self.h, self.p, self.l = n_heads, n_points, n_levels
        self.dv = int(d_model * ratio)
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, self.dv)
        self.output_proj = nn.Linear(self.dv, d_model)

    def reference_init(self):
        """Deformable DETR's _reset_parameters (checked against the C# initialisation)."""
        nn.init.constant_(self.sampling_offsets.weight, 0.0)
        thetas = torch.arange(self.h, dtype=torch.float32) * (2.0 * math.pi / self.h)
        grid = torch.stack([thetas.cos(), thetas.sin()], -1)
        grid = (grid / grid.abs().max(-1, keepdim=True)[0]).view(self.h, 1, 1, 2).repeat(1, self.l, self.p, 1)
        for i in range(self.p):
            grid[:, :, i, :] *= i + 1
        with torch.no_grad():
            self.sampling_offsets.bias = nn.Parameter(grid.view(-1))

    def forward(self, query, reference, value_in, h, w):
        n, lq, _ = query.shape
        value = self.value_proj(value_in).view(n, h * w, self.h, self.dv // self.h)
        offsets = self.sampling_offsets(query).view(n, lq, self.h, self.l, self.p, 2)
        weights = F.softmax(self.attention_weights(query).view(n, lq, self.h, self.l * self.p), -1).view(n, lq, self.h, self.l, self.p)
        normalizer = torch.tensor([[w, h]], dtype=torch.float32)
        locations = reference[:, :, None, None, None, :] + offsets / normalizer[None, None, None, :, None, :]
        return self.output_proj(ms_deform_attn_core(value, [(h, w)], locations, weights))


class DWConv(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dwconv = nn.Conv2d(c, c, 3, 1, 1, groups=c)

    def forward(self, x, h, w):
        n, _, c = x.shape
        return self.dwconv(x.transpose(1, 2).view(n, c, h, w)).flatten(2).transpose(1, 2)


class ConvFFN(nn.Module):
    def __init__(self, c, hidden):
        super().__init__()
        self.fc1 = nn.Linear(c, hidden)
        self.dwconv = DWConv(hidden)
        self.fc2 = nn.Linear(hidden, c)

    def forward(self, x, h, w):
        return self.fc2(F.gelu(self.dwconv(self.fc1(x), h, w)))


def reference_points(n, h, w):
    ys, xs = torch.meshgrid(torch.linspace(0.5, h - 0.5, h) / h, torch.linspace(0.5, w - 0.5, w) / w, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], -1)[None].repeat(n, 1, 1)


class Injector(nn.Module):
    def __init__(self, c1, c2, heads, points, ratio, ffn_ratio):
        super().__init__()
        self.proj = nn.Linear(c2, c1)
        self.query_norm = nn.LayerNorm(c1, eps=1e-6)
        self.feat_norm = nn.LayerNorm(c1, eps=1e-6)
        self.attn = MSDeformAttn(c1, heads, points, ratio)
        self.gamma = nn.Parameter(torch.zeros(c1))
        self.ffn_norm = nn.LayerNorm(c1, eps=1e-6)
        self.ffn = ConvFFN(c1, int(c1 * ffn_ratio))
        self.ffn_gamma = nn.Parameter(torch.zeros(c1))

    def forward(self, x1map, x2map):
        n, c, h, w = x1map.shape
        x1 = x1map.flatten(2).transpose(1, 2)
        x2 = x2map.flatten(2).transpose(1, 2)
        f = self.proj(x2)
        x1 = x1 + self.gamma * self.attn(self.query_norm(x1), reference_points(n, h, w), self.feat_norm(f), h, w)
        x1 = x1 + self.ffn_gamma * self.ffn(self.ffn_norm(x1), h, w)
        return x1.transpose(1, 2).reshape(n, c, h, w)


def randomise(module, offset_scale):
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "sampling_offsets" in name:
                p.copy_(torch.randn_like(p) * offset_scale)  # offsets of a few pixels, away from whole-pixel kinks
            elif p.dim() == 1 and ("norm" in name or "gamma" in name):
                p.copy_(torch.rand_like(p) + 0.5)
            else:
                p.copy_(torch.randn_like(p) * 0.3)


def case(name, module, inputs, forward):
    t = {f"p.{k}": v.detach().clone() for k, v in module.state_dict().items()}
    xs = [x.clone().requires_grad_(True) for x in inputs]
    y = forward(*xs)
    gy = torch.randn_like(y)
    y.backward(gy)
    t.update({f"x{i}": x for i, x in enumerate(inputs)})
    t.update({f"gx{i}": x.grad for i, x in enumerate(xs)})
    t.update({"y0": y.detach(), "gy0": gy})
    t.update({f"gp.{k}": p.grad for k, p in module.named_parameters()})
    save(os.path.join(OUT, name + ".safetensors"), t)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(5)

    # deformable attention: 4 heads, 3 points, value width 0.5 on a 4 x 5 map, batch 2
    attn = MSDeformAttn(16, 4, 3, 0.5)
    randomise(attn, 0.8)
    h, w = 4, 5
    query = torch.randn(2, h * w, 16)
    ref = reference_points(2, h, w) + torch.randn(2, h * w, 2) * 0.05
    value = torch.randn(2, h * w, 16)
    case("msda", attn, [query, ref, value], lambda q, r, v: attn(q, r, v, h, w))

    # its reference initialisation (sampling offset bias ring), for the C# constructor
    init = MSDeformAttn(32, 8, 4, 0.5)
    init.reference_init()
    save(os.path.join(OUT, "msda_init.safetensors"), {"sampling_offsets.bias": init.sampling_offsets.bias.detach()})

    # a whole injector: target width 16, source width 24, 4 heads, 2 points, value ratio 0.5, ConvFFN 1/4
    inj = Injector(16, 24, 4, 2, 0.5, 0.25)
    randomise(inj, 0.8)
    x1 = torch.randn(2, 16, 4, 5)
    x2 = torch.randn(2, 24, 4, 5)
    case("injector", inj, [x1, x2], inj)


if __name__ == "__main__":
    main()
