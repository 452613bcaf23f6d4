"""Case definitions: the whole LeNet-5 on real MNIST digits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from .cases_base import Case, CaseResult, Generated, base_metadata
from .checks import Disagreement, check_metadata, compare
from .common import (
    KINK_MARGIN,
    MAX_REDRAWS,
    GoldenError,
    Metadata,
    Tensors,
    f64,
    kernel_to_torch,
    nchw_to_nhwc,
    nhwc_to_nchw,
    shape_str,
    to_numpy,
    to_torch,
)
from .reference import (
    ref_conv2d_backward,
    ref_conv2d_forward,
    ref_dense_backward,
    ref_dense_forward,
    ref_max_pool2d,
    ref_softmax_cross_entropy,
    relu,
    relu_backward,
)

if TYPE_CHECKING:
    from .context import Context


LENET_PARAMS: tuple[tuple[str, tuple[int, ...], int], ...] = (
    # name, stored shape, fan_in
    ("conv1.w", (6, 5, 5, 1), 25),
    ("conv1.b", (6,), 25),
    ("conv2.w", (16, 5, 5, 6), 150),
    ("conv2.b", (16,), 150),
    ("fc1.w", (400, 120), 400),
    ("fc1.b", (120,), 400),
    ("fc2.w", (120, 84), 120),
    ("fc2.b", (84,), 120),
    ("fc3.w", (84, 10), 84),
    ("fc3.b", (10,), 84),
)
# "ReLU units are mixed active/inactive (roughly half of each layer)".
RELU_ACTIVE_RANGE = (0.2, 0.8)
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


def lenet5_torch(x: np.ndarray, labels: np.ndarray, params: Tensors):
    """Loss, logits, gradients and ReLU pre-activations, in stored layouts."""
    xt = to_torch(x)
    p = {k: to_torch(v) for k, v in params.items()}
    a1 = F.conv2d(nhwc_to_nchw(xt), kernel_to_torch(p["conv1.w"]), p["conv1.b"], padding=2)
    h = F.max_pool2d(F.relu(a1), 2, stride=2)
    a2 = F.conv2d(h, kernel_to_torch(p["conv2.w"]), p["conv2.b"])
    h = F.max_pool2d(F.relu(a2), 2, stride=2)  # [N,16,5,5]
    h = nchw_to_nhwc(h).reshape(x.shape[0], 400)  # feature (h*5 + w)*16 + c
    z1 = h @ p["fc1.w"] + p["fc1.b"]
    z2 = F.relu(z1) @ p["fc2.w"] + p["fc2.b"]
    logits = F.relu(z2) @ p["fc3.w"] + p["fc3.b"]
    loss = F.cross_entropy(logits, torch.from_numpy(labels), reduction="mean")
    names = [name for name, _, _ in LENET_PARAMS]
    grads = torch.autograd.grad(loss, [xt] + [p[k] for k in names])
    pre = {
        "conv1": to_numpy(nchw_to_nhwc(a1)),
        "conv2": to_numpy(nchw_to_nhwc(a2)),
        "fc1": to_numpy(z1),
        "fc2": to_numpy(z2),
    }
    out = {"logits": to_numpy(logits), "y": to_numpy(loss).reshape(()), "gx": to_numpy(grads[0])}
    out |= {f"grad.{k}": to_numpy(g) for k, g in zip(names, grads[1:])}
    return out, pre


def lenet5_kink_free(pre: Tensors) -> bool:
    """ReLU inputs away from 0; 2x2 pool windows with positive max tie-free."""
    if any(np.any(np.abs(v) < KINK_MARGIN) for v in pre.values()):
        return False
    for key in ("conv1", "conv2"):
        a = pre[key]  # NHWC, H and W even
        n_, h_, w_, c_ = a.shape
        win = a.reshape(n_, h_ // 2, 2, w_ // 2, 2, c_).transpose(0, 1, 3, 5, 2, 4)
        top = np.sort(win.reshape(-1, 4), axis=1)
        positive = top[:, -1] > 0
        if np.any(top[positive, -1] - top[positive, -2] < KINK_MARGIN):
            return False
    return True


def relu_active_fractions(pre: Tensors) -> dict[str, float]:
    return {k: float(np.mean(v > 0)) for k, v in pre.items()}


@dataclass(frozen=True)
class Lenet5Case(Case):
    seed: int
    n: int
    purpose: str = ""
    op = "lenet5"

    @property
    def name(self) -> str:
        return f"lenet5_n{self.n}"

    def generate(self, ctx: "Context") -> Generated:
        images, digit_labels = ctx.mnist()
        rng = np.random.default_rng(self.seed)
        params = {
            name: rng.uniform(-1.0, 1.0, size=shape) / np.sqrt(fan_in)
            for name, shape, fan_in in LENET_PARAMS
        }
        indices = rng.choice(images.shape[0], size=self.n, replace=False)
        raw = images[indices].astype(np.float64)[..., None]  # [N,28,28,1]
        labels = digit_labels[indices].astype(np.int64)
        for draw in range(1, MAX_REDRAWS + 1):
            pixels = (raw + rng.random(raw.shape)) / 256.0
            x = (pixels - MNIST_MEAN) / MNIST_STD
            out, pre = lenet5_torch(x, labels, params)
            if lenet5_kink_free(pre):
                break
        else:
            raise GoldenError(f"{self.name}: no kink-free noise in {MAX_REDRAWS} draws")
        active = relu_active_fractions(pre)
        lo, hi = RELU_ACTIVE_RANGE
        if any(not lo <= v <= hi for v in active.values()):
            raise GoldenError(f"{self.name}: ReLU layers not mixed active/inactive: {active}")
        ctx.note(
            self.name,
            f"noise draws {draw}; ReLU active fractions "
            + ", ".join(f"{k} {v:.2f}" for k, v in active.items()),
        )

        idx = ",".join(str(int(i)) for i in indices)
        metadata = base_metadata(self.op, self.seed) | {"mnist_t10k_indices": idx}
        tensors = {"x": f64(x), "labels": labels} | {k: f64(v) for k, v in params.items()}
        tensors |= out
        config = f"MNIST t10k digits {idx} (labels {','.join(str(int(v)) for v in labels)})"
        shapes = f"x {shape_str(x)} -> logits {shape_str(out['logits'])}, y []"
        return Generated(tensors, metadata, config, shapes)

    @staticmethod
    def check(case: str, tensors: Tensors, metadata: Metadata) -> CaseResult:
        check_metadata(case, metadata, "lenet5", ())
        x, labels = tensors["x"], tensors["labels"]
        p = {name: tensors[name] for name, _, _ in LENET_PARAMS}
        for name, shape, _ in LENET_PARAMS:
            if p[name].shape != shape:
                raise GoldenError(f"{case}: {name} has shape {p[name].shape}")
        n_ = x.shape[0]
        one, no_pad, pool = (1, 1), (0, 0), ((2, 2), (2, 2), (0, 0))

        # forward
        a1 = ref_conv2d_forward(x, p["conv1.w"], p["conv1.b"], one, (2, 2), one)
        h1 = relu(a1)
        p1, _, _ = ref_max_pool2d(h1, None, *pool)
        a2 = ref_conv2d_forward(p1, p["conv2.w"], p["conv2.b"], one, no_pad, one)
        h2 = relu(a2)
        p2, _, _ = ref_max_pool2d(h2, None, *pool)
        f = p2.reshape(n_, 400)  # NHWC row-major: (h*5 + w)*16 + c
        z1 = ref_dense_forward(f, p["fc1.w"], p["fc1.b"])
        r1 = relu(z1)
        z2 = ref_dense_forward(r1, p["fc2.w"], p["fc2.b"])
        r2 = relu(z2)
        logits = ref_dense_forward(r2, p["fc3.w"], p["fc3.b"])
        loss, glogits = ref_softmax_cross_entropy(logits, labels)

        # the kink / tie guarantees, on the independent forward values
        if not lenet5_kink_free({"conv1": a1, "conv2": a2, "fc1": z1, "fc2": z2}):
            raise GoldenError(f"{case}: a ReLU input or pooling window is near a kink")

        # backward
        g = {}
        gr2, g["grad.fc3.w"], g["grad.fc3.b"] = ref_dense_backward(r2, p["fc3.w"], glogits)
        gz2 = relu_backward(z2, gr2)
        gr1, g["grad.fc2.w"], g["grad.fc2.b"] = ref_dense_backward(r1, p["fc2.w"], gz2)
        gz1 = relu_backward(z1, gr1)
        gf, g["grad.fc1.w"], g["grad.fc1.b"] = ref_dense_backward(f, p["fc1.w"], gz1)
        _, gh2, _ = ref_max_pool2d(h2, gf.reshape(n_, 5, 5, 16), *pool)
        ga2 = relu_backward(a2, gh2)
        gp1, g["grad.conv2.w"], g["grad.conv2.b"], _ = ref_conv2d_backward(
            p1, p["conv2.w"], ga2, one, no_pad, one
        )
        _, gh1, _ = ref_max_pool2d(h1, gp1, *pool)
        ga1 = relu_backward(a1, gh1)
        g["gx"], g["grad.conv1.w"], g["grad.conv1.b"], _ = ref_conv2d_backward(
            x, p["conv1.w"], ga1, one, (2, 2), one
        )

        d = Disagreement()
        d.update(compare(case, "logits", logits, tensors["logits"]))
        d.update(compare(case, "y", loss, tensors["y"]))
        for name, ours in sorted(g.items()):
            d.update(compare(case, name, ours, tensors[name]))
        return CaseResult(d, notes=f"loss {float(tensors['y']):.6g}")


