#!/usr/bin/env python3
"""Writes PyTorch golden fixtures for the engine's ops to tests/fixtures/ops/.

Each fixture holds float inputs x0.., integer inputs i0.., the output y, a random upstream
gradient gy, and the input gradients g0.. of backward(gy). Run with Debian's python3-torch:
    /usr/bin/python3 tools/make_golden.py
"""
import os
import zlib
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_io import save  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "ops")
torch.set_num_threads(1)


def case(name, fn, xs, ints=(), grad=None, extra=None):
    torch.manual_seed(zlib.crc32(name.encode()))
    grad = grad if grad is not None else [True] * len(xs)
    xs = [x.clone().detach().requires_grad_(g) for x, g in zip(xs, grad)]
    y = fn(*xs, *ints)
    t = {f"x{k}": x.detach() for k, x in enumerate(xs)}
    t.update({f"i{k}": i for k, i in enumerate(ints)})
    if y.dtype == torch.int64:
        t["y"] = y
    else:
        t["y"] = y.detach()
        if y.requires_grad:
            gy = torch.randn_like(y)
            y.backward(gy)
            t["gy"] = gy
            for k, x in enumerate(xs):
                if x.grad is not None:
                    t[f"g{k}"] = x.grad
    if extra:
        t.update({f"extra.{k}": v.detach() for k, v in extra().items()})
    save(os.path.join(OUT, name + ".safetensors"), t)


def r(*shape):
    return torch.randn(*shape)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    # elementwise, broadcasting
    case("add_broadcast", lambda a, b: a + b, [r(2, 3, 4), r(3, 1)])
    case("sub_broadcast", lambda a, b: a - b, [r(2, 1, 4), r(3, 1)])
    case("mul_broadcast", lambda a, b: a * b, [r(2, 3, 4), r(4)])
    case("div", lambda a, b: a / b, [r(3, 4), r(3, 4).abs() + 0.5])
    case("maximum", lambda a, b: torch.maximum(a, b), [r(3, 4), r(3, 4)])
    for op in ["relu", "gelu", "sigmoid", "tanh", "exp", "abs", "neg"]:
        fn = {"relu": F.relu, "gelu": F.gelu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
              "exp": torch.exp, "abs": torch.abs, "neg": torch.neg}[op]
        case(op, fn, [r(2, 3, 5)])
    case("log", torch.log, [r(2, 3, 5).abs() + 0.1])
    case("sqrt", torch.sqrt, [r(2, 3, 5).abs() + 0.1])
    case("pow3", lambda x: x.pow(3), [r(2, 3, 5)])
    case("clamp", lambda x: x.clamp(-0.5, 0.7), [r(4, 5)])
    # reductions and softmax family
    case("sum_dims", lambda x: x.sum(dim=(0, 2)), [r(3, 4, 5)])
    case("sum_keep", lambda x: x.sum(dim=1, keepdim=True), [r(3, 4, 5)])
    case("mean_all", lambda x: x.mean(), [r(3, 4, 5)])
    case("mean_dim", lambda x: x.mean(dim=-1), [r(3, 4, 5)])
    case("max_dim", lambda x: x.max(dim=1)[0], [r(3, 4, 5)])
    case("min_dim", lambda x: x.min(dim=2)[0], [r(3, 4, 5)])
    case("argmax", lambda x: x.argmax(dim=1), [r(3, 4, 5)], grad=[False])
    case("softmax_c", lambda x: F.softmax(x, dim=1), [r(2, 5, 3, 4)])
    case("softmax_last", lambda x: F.softmax(x, dim=-1), [r(3, 7)])
    case("log_softmax_c", lambda x: F.log_softmax(x, dim=1), [r(2, 5, 3, 4)])
    case("log_softmax_last", lambda x: F.log_softmax(x, dim=-1), [r(3, 7) * 10])
    case("logsumexp_c", lambda x: torch.logsumexp(x, dim=1), [r(2, 5, 3, 4)])
    case("logsumexp_last", lambda x: torch.logsumexp(x, dim=-1, keepdim=True), [r(3, 7)])
    # shape ops
    case("permute_contig", lambda x: x.permute(2, 0, 1).contiguous() * 1.0, [r(2, 3, 4)])
    case("transpose_reshape", lambda x: x.transpose(0, 1).reshape(4, -1), [r(2, 4, 3)])
    case("narrow", lambda x: x.narrow(1, 1, 2) * 2.0, [r(3, 4, 5)])
    case("expand", lambda x: x.expand(3, 4, 5) * 1.0, [r(1, 4, 1)])
    case("cat", lambda a, b, c: torch.cat([a, b, c], dim=1), [r(2, 3, 4), r(2, 1, 4), r(2, 2, 4)])
    case("stack", lambda a, b: torch.stack([a, b], dim=2), [r(2, 3), r(2, 3)])
    case("split_chunk", lambda x: torch.cat([p * (k + 1) for k, p in enumerate(torch.chunk(x, 3, dim=1))], dim=1), [r(2, 7, 3)])
    # matmul
    case("mm", lambda a, b: a @ b, [r(5, 7), r(7, 3)])
    case("bmm", lambda a, b: torch.bmm(a, b), [r(2, 5, 7), r(2, 7, 3)])
    case("matmul_nd", lambda a, b: a @ b, [r(2, 3, 7), r(7, 4)])
    case("linear", F.linear, [r(2, 3, 5), r(4, 5), r(4)])
    case("linear_nobias", lambda x, w: F.linear(x, w), [r(6, 5), r(4, 5)])
    # convolution
    case("conv3x3", lambda x, w, b: F.conv2d(x, w, b, padding=1), [r(2, 3, 7, 6), r(4, 3, 3, 3), r(4)])
    case("conv3x3_s2", lambda x, w: F.conv2d(x, w, stride=2, padding=1), [r(2, 3, 9, 8), r(5, 3, 3, 3)])
    case("conv_dilated", lambda x, w, b: F.conv2d(x, w, b, padding=2, dilation=2), [r(1, 4, 9, 9), r(3, 4, 3, 3), r(3)])
    case("conv_groups", lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=2), [r(2, 4, 6, 6), r(6, 2, 3, 3), r(6)])
    case("conv_dw7", lambda x, w, b: F.conv2d(x, w, b, padding=3, groups=4), [r(2, 4, 9, 10), r(4, 1, 7, 7), r(4)])
    case("conv_dw3_s2", lambda x, w: F.conv2d(x, w, stride=2, padding=1, groups=3), [r(2, 3, 9, 8), r(3, 1, 3, 3)])
    case("conv1x1", lambda x, w, b: F.conv2d(x, w, b), [r(2, 6, 5, 5), r(4, 6, 1, 1), r(4)])
    case("conv1x1_s2", lambda x, w: F.conv2d(x, w, stride=2), [r(2, 6, 7, 7), r(4, 6, 1, 1)])
    case("conv_big_single", lambda x, w: F.conv2d(x, w, padding=1), [r(1, 3, 70, 66), r(4, 3, 3, 3)])
    case("conv7x7_s2_p3", lambda x, w: F.conv2d(x, w, stride=2, padding=3), [r(2, 3, 15, 13), r(4, 3, 7, 7)])
    # wide enough for the Winograd path (3x3, stride 1, >= 16 channels), odd sizes for partial tiles
    case("conv3x3_wide", lambda x, w, b: F.conv2d(x, w, b, padding=1), [r(2, 16, 32, 33), r(24, 16, 3, 3) * 0.2, r(24)])
    case("conv3x3_wide_nopad", lambda x, w: F.conv2d(x, w), [r(1, 16, 36, 34), r(16, 16, 3, 3) * 0.2])
    case("conv3x3_wide_big", lambda x, w: F.conv2d(x, w, padding=1), [r(1, 24, 40, 37), r(16, 24, 3, 3) * 0.2])
    case("conv_rect", lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=(0, 1)), [r(2, 2, 7, 6), r(3, 2, 3, 2)])
    # normalisation
    rm, rv = torch.randn(4), torch.rand(4) + 0.5
    state = {}

    def bn_train(x, w, b):
        state["rm"], state["rv"] = rm.clone(), rv.clone()
        return F.batch_norm(x, state["rm"], state["rv"], w, b, training=True, momentum=0.1, eps=1e-5)
    case("batch_norm_train", bn_train, [r(3, 4, 5, 6) * 2 + 1, r(4), r(4)],
         extra=lambda: {"running_mean_in": rm, "running_var_in": rv, "running_mean": state["rm"], "running_var": state["rv"]})
    case("batch_norm_eval", lambda x, w, b, m, v: F.batch_norm(x, m, v, w, b, training=False, eps=1e-5),
         [r(3, 4, 5, 6), r(4), r(4), rm, rv], grad=[True, True, True, False, False])
    case("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b, eps=1e-5), [r(2, 6, 4, 5) * 3, r(6), r(6)])
    case("layer_norm_last", lambda x, w, b: F.layer_norm(x, (8,), w, b, eps=1e-6), [r(2, 3, 8) * 2 + 1, r(8), r(8)])
    case("layer_norm_cf", lambda x, w, b: F.layer_norm(x.permute(0, 2, 3, 1), (5,), w, b, eps=1e-6).permute(0, 3, 1, 2),
         [r(2, 5, 3, 4), r(5), r(5)])
    # pooling
    case("max_pool_3s2p1", lambda x: F.max_pool2d(x, 3, 2, 1), [r(2, 3, 9, 8)])
    case("max_pool_stem", lambda x: F.max_pool2d(x, 3, 2, 1), [torch.randint(-3, 4, (2, 3, 11, 37)).float()])  # ties
    case("max_pool_ceil", lambda x: F.max_pool2d(x, 2, 2, ceil_mode=True), [r(1, 2, 7, 5)])
    case("avg_pool_3s2p1", lambda x: F.avg_pool2d(x, 3, 2, 1), [r(2, 3, 9, 8)])
    case("avg_pool_nopad_count", lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [r(2, 3, 9, 8)])
    case("avg_pool_ceil", lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True), [r(1, 2, 8, 7)])
    for s in [1, 2, 3, 6]:
        case(f"adaptive_avg_{s}", lambda x, s=s: F.adaptive_avg_pool2d(x, s), [r(2, 3, 7, 9)])
    case("adaptive_max_3", lambda x: F.adaptive_max_pool2d(x, 3), [r(2, 3, 7, 9)])
    # interpolation
    case("bilinear_size", lambda x: F.interpolate(x, size=(11, 7), mode="bilinear", align_corners=False), [r(2, 3, 5, 6)])
    case("bilinear_size_ac", lambda x: F.interpolate(x, size=(11, 7), mode="bilinear", align_corners=True), [r(2, 3, 5, 6)])
    case("bilinear_down", lambda x: F.interpolate(x, size=(4, 3), mode="bilinear", align_corners=False), [r(1, 2, 9, 10)])
    case("bilinear_scale2", lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False), [r(2, 3, 5, 6)])
    case("bilinear_scale_half", lambda x: F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False), [r(1, 2, 9, 8)])
    case("bilinear_scale_ac", lambda x: F.interpolate(x, scale_factor=3, mode="bilinear", align_corners=True), [r(1, 2, 4, 5)])
    case("nearest_size", lambda x: F.interpolate(x, size=(7, 10), mode="nearest"), [r(2, 3, 5, 4)])
    case("nearest_scale", lambda x: F.interpolate(x, scale_factor=0.5, mode="nearest"), [r(1, 2, 9, 8)])
    # indexing
    idx = torch.tensor([[[0, 2], [1, 1], [3, 0]], [[2, 2], [0, 1], [3, 3]]])
    case("gather", lambda x, i: torch.gather(x, 2, i), [r(2, 3, 4)], ints=(idx,))
    case("index_select", lambda x, i: torch.index_select(x, 1, i), [r(2, 4, 3)], ints=(torch.tensor([3, 0, 3, 1]),))
    cond = (torch.rand(3, 4) > 0.5).long()
    case("where", lambda a, b, c: torch.where(c.bool(), a, b), [r(3, 4), r(1, 4)], ints=(cond,))
    case("masked_fill", lambda a, c: a.masked_fill(c.bool(), -2.5), [r(3, 4)], ints=(cond,))
    # cross-entropy
    tgt = torch.randint(0, 5, (2, 3, 4))
    tgt[0, 0, :2] = 255
    wts = torch.rand(5) + 0.5
    case("ce_mean_ignore", lambda x, t: F.cross_entropy(x, t, ignore_index=255), [r(2, 5, 3, 4)], ints=(tgt,))
    case("ce_weighted", lambda x, w, t: F.cross_entropy(x, t, weight=w, ignore_index=255), [r(2, 5, 3, 4), wts], ints=(tgt,), grad=[True, False])
    case("ce_sum", lambda x, t: F.cross_entropy(x, t, ignore_index=255, reduction="sum"), [r(2, 5, 3, 4)], ints=(tgt,))
    case("ce_none", lambda x, t: F.cross_entropy(x, t, ignore_index=255, reduction="none"), [r(2, 5, 3, 4)], ints=(tgt,))
    case("ce_mean_all", lambda x, w, t: F.cross_entropy(x, t, weight=w, ignore_index=255, reduction="none").mean(),
         [r(2, 5, 3, 4), wts], ints=(tgt,), grad=[True, False])
    case("ce_2d", lambda x, t: F.cross_entropy(x, t), [r(6, 4)], ints=(torch.tensor([0, 3, 1, 2, 3, 0]),))
    # grid sample (deformable attention sampling)
    grid = torch.rand(2, 4, 5, 2) * 2.4 - 1.2
    case("grid_sample", lambda x, g: F.grid_sample(x, g, mode="bilinear", padding_mode="zeros", align_corners=False),
         [r(2, 3, 6, 7), grid])
    optimizers()
    blocks()
    # rows wide enough for the vector paths (16 and 8 lanes) and their tails
    case("bilinear_scale4_wide", lambda x: F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False), [r(2, 3, 6, 13)])
    case("bilinear_size_wide", lambda x: F.interpolate(x, size=(19, 45), mode="bilinear", align_corners=False), [r(1, 2, 7, 12)])
    case("bilinear_size_wide_ac", lambda x: F.interpolate(x, size=(9, 61), mode="bilinear", align_corners=True), [r(1, 2, 5, 17)])
    # few input and output channels (BHCCM's spatial gate: 2 -> 1, 7x7)
    case("conv7x7_2to1", lambda x, w: F.conv2d(x, w, padding=3), [r(2, 2, 21, 37), r(1, 2, 7, 7)])
    case("conv5x5_3to2_dil", lambda x, w, b: F.conv2d(x, w, b, padding=4, dilation=2), [r(1, 3, 17, 29), r(2, 3, 5, 5), r(2)])
    print(f"wrote {len(os.listdir(OUT))} fixtures to {os.path.abspath(OUT)}")


class ConvModule(torch.nn.Module):
    def __init__(self, cin, cout, k, padding=0):
        super().__init__()
        self.conv = torch.nn.Conv2d(cin, cout, k, padding=padding, bias=False)
        self.bn = torch.nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class FpnHead(torch.nn.Module):
    """The FPN-style head of the benchmark (mirrors HieraRS.Domain.Models.FpnHead)."""

    def __init__(self, in_channels, channels, num_classes):
        super().__init__()
        self.lateral_convs = torch.nn.ModuleList(torch.nn.Conv2d(c, channels, 1) for c in in_channels)
        self.fuse = ConvModule(channels * len(in_channels), channels, 3, padding=1)
        self.conv_seg = torch.nn.Conv2d(channels, num_classes, 1)

    def forward(self, feats):
        size = feats[0].shape[2:]
        ups = [F.interpolate(l(f), size=size, mode="bilinear", align_corners=False) if i else l(f)
               for i, (l, f) in enumerate(zip(self.lateral_convs, feats))]
        return self.conv_seg(self.fuse(torch.cat(ups, 1)))


class ConvNeXtBlock(torch.nn.Module):
    """Official ConvNeXt block layout (dwconv, norm, pwconv1, act, pwconv2, gamma)."""

    def __init__(self, dim):
        super().__init__()
        self.dwconv = torch.nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = torch.nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = torch.nn.Linear(dim, 4 * dim)
        self.pwconv2 = torch.nn.Linear(4 * dim, dim)
        self.gamma = torch.nn.Parameter(torch.randn(dim) * 0.5)

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y)))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


def block_case(name, module, inputs):
    """Fixture of a whole module in training mode: parameters, output, input and parameter gradients."""
    torch.manual_seed(zlib.crc32(name.encode()))
    for p in module.parameters():  # non-trivial values everywhere, BN affine included
        with torch.no_grad():
            p.copy_(torch.randn_like(p) * (0.3 if p.dim() > 1 else 0.5))
    t = {f"param.{k}": v.detach().clone() for k, v in module.state_dict().items()}
    xs = [x.clone().requires_grad_() for x in inputs]
    y = module(xs if len(xs) > 1 else xs[0])
    gy = torch.randn_like(y)
    y.backward(gy)
    t.update({f"x{k}": x.detach() for k, x in enumerate(xs)})
    t.update({f"gx{k}": x.grad for k, x in enumerate(xs)})
    t.update({"y": y.detach(), "gy": gy})
    t.update({f"grad.{k}": p.grad for k, p in module.named_parameters()})
    t.update({f"after.{k}": v.detach() for k, v in module.state_dict().items() if "running" in k})
    save(os.path.join(OUT, name + ".safetensors"), t)


def blocks():
    from torchvision.models.resnet import BasicBlock
    torch.manual_seed(11)
    down = torch.nn.Sequential(torch.nn.Conv2d(8, 16, 1, 2, bias=False), torch.nn.BatchNorm2d(16))
    block_case("block_resnet_basic", BasicBlock(8, 16, 2, down), [torch.randn(2, 8, 10, 9)])
    block_case("block_convnext", ConvNeXtBlock(16), [torch.randn(2, 16, 9, 8)])
    feats = [torch.randn(2, c, s, s) for c, s in [(8, 16), (16, 8), (32, 4), (64, 2)]]
    block_case("block_fpn_head", FpnHead([8, 16, 32, 64], 12, 5), feats)


def optimizers():
    """Several steps of SGD and AdamW on two parameter groups with fixed gradients."""
    torch.manual_seed(7)
    p0, p1 = torch.randn(3, 4), torch.randn(5)
    grads = [(torch.randn(3, 4), torch.randn(5)) for _ in range(5)]
    setups = {
        "optim_sgd": lambda a, b: torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.05, "weight_decay": 0.0}],
                                                  lr=0.1, momentum=0.9, weight_decay=1e-2, nesterov=True),
        "optim_sgd_plain": lambda a, b: torch.optim.SGD([a, b], lr=0.1, momentum=0.9, dampening=0.1, weight_decay=5e-4),
        "optim_adamw": lambda a, b: torch.optim.AdamW([{"params": [a]}, {"params": [b], "lr": 1e-2, "weight_decay": 0.0}],
                                                      lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
    }
    for name, make in setups.items():
        a, b = p0.clone().requires_grad_(), p1.clone().requires_grad_()
        opt = make(a, b)
        t = {"p0": p0, "p1": p1}
        for k, (ga, gb) in enumerate(grads):
            a.grad, b.grad = ga.clone(), gb.clone()
            opt.step()
            t[f"grad{k}.0"], t[f"grad{k}.1"] = ga, gb
            t[f"step{k}.0"], t[f"step{k}.1"] = a.detach().clone(), b.detach().clone()
        save(os.path.join(OUT, name + ".safetensors"), t)


if __name__ == "__main__":
    main()
