"""Writes the PyTorch side of nn/tests/torch_compat.rs: a small CNN's state_dict, as
PyTorch saves it, and the logits PyTorch computes for a few inputs.

    python3 tools/torch_compat_fixture.py nn/tests/torch

The network has every layout difference torch_compat converts: OIHW kernels, [Out, In]
linear weights, and a dense layer reading a flattened map whose height, width and channel
count all exceed 1 (the NCHW flatten order), with h·w != c so that the reordering is not its
own inverse.
"""
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 3, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(3, 5, 3)
        self.fc1 = torch.nn.Linear(20, 5)
        self.fc2 = torch.nn.Linear(5, 3)

    def forward(self, x):  # x: [N, 1, 8, 8]
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # [N, 3, 4, 4]
        x = F.relu(self.conv2(x)).flatten(1)  # [N, 5, 2, 2] -> [N, 20]
        return self.fc2(torch.tanh(self.fc1(x)))


def main(out):
    torch.manual_seed(13)
    net = Small().double()
    x = torch.rand(4, 1, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        logits = net(x)
    save_file({k: v.float().contiguous() for k, v in net.state_dict().items()}, f"{out}/small_state_dict.safetensors")
    # What the test feeds tapegrad: the same inputs in NHWC, the f32 weights' logits in f64.
    net32 = Small()
    net32.load_state_dict({k: v.float() for k, v in net.state_dict().items()})
    with torch.no_grad():
        logits32 = net32.double()(x)
    save_file(
        {"x": x.permute(0, 2, 3, 1).contiguous(), "logits": logits32.contiguous()},
        f"{out}/small_io.safetensors",
    )
    print("wrote", out, "max |f64 - f32-weights| logits:", (logits - logits32).abs().max().item())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "nn/tests/torch")
