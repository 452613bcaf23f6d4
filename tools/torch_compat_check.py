"""The acceptance check of nn::torch_compat on real MNIST, both directions:

1. a LeNet-5 trained in PyTorch, saved as a safetensors state_dict, scores the same test
   accuracy in PyTorch and in tapegrad's main job (`--import-torch F --epochs 0`);
2. a LeNet-5 trained by tapegrad's main job and exported (`--export-torch F`) scores the
   same in PyTorch as the main job reported.

    MNIST_DIR=path/to/mnist python3 tools/torch_compat_check.py [--epochs 1]

Needs torch, numpy and safetensors (pip install torch numpy safetensors) and a release
build of the main job (`cargo build --release --example mnist`).
"""
import argparse
import gzip
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file


class LeNet5(torch.nn.Module):
    """nn::models::lenet5, with PyTorch's names and layouts."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = torch.nn.Conv2d(6, 16, 5)
        self.fc1 = torch.nn.Linear(400, 120)
        self.fc2 = torch.nn.Linear(120, 84)
        self.fc3 = torch.nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2).flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def idx(path):
    with gzip.open(path) if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(d, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    sys.exit(f"{d}: no {stem}[.gz]")


def load(d, split):
    x = idx(find(d, f"{split}-images-idx3-ubyte")).astype(np.float32) / 255.0
    y = idx(find(d, f"{split}-labels-idx1-ubyte")).astype(np.int64)
    x = (x - 0.1307) / 0.3081  # Normalize::MNIST
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


def accuracy(net, x, y):
    net.eval()
    with torch.no_grad():
        hits = sum((net(x[i : i + 1000]).argmax(1) == y[i : i + 1000]).sum().item() for i in range(0, len(y), 1000))
    return hits / len(y)


def main_job(args):
    out = subprocess.run(
        ["cargo", "run", "--release", "--quiet", "--example", "mnist", "--", *args],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        sys.exit(out.stderr)
    return float(re.search(r"^test accuracy: ([0-9.]+)%", out.stdout, re.M).group(1)) / 100


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--mnist-dir", default=os.environ.get("MNIST_DIR"))
    a = p.parse_args()
    if not a.mnist_dir:
        sys.exit("set MNIST_DIR or pass --mnist-dir")
    torch.manual_seed(0)
    xtr, ytr = load(a.mnist_dir, "train")
    xte, yte = load(a.mnist_dir, "t10k")
    net = LeNet5()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    for _ in range(a.epochs):
        net.train()
        for idx_ in torch.randperm(len(ytr)).split(64):
            opt.zero_grad()
            F.cross_entropy(net(xtr[idx_]), ytr[idx_]).backward()
            opt.step()
    with tempfile.TemporaryDirectory() as tmp:
        theirs = os.path.join(tmp, "torch.safetensors")
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, theirs)
        torch_acc = accuracy(net, xte, yte)
        ours_acc = main_job(["--data", a.mnist_dir, "--epochs", "0", "--import-torch", theirs])
        print(f"PyTorch-trained LeNet-5: PyTorch {100 * torch_acc:.2f}%, tapegrad --import-torch {100 * ours_acc:.2f}%")

        exported = os.path.join(tmp, "tapegrad.safetensors")
        ours_trained = main_job(["--data", a.mnist_dir, "--epochs", str(a.epochs), "--export-torch", exported])
        back = LeNet5()
        back.load_state_dict(load_file(exported))
        back_acc = accuracy(back, xte, yte)
        print(f"tapegrad-trained LeNet-5: tapegrad {100 * ours_trained:.2f}%, PyTorch load_state_dict {100 * back_acc:.2f}%")
    same = round(torch_acc * 10000) == round(ours_acc * 10000) and round(ours_trained * 10000) == round(back_acc * 10000)
    print("same test accuracy both ways" if same else "DIFFERENT test accuracy")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
