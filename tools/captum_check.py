#!/usr/bin/env python3
"""Checks examples/understand's maps against captum on the same LeNet-5.

    python3 tools/captum_check.py OUT/model.safetensors OUT/maps.safetensors

Reads a tapegrad checkpoint (conv kernels [C_out, KH, KW, C_in], dense weights [In, Out],
channels-last flatten: see docs/lecture.md#layouts) and the maps written by
`cargo run --example understand -- --out OUT`, rebuilds LeNet-5 in PyTorch (float64, every
ReLU an nn.ReLU module so captum's GuidedBackprop and Deconvolution can hook it), and compares:

    saliency              captum Saliency(abs=False)
    guided_backprop       captum GuidedBackprop
    deconvnet             captum Deconvolution
    integrated_gradients  captum IntegratedGradients(method="riemann_trapezoid",
                          n_steps=ig_steps, baselines=baseline), divided by the sum of
                          captum's quadrature weights (see below); and the trapezoid rule
                          computed directly in torch
    grad_cam              captum LayerGradCam at relu2 (conv2's fused ReLU), relu_attributions=True
    occlusion             the target's softmax probability with the square at
                          (i*stride, j*stride), computed directly in torch

For each map it prints max |ours - captum| / max |captum| and exits 1 if any exceeds 2e-3.

captum's "riemann_trapezoid" evaluates the gradient at alpha = linspace(0, 1, n) but weights
the points by [1/2, 1, ..., 1, 1/2] / n, which sum to (n - 1)/n instead of 1, so its
integrated gradients are the trapezoid rule's times (n - 1)/n (and its completeness delta is
off by about f(x) - f(b) over n). tapegrad's weights are [1/2, 1, ..., 1, 1/2] / (n - 1). The
script reads the weights from captum itself, prints the comparison as captum returns it, and
judges the one divided by their sum, plus a trapezoid rule written out here in torch.

The images are handed to PyTorch with plain NCHW strides. The background of a digit is flat
(every pixel the normalised black, on the whole integration path too), so the 2x2 max-pool
windows there tie exactly when the convolution rounds every position alike, as tapegrad's
does; both then take the first maximum. A [N, 1, H, W] view of NHWC data has strides
(HW, 1, W, 1), which PyTorch reads as channels-last; its conv kernel for that layout rounds
positions differently, breaks those ties elsewhere and moves the gradient by a pixel there
(integrated gradients then differ by 2e-3 to 4e-3 of their largest value).

Needs: pip install torch captum numpy safetensors.
"""

import argparse
import sys

import numpy as np
import torch
from torch import nn
from safetensors import safe_open
from captum.attr._utils.approximation_methods import approximation_parameters
from captum.attr import (
    Deconvolution,
    GuidedBackprop,
    IntegratedGradients,
    LayerGradCam,
    Saliency,
)

TOLERANCE = 2e-3


class LeNet5(nn.Module):
    """tapegrad's nn::models::lenet5, NCHW inside, flattening in NHWC order like tapegrad."""

    def __init__(self, p):
        super().__init__()
        t = lambda name: torch.from_numpy(p[name]).double()  # noqa: E731
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(400, 120)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(120, 84)
        self.relu4 = nn.ReLU()
        self.fc3 = nn.Linear(84, 10)
        self.double()
        with torch.no_grad():
            for conv in ("conv1", "conv2"):
                # [C_out, KH, KW, C_in] -> [C_out, C_in, KH, KW]
                getattr(self, conv).weight.copy_(t(f"{conv}.w").permute(0, 3, 1, 2))
                getattr(self, conv).bias.copy_(t(f"{conv}.b"))
            for fc in ("fc1", "fc2", "fc3"):
                # [In, Out] -> [Out, In]
                getattr(self, fc).weight.copy_(t(f"{fc}.w").T)
                getattr(self, fc).bias.copy_(t(f"{fc}.b"))

    def forward(self, x):  # x: [N, 1, 28, 28]
        h = self.pool1(self.relu1(self.conv1(x)))
        h = self.pool2(self.relu2(self.conv2(h)))  # [N, 16, 5, 5]
        h = h.permute(0, 2, 3, 1).reshape(x.shape[0], 400)  # feature (h*5 + w)*16 + c
        h = self.relu3(self.fc1(h))
        h = self.relu4(self.fc2(h))
        return self.fc3(h)


def read(path):
    with safe_open(path, framework="np") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}


def nhwc(t):
    """captum's [N, 1, H, W] attributions as tapegrad's [N, H, W, 1]."""
    return t.detach().permute(0, 2, 3, 1).numpy()


def occlusion_probabilities(model, x, targets, size, stride, fill):
    n, _, h, w = x.shape
    p_count, q_count = (h - size) // stride + 1, (w - size) // stride + 1
    out = np.zeros((n, p_count, q_count))
    with torch.no_grad():
        for i in range(p_count):
            for j in range(q_count):
                occluded = x.clone()
                occluded[:, :, i * stride : i * stride + size, j * stride : j * stride + size] = fill
                prob = torch.softmax(model(occluded), dim=1)
                out[:, i, j] = prob[torch.arange(n), targets].numpy()
    return out


def trapezoid_ig(model, x, targets, baseline, steps):
    """(x - b) * sum_k w_k grad f(b + a_k (x - b)), a_k = k/(n-1), w = [1/2, 1, ..., 1/2]/(n-1)."""
    total = torch.zeros_like(x)
    b = torch.full_like(x, baseline)
    for k in range(steps):
        a = k / (steps - 1)
        w = (0.5 if k in (0, steps - 1) else 1.0) / (steps - 1)
        point = (b + a * (x.detach() - b)).requires_grad_(True)
        logits = model(point)
        picked = logits[torch.arange(x.shape[0]), targets].sum()
        (g,) = torch.autograd.grad(picked, point)
        total += w * g
    return nhwc((x.detach() - b) * total)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", help="OUT/model.safetensors (or any LeNet-5 checkpoint the maps came from)")
    ap.add_argument("maps", help="OUT/maps.safetensors")
    args = ap.parse_args()
    params, _ = read(args.checkpoint)
    maps, meta = read(args.maps)
    model = LeNet5(params).eval()
    images = maps["images"].astype(np.float64)  # [N, 28, 28, 1], normalised
    targets = torch.from_numpy(maps["targets"].astype(np.int64))
    # Plain NCHW strides (784, 784, 28, 1); see the module doc for why it matters.
    x = torch.empty((images.shape[0], 1, 28, 28), dtype=torch.float64)
    x.copy_(torch.from_numpy(images).permute(0, 3, 1, 2))
    x.requires_grad_(True)
    steps = int(meta["ig_steps"])
    baseline = float(meta["baseline"])

    step_sizes, _ = approximation_parameters("riemann_trapezoid")
    weight_sum = float(sum(step_sizes(steps)))
    captum_ig = nhwc(
        IntegratedGradients(model).attribute(
            x, baselines=baseline, target=targets, n_steps=steps, method="riemann_trapezoid"
        )
    )
    # Shown, not judged: captum's integrated gradients as it returns them.
    informational = {"integrated_gradients (captum as is)": ("integrated_gradients", captum_ig)}
    reference = {
        "saliency": nhwc(Saliency(model).attribute(x, target=targets, abs=False)),
        "guided_backprop": nhwc(GuidedBackprop(model).attribute(x, target=targets)),
        "deconvnet": nhwc(Deconvolution(model).attribute(x, target=targets)),
        "integrated_gradients": captum_ig / weight_sum,
        "integrated_gradients (torch trapezoid)": trapezoid_ig(model, x, targets, baseline, steps),
        "grad_cam": LayerGradCam(model, model.relu2)
        .attribute(x, target=targets, relu_attributions=True)
        .detach()
        .numpy()[:, 0],
        "occlusion": occlusion_probabilities(
            model,
            x.detach(),
            targets,
            int(meta["occlusion_size"]),
            int(meta["occlusion_stride"]),
            float(meta["occlusion_fill"]),
        ),
    }
    n = images.shape[0]
    print(
        f"{n} images, classes {maps['targets'].tolist()}; IG {steps} steps from {baseline:.6f}; "
        f"occlusion {meta['occlusion_size']}x{meta['occlusion_size']} stride {meta['occlusion_stride']} "
        f"fill {float(meta['occlusion_fill']):.6f}"
    )
    print(f"captum's riemann_trapezoid weights for n = {steps} sum to {weight_sum:.6f}")
    print(f"{'map':<38} {'shape':<16} {'max |ref|':>11} {'max |diff|':>11} {'relative':>10}")
    failed = []
    for label, (name, ref) in informational.items():
        ours = maps[name].astype(np.float64)
        scale, diff = np.abs(ref).max(), np.abs(ours - ref).max()
        print(f"{label:<38} {str(ours.shape):<16} {scale:11.4e} {diff:11.3e} {diff / scale:10.2e} (not judged)")
    for label, ref in reference.items():
        name = label.split(" ")[0]
        ours = maps[name].astype(np.float64)
        if ours.shape != ref.shape:
            print(f"{label:<38} shape {ours.shape} but the reference is {ref.shape}")
            failed.append(label)
            continue
        scale = np.abs(ref).max()
        diff = np.abs(ours - ref).max()
        rel = diff / scale if scale > 0 else diff
        ok = rel <= TOLERANCE and np.isfinite(rel)
        print(f"{label:<38} {str(ours.shape):<16} {scale:11.4e} {diff:11.3e} {rel:10.2e} {'ok' if ok else 'FAIL'}")
        if not ok:
            failed.append(label)
    if failed:
        print(f"over {TOLERANCE:g}: {', '.join(failed)}")
        sys.exit(1)
    print(f"all maps within {TOLERANCE:g} of captum")


if __name__ == "__main__":
    main()
