#!/usr/bin/env python3
"""Fixtures for weight import (tests/fixtures/import), written by Debian's PyTorch 1.13:
- torchvision_resnet18_stem.pt: the stem and layer1 of a torchvision ResNet-18 state dict (zip format),
  with the same tensors as safetensors (the truth the reader must reproduce exactly);
- mmseg_nested_legacy.pt: an MMSegmentation-style checkpoint ({meta, state_dict: backbone./decode_head.},
  DataParallel's module. prefix, a float16 and a bfloat16 tensor, a non-contiguous view), legacy format;
- evil_os_system.pt / evil_eval.pkl: pickles whose globals would run code if unpickled by pickle.load;
- small_zip.pt: a small zip-format checkpoint (a fuzz seed);
- tiny_conv_bn_fc.onnx: Conv + BatchNormalization + Gemm, a small seed for the ONNX fuzz test (needs python3-onnx).
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

    small = collections.OrderedDict([("conv.weight", torch.randn(2, 3, 1, 1)), ("bn.num_batches_tracked", torch.tensor(3)),
                                     ("half", torch.randn(3).half())])
    torch.save({"state_dict": small, "meta": {"epoch": 3}}, os.path.join(OUT, "small_zip.pt"))  # a fuzz seed
    torch.save({"state_dict": {"w": torch.ones(2)}, "evil": Evil()}, os.path.join(OUT, "evil_os_system.pt"))
    with open(os.path.join(OUT, "evil_eval.pkl"), "wb") as f:
        pickle.dump({"w": 1, "x": Evil()}, f, protocol=2)

    tiny_onnx(os.path.join(OUT, "tiny_conv_bn_fc.onnx"))


def tiny_onnx(path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    shapes = [("w0", (4, 3, 3, 3)), ("s0", (4,)), ("b0", (4,)), ("m0", (4,)), ("v0", (4,)), ("fw", (2, 4)), ("fb", (2,))]
    arrays = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes}
    arrays["v0"] = np.abs(arrays["v0"]) + 0.5
    nodes = [helper.make_node("Conv", ["x", "w0"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("BatchNormalization", ["c", "s0", "b0", "m0", "v0"], ["n"], epsilon=1e-5, name="bn"),
             helper.make_node("Relu", ["n"], ["r"]), helper.make_node("GlobalAveragePool", ["r"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]), helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1, name="fc")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
                              [numpy_helper.from_array(a, n) for n, a in arrays.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, path)


if __name__ == "__main__":
    main()
