#!/usr/bin/env python3
"""PyTorch golden fixtures for whole backbones: ResNet V1c (Bottleneck, dilated to output stride 8,
MMSegmentation's ResNetV1c layout) and ConvNeXt (the official segmentation layout), written from their
papers / reference code's structure, scaled down in width so the fixtures stay small.
Writes tests/fixtures/models/*.safetensors:  /usr/bin/python3 tools/make_golden_models.py
"""
import copy
import os
import sys
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_io import save  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "models")
torch.set_num_threads(1)


PRE_RELU = []  # inputs of every ReLU of the last forward, to keep fixtures away from the kink


def relu(x):
    PRE_RELU.append(x.detach())
    return F.relu(x)


class Bottleneck(nn.Module):
    def __init__(self, inp, planes, stride, down, dilation):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, dilation, dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        if down is not None:
            self.downsample = down

    def forward(self, x):
        idt = self.downsample(x) if hasattr(self, "downsample") else x
        y = relu(self.bn1(self.conv1(x)))
        y = relu(self.bn2(self.conv2(y)))
        return relu(self.bn3(self.conv3(y)) + idt)


class Relu(nn.Module):
    def forward(self, x):
        return relu(x)


class ResNetV1c(nn.Module):
    """Deep stem (3 convs), Bottleneck stages; output stride 8: strides 1,2,1,1, dilations 1,1,2,4 with the
    first block of a dilated stage at half the dilation (contract_dilation)."""

    def __init__(self, blocks, inc, base):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(inc, base // 2, 3, 2, 1, bias=False), nn.BatchNorm2d(base // 2), Relu(),
                                  nn.Conv2d(base // 2, base // 2, 3, 1, 1, bias=False), nn.BatchNorm2d(base // 2), Relu(),
                                  nn.Conv2d(base // 2, base, 3, 1, 1, bias=False), nn.BatchNorm2d(base), Relu())
        inp = base
        for s, (n, stride, dil) in enumerate(zip(blocks, [1, 2, 1, 1], [1, 1, 2, 4])):
            planes = base * 2 ** s
            layer = []
            for b in range(n):
                down = None
                if b == 0 and (stride != 1 or inp != planes * 4):
                    down = nn.Sequential(nn.Conv2d(inp, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))
                d = (dil // 2 if dil > 1 else 1) if b == 0 else dil
                layer.append(Bottleneck(inp, planes, stride if b == 0 else 1, down, d))
                inp = planes * 4
            setattr(self, f"layer{s + 1}", nn.Sequential(*layer))

    def forward(self, x):
        x = F.max_pool2d(self.stem(x), 3, 2, 1)
        outs = []
        for s in range(4):
            x = getattr(self, f"layer{s + 1}")(x)
            outs.append(x)
        return outs


class LayerNorm2d(nn.Module):
    """LayerNorm over channels of [N, C, H, W] (ConvNeXt's channels_first)."""

    def __init__(self, c, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.eps = eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y)))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    def __init__(self, depths, dims, inc):
        super().__init__()
        self.downsample_layers = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(inc, dims[0], 4, 4), LayerNorm2d(dims[0]))]
            + [nn.Sequential(LayerNorm2d(dims[i - 1]), nn.Conv2d(dims[i - 1], dims[i], 2, 2)) for i in range(1, 4)])
        self.stages = nn.ModuleList([nn.Sequential(*[Block(dims[i]) for _ in range(depths[i])]) for i in range(4)])
        for i in range(4):
            self.add_module(f"norm{i}", LayerNorm2d(dims[i]))

    def forward(self, x):
        outs = []
        for i in range(4):
            x = self.stages[i](self.downsample_layers[i](x))
            outs.append(getattr(self, f"norm{i}")(x))
        return outs


def run(model, params, x, gys=None):
    """Forward (and, with gys, backward) from the given parameters; returns every compared tensor."""
    model.load_state_dict(params)
    xr = x.clone().requires_grad_(True)
    PRE_RELU.clear()
    outs = model(xr)
    res = {f"y{i}": o.detach() for i, o in enumerate(outs)}
    if gys is not None:
        model.zero_grad()
        torch.autograd.backward(outs, [g.to(x.dtype) for g in gys])
        res["gx"] = xr.grad
        res.update({f"grad.{k}": p.grad for k, p in model.named_parameters()})
        res.update({f"after.{k}": v.detach().clone() for k, v in model.state_dict().items() if "running" in k})
    return res


def error(a, ref):
    """Golden.AssertClose's measure: max |a - ref| / (|ref| + 0.1 max|ref|)."""
    d = (a.double() - ref).abs()
    return (d / (ref.abs() + 0.1 * ref.abs().max())).max().item()


def case(name, model, x, margin=1e-5, trials=8):
    """Random parameters, redrawn until no ReLU input lies within `margin` of 0: there float rounding
    (ours against PyTorch's) could flip the ReLU and the gradients would legitimately differ.

    The reference is computed in float64 (the exact answer, not PyTorch's float32 rounding). How far a
    correct float32 implementation may land from it depends on the tensor: deep in a training-mode
    network every batch norm amplifies rounding, so a gradient of the first stage can move by 1e-4 of its
    scale when the inputs move by one ulp. That sensitivity is measured here, per tensor, as the largest
    error of float32 runs whose parameters and input are jittered by one ulp (and which must keep every
    ReLU on the same side), and stored as tol.<key>; the test allows a small multiple of it."""
    seed = zlib.crc32(name.encode())
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for attempt in range(200):
        torch.manual_seed(seed + attempt)
        model.load_state_dict(state)
        with torch.no_grad():
            for k, p in model.named_parameters():
                p.copy_(torch.randn_like(p) * (0.3 if p.dim() > 1 else 0.5) + (1.0 if k.endswith("gamma") else 0.0))
            PRE_RELU.clear()
            model(x)
            model.load_state_dict({**model.state_dict(), **{k: v for k, v in state.items() if "running" in k or "num_batches" in k}})
        if not PRE_RELU or min(t.abs().min().item() for t in PRE_RELU) > margin:
            break
    else:
        raise RuntimeError(f"{name}: no parameters keep every ReLU input {margin} away from 0")
    params = {k: v.detach().clone() for k, v in model.state_dict().items()}
    gys = [torch.randn_like(o) for o in model(x)]
    model.load_state_dict(params)  # the probe forward above moved the running statistics
    model64 = copy.deepcopy(model).double()
    ref = run(model64, {k: v.double() if v.is_floating_point() else v for k, v in params.items()}, x.double(), gys)
    signs = [p > 0 for p in PRE_RELU]
    sensitivity = dict.fromkeys(ref, 0.0)
    for trial in range(trials):
        torch.manual_seed(seed + 1000 + trial)
        jitter = lambda v: v * (1 + (torch.rand_like(v) * 2 - 1) * 2.0 ** -23) if v.is_floating_point() else v
        out = run(model, {k: jitter(v) for k, v in params.items()}, jitter(x), gys)
        if any(((p > 0) != s).any() for p, s in zip(PRE_RELU, signs)):
            raise RuntimeError(f"{name}: a one-ulp jitter flips a ReLU; redraw with a larger margin")
        for k in ref:
            sensitivity[k] = max(sensitivity[k], error(out[k], ref[k]))
    t = {f"param.{k}": v for k, v in params.items()}
    t["x"] = x
    t.update({k: v.float() for k, v in ref.items()})
    t.update({f"gy{i}": g for i, g in enumerate(gys)})
    t.update({f"tol.{k}": torch.tensor([v], dtype=torch.float32) for k, v in sensitivity.items()})
    worst = max(sensitivity, key=sensitivity.get)
    print(f"{name}: most sensitive {worst} ({sensitivity[worst]:.2e}), least {min(sensitivity.values()):.2e}")
    save(os.path.join(OUT, name + ".safetensors"), t)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(5)
    case("resnet50_v1c_os8", ResNetV1c([3, 4, 6, 3], 4, 8), torch.randn(2, 4, 25, 22))
    case("convnext_custom", ConvNeXt([1, 1, 2, 1], [8, 16, 24, 32], 4), torch.randn(2, 4, 64, 64))


if __name__ == "__main__":
    main()
