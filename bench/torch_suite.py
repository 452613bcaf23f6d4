#!/usr/bin/env python3
"""The PyTorch side of the tapegrad benchmark suite (issue #5).

Runs the same workloads as the Rust suite (`cargo bench -q --bench suite -- <args>`), with the
same command line and the same output: one JSON object per line on stdout, progress on stderr.

    python3 bench/torch_suite.py ops --threads 2 --runs 20 [--filter conv2d]
    python3 bench/torch_suite.py e2e --threads 2 --batch 64 [--mnist-dir DIR] [--samples S]
                                     [--model lenet5|mnist_cnn|resnet]
    python3 bench/torch_suite.py infer --threads 2 --batch 1 --runs 200 [--model lenet5|mnist_cnn]

`ops` times f32 micro-benchmarks (conv2d, 2x2 max pooling, dense), each forward only
(`<row>_fwd`, under `torch.no_grad()`) and forward + backward (`<row>_fwdbwd`, gradients of
every input for a random upstream gradient through `torch.autograd.grad`, so nothing
accumulates between runs). Every row is warmed up, then timed over `--runs` runs; the median
is reported:

    {"side": "torch", "name": "conv2d_64_28x28_1to6_k5p2_fwd", "median_ms": 0.290, "runs": 20,
     "gflops": 51.98}

(`gflops` is null for rows other than conv2d.)

`e2e` trains LeNet-5 (or, with `--model resnet`, the small ResNet of `nn::models::resnet`:
`resnet_train_b64_t2` rows) for one epoch of MNIST-shaped data with Adam and reports its
throughput:

    {"side": "torch", "name": "lenet5_train_b64_t2", "samples_per_sec": 12610.0,
     "seconds": 4.758, "samples": 60000, "peak_rss_mb": 757.3, "final_loss": 0.2213}

`--model mnist_cnn` is the CNN of PyTorch's MNIST example (`pytorch/examples`, `mnist/main.py`:
conv 32 and 64 3x3, max pooling, dropout 0.25, dense 9216 -> 128, dropout 0.5, dense 10).

`infer` times the model's forward pass (evaluation mode, `torch.inference_mode()`) on one
batch of `--batch` random normalised images, warmed up and over `--runs` runs like the ops rows:

    {"side": "torch", "name": "lenet5_infer_b1_t2", "median_ms": 0.68, "runs": 200,
     "samples_per_sec": 1470.6}

Tensors are channels-last (NHWC in memory) throughout, as in tapegrad. If torch cannot be
imported, the script says so on stderr and exits 0 without printing any row.
"""

import argparse
import gzip
import json
import math
import os
import statistics
import struct
import sys
import time
from pathlib import Path

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as import_error:
    torch = None
    TORCH_IMPORT_ERROR = import_error

SIDE = "torch"
SEED = 0
# Untimed runs before each ops row is timed (the contract asks for at least 3).
WARMUP_RUNS = 5
# ... and at least this long: the first tens of milliseconds of a row run slower (a small
# GEMM took 4x its steady time in its first 20 runs), whichever side runs it.
WARMUP_SECONDS = 0.2
MIN_RUNS = 20
# Untimed training steps before the timed epoch.
WARMUP_STEPS = 20
# MNIST's normalisation constants (mean and standard deviation of the training pixels).
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
RANDOM_SET_SIZE = 60000

# conv2d rows, stride 1, bias on: (N, H, W, Cin, Cout, K, padding).
CONV_SHAPES = [
    (64, 28, 28, 1, 6, 5, 2),
    (64, 14, 14, 6, 16, 5, 0),
    (64, 28, 28, 1, 32, 3, 0),
    (64, 26, 26, 32, 64, 3, 0),
    (32, 32, 32, 64, 64, 3, 1),
]
# 2x2 max pooling with stride 2 rows: (N, H, W, C).
POOL_SHAPES = [(64, 28, 28, 6), (64, 24, 24, 64)]
# Dense rows, y = x·w + b: (N, inputs, outputs).
DENSE_SHAPES = [(64, 400, 120), (64, 9216, 128)]


def emit(row):
    """Print one result row as a JSON line on stdout."""
    print(json.dumps(row), flush=True)


def log(message):
    """Progress goes to stderr, so stdout holds JSON rows only."""
    print(message, file=sys.stderr, flush=True)


def set_threads(threads):
    """Pin torch's intra-op pool to `threads` and its inter-op pool to 1, before any work."""
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)


def peak_rss_mb():
    """The process's peak resident set size (VmHWM) so far, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmHWM line in /proc/self/status")


# ---------------------------------------------------------------------------------------------
# ops


def channels_last(t):
    """`t` with channels-last strides.

    `.to(memory_format=...)`, not `.contiguous(memory_format=...)`: with one channel, the
    latter keeps NCHW strides (both layouts are the same bytes), and PyTorch's conv then
    picks an NCHW output.
    """
    return t.to(memory_format=torch.channels_last)


def randn(shape, gen, std=1.0):
    """N(0, std²) samples; 4-d tensors are made channels-last."""
    t = torch.randn(shape, generator=gen) * std
    return channels_last(t) if t.dim() == 4 else t


def conv_row(n, h, w, cin, cout, k, p):
    """Name, setup and forward FLOPs of a conv2d row."""
    oh, ow = h + 2 * p - k + 1, w + 2 * p - k + 1

    def setup(gen):
        fan_in = cin * k * k
        x = randn((n, cin, h, w), gen)
        weight = randn((cout, cin, k, k), gen, fan_in**-0.5)
        bias = randn((cout,), gen, fan_in**-0.5)
        return (lambda: F.conv2d(x, weight, bias, padding=p)), [x, weight, bias]

    return f"conv2d_{n}_{h}x{w}_{cin}to{cout}_k{k}p{p}", setup, 2 * n * oh * ow * cout * cin * k * k


def pool_row(n, h, w, c):
    """Name and setup of a 2x2 stride-2 max pooling row."""

    def setup(gen):
        x = randn((n, c, h, w), gen)
        return (lambda: F.max_pool2d(x, 2, 2)), [x]

    return f"maxpool2x2_{n}_{h}x{w}x{c}", setup, None


def dense_row(n, fan_in, fan_out):
    """Name and setup of a dense row (torch keeps the weight as [outputs, inputs])."""

    def setup(gen):
        x = randn((n, fan_in), gen)
        weight = randn((fan_out, fan_in), gen, fan_in**-0.5)
        bias = randn((fan_out,), gen, fan_in**-0.5)
        return (lambda: F.linear(x, weight, bias)), [x, weight, bias]

    return f"dense_{n}x{fan_in}x{fan_out}", setup, None


def op_rows():
    """Every ops workload as (name, setup, forward FLOPs or None), in the suite's order."""
    return (
        [conv_row(*s) for s in CONV_SHAPES]
        + [pool_row(*s) for s in POOL_SHAPES]
        + [dense_row(*s) for s in DENSE_SHAPES]
    )


def make_run(setup, backward):
    """One timed run of a row: the forward alone, or the forward and every input's gradient."""
    gen = torch.Generator().manual_seed(SEED)
    forward, inputs = setup(gen)
    if not backward:

        def run():
            with torch.no_grad():
                forward()

        return run
    # The upstream gradient takes the output's shape and memory format.
    with torch.no_grad():
        gy = torch.empty_like(forward()).normal_(generator=gen)
    for t in inputs:
        t.requires_grad_(True)
    return lambda: torch.autograd.grad(forward(), inputs, gy)


def median_ms(run, runs):
    """Warm `run` up (at least WARMUP_RUNS calls and WARMUP_SECONDS), then time `runs` calls
    of it; the median in milliseconds."""
    start, done = time.perf_counter(), 0
    while done < WARMUP_RUNS or time.perf_counter() - start < WARMUP_SECONDS:
        run()
        done += 1
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def cmd_ops(args):
    """Time every ops row whose name contains `--filter`."""
    for base, setup, fwd_flops in op_rows():
        for variant, backward in (("fwd", False), ("fwdbwd", True)):
            name = f"{base}_{variant}"
            if args.filter and args.filter not in name:
                continue
            log(f"torch ops: {name}")
            ms = median_ms(make_run(setup, backward), args.runs)
            gflops = None
            if fwd_flops:
                # Forward + backward costs three forwards: the forward, dX and dW.
                flops = 3 * fwd_flops if backward else fwd_flops
                gflops = flops / (ms / 1e3) / 1e9
            emit({"side": SIDE, "name": name, "median_ms": ms, "runs": args.runs, "gflops": gflops})


# ---------------------------------------------------------------------------------------------
# e2e


def read_idx(path, magic, dims):
    """A gzipped IDX file (big-endian u32 magic and `dims` sizes, then u8 data) as a tensor."""
    with gzip.open(path, "rb") as f:
        header = struct.unpack(f">{1 + dims}I", f.read(4 * (1 + dims)))
        if header[0] != magic:
            raise ValueError(f"{path}: magic {header[0]}, expected {magic}")
        shape = header[1:]
        body = bytearray(math.prod(shape))
        if f.readinto(body) != len(body) or f.read(1):
            raise ValueError(f"{path}: the data does not have shape {shape}")
    return torch.frombuffer(body, dtype=torch.uint8).reshape(shape)


def load_data(mnist_dir):
    """Training images [60000, 28, 28] u8 and labels [60000] i64: MNIST's, or seeded random."""
    if mnist_dir:
        images = read_idx(os.path.join(mnist_dir, "train-images-idx3-ubyte.gz"), 2051, 3)
        labels = read_idx(os.path.join(mnist_dir, "train-labels-idx1-ubyte.gz"), 2049, 1)
        return images, labels.long()
    gen = torch.Generator().manual_seed(SEED)
    images = torch.randint(0, 256, (RANDOM_SET_SIZE, 28, 28), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 10, (RANDOM_SET_SIZE,), generator=gen)
    return images, labels


class MnistCnn(nn.Module if torch else object):
    """The CNN of PyTorch's MNIST example, as `nn::models::mnist_cnn` (NHWC flatten order)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.dropout1(F.max_pool2d(x, 2))
        # Flatten in NHWC order, as tapegrad does: on a channels-last tensor this is a view.
        x = x.permute(0, 2, 3, 1).flatten(1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return self.fc2(x)


class ResidualBlock(nn.Module if torch else object):
    """`relu(shortcut(x) + bn2(conv2(relu(bn1(conv1(x))))))`, as `nn::layers::Residual`."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if cin != cout or stride != 1:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class ResNet(nn.Module if torch else object):
    """`nn::models::resnet` with `ResNetConfig::default()`: stem 16, stages 16, 32, 64."""

    def __init__(self, stages=((16, 1, 1), (32, 1, 2), (64, 1, 2)), stem=16, classes=10):
        super().__init__()
        self.stem = nn.Conv2d(1, stem, 3, 1, 1, bias=False)
        self.stem_bn = nn.BatchNorm2d(stem)
        blocks, width = [], stem
        for channels, count, stride in stages:
            for j in range(count):
                blocks.append(ResidualBlock(width, channels, stride if j == 0 else 1))
                width = channels
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(width, classes)

    def forward(self, x):
        x = self.blocks(F.relu(self.stem_bn(self.stem(x))))
        return self.fc(x.mean(dim=(2, 3)))


def new_model(kind="lenet5"):
    """A freshly initialised channels-last LeNet-5, MNIST-example CNN or ResNet (seeded) and
    its Adam optimizer."""
    torch.manual_seed(SEED)
    if kind in ("resnet", "mnist_cnn"):
        model = ResNet() if kind == "resnet" else MnistCnn()
        return channels_last(model), torch.optim.Adam(model.parameters(), lr=1e-3)
    model = nn.ModuleDict(
        {
            "conv1": nn.Conv2d(1, 6, 5, padding=2),
            "conv2": nn.Conv2d(6, 16, 5),
            "fc1": nn.Linear(400, 120),
            "fc2": nn.Linear(120, 84),
            "fc3": nn.Linear(84, 10),
        }
    )
    return channels_last(model), torch.optim.Adam(model.parameters(), lr=1e-3)


def lenet5(model, x):
    """LeNet-5's logits for channels-last input [B, 1, 28, 28]: ReLU and 2x2 max pooling."""
    x = F.max_pool2d(F.relu(model.conv1(x)), 2)
    x = F.max_pool2d(F.relu(model.conv2(x)), 2)
    # Flatten in NHWC order, as tapegrad does: on a channels-last tensor this is a view.
    x = x.permute(0, 2, 3, 1).flatten(1)
    x = F.relu(model.fc1(x))
    x = F.relu(model.fc2(x))
    return model.fc3(x)


def train_step(model, opt, images, labels, idx):
    """One Adam step on the samples `idx`; returns the loss tensor."""
    x = (images[idx].float() / 255 - MNIST_MEAN) / MNIST_STD
    x = channels_last(x.reshape(-1, 1, 28, 28))
    logits = lenet5(model, x) if isinstance(model, nn.ModuleDict) else model(x)
    loss = F.cross_entropy(logits, labels[idx])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def cmd_e2e(args):
    """Train LeNet-5 over one epoch of the first `--samples` samples and report samples/s."""
    images, labels = load_data(args.mnist_dir)
    samples = args.samples or len(images)
    if not 0 < samples <= len(images):
        sys.exit(f"--samples {samples}: the data set has {len(images)} samples")
    images, labels = images[:samples], labels[:samples]
    batch = args.batch
    gen = torch.Generator().manual_seed(SEED)

    log(f"torch e2e: {WARMUP_STEPS} warm-up steps, batch {batch}")
    model, opt = new_model(args.model)
    for _ in range(WARMUP_STEPS):
        train_step(model, opt, images, labels, torch.randint(0, samples, (batch,), generator=gen))

    log(f"torch e2e: one epoch of {samples} samples")
    model, opt = new_model(args.model)
    order = torch.randperm(samples, generator=gen)
    start = time.perf_counter()
    for first in range(0, samples, batch):
        loss = train_step(model, opt, images, labels, order[first : first + batch])
    seconds = time.perf_counter() - start

    emit(
        {
            "side": SIDE,
            "name": f"{args.model}_train_b{batch}_t{args.threads}",
            "samples_per_sec": samples / seconds,
            "seconds": seconds,
            "samples": samples,
            "peak_rss_mb": peak_rss_mb(),
            "final_loss": loss.item(),
        }
    )


def cmd_infer(args):
    """Time the model's evaluation-mode forward pass on one batch of `--batch` images."""
    model, _ = new_model(args.model)
    model.eval()
    gen = torch.Generator().manual_seed(SEED)
    x = randn((args.batch, 1, 28, 28), gen)
    forward = (lambda: lenet5(model, x)) if isinstance(model, nn.ModuleDict) else (lambda: model(x))

    def run():
        with torch.inference_mode():
            forward()

    log(f"torch infer: {args.model}, batch {args.batch}")
    ms = median_ms(run, args.runs)
    emit(
        {
            "side": SIDE,
            "name": f"{args.model}_infer_b{args.batch}_t{args.threads}",
            "median_ms": ms,
            "runs": args.runs,
            "samples_per_sec": args.batch / (ms / 1e3),
        }
    )


# ---------------------------------------------------------------------------------------------


def positive(text):
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def at_least_min_runs(text):
    """argparse type: a run count of at least MIN_RUNS."""
    value = int(text)
    if value < MIN_RUNS:
        raise argparse.ArgumentTypeError(f"{text} runs: at least {MIN_RUNS} are timed")
    return value


def add_model(parser):
    """The `--model` option that `e2e` and `infer` share."""
    parser.add_argument(
        "--model",
        choices=["lenet5", "mnist_cnn", "resnet"],
        default="lenet5",
        help="the network (default lenet5)",
    )


def parse_args():
    """The command line: `ops` or `e2e` and their options (the contract in bench/README.md)."""
    parser = argparse.ArgumentParser(
        description="PyTorch side of the tapegrad benchmark suite: JSON rows on stdout.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    threads_help = (
        "intra-op threads (torch.set_num_threads); inter-op threads are 1 (default: all cores)"
    )

    ops = sub.add_parser("ops", help="f32 micro-benchmarks: median ms per row")
    ops.add_argument(
        "--threads", metavar="T", type=positive, default=os.cpu_count(), help=threads_help
    )
    ops.add_argument(
        "--runs",
        metavar="R",
        type=at_least_min_runs,
        default=MIN_RUNS,
        help=f"timed runs per row (default and minimum {MIN_RUNS})",
    )
    ops.add_argument(
        "--filter",
        metavar="SUBSTRING",
        default="",
        help="only rows whose name contains this substring",
    )

    e2e = sub.add_parser("e2e", help="LeNet-5 training throughput over one epoch")
    e2e.add_argument(
        "--threads", metavar="T", type=positive, default=os.cpu_count(), help=threads_help
    )
    e2e.add_argument(
        "--batch", metavar="B", type=positive, default=64, help="mini-batch size (default 64)"
    )
    e2e.add_argument(
        "--mnist-dir",
        metavar="DIR",
        help="folder with train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz "
        "(default: 60000 seeded random images and labels)",
    )
    add_model(e2e)
    e2e.add_argument(
        "--samples",
        metavar="S",
        type=positive,
        help="train on the first S samples only (default: all)",
    )

    infer = sub.add_parser("infer", help="evaluation-mode forward latency on one batch")
    infer.add_argument(
        "--threads", metavar="T", type=positive, default=os.cpu_count(), help=threads_help
    )
    infer.add_argument(
        "--batch", metavar="B", type=positive, default=1, help="images per batch (default 1)"
    )
    infer.add_argument(
        "--runs",
        metavar="R",
        type=at_least_min_runs,
        default=MIN_RUNS,
        help=f"timed runs (default and minimum {MIN_RUNS})",
    )
    add_model(infer)
    return parser.parse_args()


def main():
    args = parse_args()
    if torch is None:
        log(
            f"torch_suite: PyTorch cannot be imported ({TORCH_IMPORT_ERROR}); no rows. "
            "Install it with `pip install torch`."
        )
        return
    set_threads(args.threads)
    # Which kernels ATen dispatches to (capped by ATEN_CPU_CAPABILITY): the runner's report
    # names it (a line without "name", so it is no result row).
    emit({"side": "torch", "simd_level": torch.backends.cpu.get_cpu_capability().lower()})
    {"ops": cmd_ops, "e2e": cmd_e2e, "infer": cmd_infer}[args.command](args)


if __name__ == "__main__":
    main()
