#!/usr/bin/env python3
"""Fixtures for weight import (tests/fixtures/import), written by Debian's PyTorch 1.13:
- torchvision_resnet18_stem.pt: the stem and layer1 of a torchvision ResNet-18 state dict (zip format),
  with the same tensors as safetensors (the truth the reader must reproduce exactly);
- mmseg_nested_legacy.pt: an MMSegmentation-style checkpoint ({meta, state_dict: backbone./decode_head.},
  DataParallel's module. prefix, a float16 and a bfloat16 tensor, a non-contiguous view), legacy format;
- evil_os_system.pt / evil_eval.pkl: pickles whose globals would run code if unpickled by pickle.load.
   /usr/bin/python3 tools/make_golden_import.py
"""
import collections
import os
import pickle
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_io import save  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "import")


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/hierars-pwned",))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    sd = torchvision.models.resnet18().state_dict()
    part = collections.OrderedDict((k, v) for k, v in sd.items() if k.startswith(("conv1.", "bn1.", "layer1.")))
    torch.save(part, os.path.join(OUT, "torchvision_resnet18_stem.pt"))
    save(os.path.join(OUT, "torchvision_resnet18_stem.safetensors"), {k: v.float() for k, v in part.items()})

    base = torch.randn(6, 5)
    nested = collections.OrderedDict([
        ("module.backbone.conv1.weight", torch.randn(4, 3, 3, 3)),
        ("module.backbone.bn1.num_batches_tracked", torch.tensor(7)),
        ("module.decode_head.conv_seg.weight", torch.randn(5, 4, 1, 1).half()),
        ("module.decode_head.conv_seg.bias", torch.randn(5).bfloat16()),
        ("module.decode_head.view", base.t()),  # strided: a transposed view of a shared storage
        ("module.decode_head.slice", base[2:4]),  # a view at an offset into the same storage
    ])
    ckpt = {"meta": {"CLASSES": ("a", "b"), "PALETTE": [[1, 2, 3]], "iter": 80000, "lr": 0.01}, "state_dict": nested}
    torch.save(ckpt, os.path.join(OUT, "mmseg_nested_legacy.pt"), _use_new_zipfile_serialization=False)
    truth = {"state_dict." + k: v.float().contiguous() for k, v in nested.items()}
    save(os.path.join(OUT, "mmseg_nested_legacy.safetensors"), truth)

    torch.save({"state_dict": {"w": torch.ones(2)}, "evil": Evil()}, os.path.join(OUT, "evil_os_system.pt"))
    with open(os.path.join(OUT, "evil_eval.pkl"), "wb") as f:
        pickle.dump({"w": 1, "x": Evil()}, f, protocol=2)


if __name__ == "__main__":
    main()
