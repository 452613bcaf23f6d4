#!/usr/bin/env python3
"""Score a tapegrad ResNet checkpoint in PyTorch (issue #17).

Loads a checkpoint written by `cargo run --release --example resnet -- --save PATH` into the
equivalent PyTorch model (`bench/torch_suite.py`'s `ResNet`, the network of
`nn::models::resnet` with `ResNetConfig::default()`), evaluates it in eval mode (running
statistics) on the MNIST test set and prints the accuracy as one JSON line:

    python3 tools/resnet_torch_eval.py --checkpoint PATH --mnist-dir DIR

Layouts: a tapegrad kernel `[C_out, KH, KW, C_in]` becomes PyTorch's `[C_out, C_in, KH, KW]`,
a dense weight `[In, Out]` becomes `Linear.weight` `[Out, In]`; batch norm's `gamma`/`beta`
are `weight`/`bias`, its buffers `buffer.<layer>.running_mean`/`running_var` the module's
buffers. The input is normalised as tapegrad's `Normalize::MNIST`: `(byte/255 − 0.1307)/0.3081`.
Every tensor of the checkpoint must be used and every tensor of the model set (strict).
"""

import argparse
import json
import os
import sys

import torch
from safetensors.numpy import load_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import torch_suite  # noqa: E402  (the PyTorch ResNet and the IDX reader)


def torch_name(name):
    """The PyTorch state-dict key of a tapegrad parameter or buffer name."""
    *layer, leaf = name.split(".")
    leaf = {"w": "weight", "b": "bias", "gamma": "weight", "beta": "bias"}.get(leaf, leaf)
    if layer[0].startswith("stage"):
        # stage{i}.block{j}: the blocks in order, as torch_suite.ResNet stacks them.
        inner = ".".join(layer[2:]).replace("shortcut.conv", "shortcut.0").replace("shortcut.bn", "shortcut.1")
        layer = ["blocks", str(BLOCK_INDEX[(layer[0], layer[1])]), inner]
    return ".".join(layer + [leaf])


BLOCK_INDEX = {}


def state_dict(tensors):
    """The PyTorch state dict of a tapegrad checkpoint's tensors (optimizer state dropped)."""
    names = [n.removeprefix("buffer.") for n in tensors if not n.startswith("optimizer.")]
    blocks = sorted(
        {tuple(n.split(".")[:2]) for n in names if n.startswith("stage")},
        key=lambda sb: (int(sb[0][5:]), int(sb[1][5:])),
    )
    BLOCK_INDEX.update({sb: i for i, sb in enumerate(blocks)})
    out = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            continue
        t = torch.from_numpy(value.copy()).float()
        key = torch_name(name.removeprefix("buffer."))
        if t.dim() == 4:
            t = t.permute(0, 3, 1, 2)
        elif t.dim() == 2:
            t = t.t()
        out[key] = t.contiguous()
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--mnist-dir", required=True)
    args = p.parse_args()
    model = torch_suite.ResNet()
    sd = state_dict(load_file(args.checkpoint))
    # num_batches_tracked only counts steps (momentum is set), tapegrad has no such buffer.
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            sd[key] = value
    model.load_state_dict(sd, strict=True)
    model = torch_suite.channels_last(model).eval()
    images = torch_suite.read_idx(os.path.join(args.mnist_dir, "t10k-images-idx3-ubyte.gz"), 2051, 3)
    labels = torch_suite.read_idx(os.path.join(args.mnist_dir, "t10k-labels-idx1-ubyte.gz"), 2049, 1).long()
    correct = 0
    with torch.no_grad():
        for first in range(0, len(images), 500):
            x = (images[first : first + 500].float() / 255 - 0.1307) / 0.3081
            x = torch_suite.channels_last(x.reshape(-1, 1, 28, 28))
            correct += (model(x).argmax(1) == labels[first : first + 500]).sum().item()
    print(json.dumps({"checkpoint": args.checkpoint, "images": len(images), "correct": correct,
                      "torch_eval_accuracy": correct / len(images)}))


if __name__ == "__main__":
    main()
