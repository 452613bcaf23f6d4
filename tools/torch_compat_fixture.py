"""Writes the PyTorch side of nn/tests/torch_compat.rs: a small CNN's state_dict, as
PyTorch saves it, and the logits PyTorch computes for a few inputs.

    python3 tools/torch_compat_fixture.py nn/tests/torch

The network has every layout difference torch_compat converts: OIHW kernels, [Out, In]
linear weights, and a dense layer reading a flattened map whose height, width and channel
count all exceed 1 (the NCHW flatten order), with h·w != c so that the reordering is not its
own inverse. A second network (SmallBn) adds batch norm after a convolution and after a
dense layer, with running statistics PyTorch moved in training mode, evaluated in eval mode.
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


class SmallBn(torch.nn.Module):
    """Batch norm after a convolution and after a dense layer, two input channels."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(2, 4, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.fc1 = torch.nn.Linear(36, 5)
        self.bn2 = torch.nn.BatchNorm1d(5)
        self.fc2 = torch.nn.Linear(5, 3)

    def forward(self, x):  # x: [N, 2, 6, 6]
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2).flatten(1)  # [N, 4, 3, 3] -> [N, 36]
        return self.fc2(F.relu(self.bn2(self.fc1(x))))


def batch_norm_case(out):
    """SmallBn with random affine parameters and running statistics moved by five training
    batches (num_batches_tracked = 5), and its logits in evaluation mode."""
    torch.manual_seed(17)
    net = SmallBn().double()
    with torch.no_grad():
        for bn in (net.bn1, net.bn2):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
        for _ in range(5):
            net(torch.randn(8, 2, 6, 6, dtype=torch.float64) * 2 + 0.5)
    net.eval()
    state = {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in net.state_dict().items()}
    save_file(state, f"{out}/small_bn_state_dict.safetensors")
    net32 = SmallBn()
    net32.load_state_dict(state)
    net32.eval()
    x = torch.rand(4, 2, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        logits32 = net32.double()(x)
    save_file(
        {"x": x.permute(0, 2, 3, 1).contiguous(), "logits": logits32.contiguous()},
        f"{out}/small_bn_io.safetensors",
    )
    print("wrote the batch-norm case; num_batches_tracked", int(state["bn1.num_batches_tracked"]))


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
    batch_norm_case(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "nn/tests/torch")
