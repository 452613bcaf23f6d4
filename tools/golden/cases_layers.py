"""Case definitions: conv2d, max/avg pooling, dense, softmax cross-entropy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from .cases_base import Case, CaseResult, Generated, base_metadata
from .checks import Disagreement, check_metadata, compare, require_unread_zero
from .common import (
    KINK_MARGIN,
    MAX_REDRAWS,
    GoldenError,
    Metadata,
    Pair,
    Tensors,
    conv_out,
    f64,
    kernel_to_torch,
    meta_pair,
    name_pair,
    nchw_to_nhwc,
    nhwc_to_nchw,
    parse_pair,
    shape_str,
    to_numpy,
    to_torch,
)
from .reference import (
    pool_windows,
    ref_avg_pool2d,
    ref_conv2d_backward,
    ref_conv2d_forward,
    ref_dense_backward,
    ref_dense_forward,
    ref_max_pool2d,
    ref_softmax_cross_entropy,
)

if TYPE_CHECKING:
    from .context import Context


# ---- conv2d ---------------------------------------------------------------


@dataclass(frozen=True)
class Conv2dCase(Case):
    seed: int
    n: int
    h: int
    w: int
    cin: int
    cout: int
    kernel: Pair
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    purpose: str = ""
    expect_unread: bool = False  # some input positions must be read by no output
    op = "conv2d"

    @property
    def name(self) -> str:
        d = f"_d{name_pair(self.dilation)}" if self.dilation != (1, 1) else ""
        return (
            f"conv2d_s{name_pair(self.stride)}_p{name_pair(self.padding)}"
            f"_k{name_pair(self.kernel)}{d}_c{self.cin}x{self.cout}"
        )

    def generate(self, ctx: "Context") -> Generated:
        rng = np.random.default_rng(self.seed)
        kh, kw = self.kernel
        oh = conv_out(self.h, kh, self.stride[0], self.padding[0], self.dilation[0])
        ow = conv_out(self.w, kw, self.stride[1], self.padding[1], self.dilation[1])
        if oh < 1 or ow < 1:
            raise GoldenError(f"{self.name}: empty output")
        fan_in = self.cin * kh * kw
        x = rng.standard_normal((self.n, self.h, self.w, self.cin))
        w = rng.standard_normal((self.cout, kh, kw, self.cin)) / np.sqrt(fan_in)
        b = 0.5 * rng.standard_normal(self.cout)
        gy = rng.standard_normal((self.n, oh, ow, self.cout))

        xt, wt, bt = to_torch(x), to_torch(w), to_torch(b)
        y = nchw_to_nhwc(
            F.conv2d(
                nhwc_to_nchw(xt),
                kernel_to_torch(wt),
                bt,
                stride=self.stride,
                padding=self.padding,
                dilation=self.dilation,
            )
        )
        if tuple(y.shape) != gy.shape:
            raise GoldenError(f"{self.name}: torch output {tuple(y.shape)} != {gy.shape}")
        gx, gw, gb = torch.autograd.grad(y, (xt, wt, bt), torch.from_numpy(gy))

        metadata = base_metadata(self.op, self.seed) | {
            "stride": meta_pair(self.stride),
            "padding": meta_pair(self.padding),
            "dilation": meta_pair(self.dilation),
        }
        tensors = {
            "x": f64(x), "w": f64(w), "b": f64(b), "gy": f64(gy), "y": to_numpy(y),
            "gx": to_numpy(gx), "gw": to_numpy(gw), "gb": to_numpy(gb),
        }  # fmt: skip
        config = (
            f"stride {meta_pair(self.stride)}, padding {meta_pair(self.padding)}, "
            f"dilation {meta_pair(self.dilation)}"
        )
        shapes = f"x {shape_str(x)}, w {shape_str(w)} -> y {shape_str(tensors['y'])}"
        return Generated(tensors, metadata, config, shapes)

    @staticmethod
    def check(case: str, tensors: Tensors, metadata: Metadata) -> CaseResult:
        check_metadata(case, metadata, "conv2d", ("stride", "padding", "dilation"))
        stride = parse_pair(metadata["stride"])
        padding = parse_pair(metadata["padding"])
        dilation = parse_pair(metadata["dilation"])
        x, w, b, gy = (tensors[k] for k in ("x", "w", "b", "gy"))
        y = ref_conv2d_forward(x, w, b, stride, padding, dilation)
        gx, gw, gb, read = ref_conv2d_backward(x, w, gy, stride, padding, dilation)
        d = Disagreement()
        for name, ours in (("y", y), ("gx", gx), ("gw", gw), ("gb", gb)):
            d.update(compare(case, name, ours, tensors[name]))
        unread = require_unread_zero(case, "gx", tensors["gx"], read)
        return CaseResult(d, unread)


# ---- pooling --------------------------------------------------------------


def window_top2_ok(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair) -> bool:
    """Every window (real elements only) has its top two >= KINK_MARGIN apart."""
    n_, h_, w_, _ = x.shape
    for n in range(n_):
        for _, _, rows, cols in pool_windows(h_, w_, kernel, stride, padding):
            win = x[n, rows.start : rows.stop, cols.start : cols.stop, :]
            win = win.reshape(-1, win.shape[-1])
            if win.shape[0] < 2:
                continue
            top = np.sort(win, axis=0)
            if np.any(top[-1] - top[-2] < KINK_MARGIN):
                return False
    return True


def padded_window_with_negative_max(x, kernel: Pair, stride: Pair, padding: Pair) -> bool:
    """Some window that overlaps the padding has a negative maximum."""
    n_, h_, w_, _ = x.shape
    for n in range(n_):
        for _, _, rows, cols in pool_windows(h_, w_, kernel, stride, padding):
            if len(rows) * len(cols) == kernel[0] * kernel[1]:
                continue  # entirely inside the input
            win = x[n, rows.start : rows.stop, cols.start : cols.stop, :]
            if np.any(win.reshape(-1, win.shape[-1]).max(axis=0) < 0):
                return True
    return False


@dataclass(frozen=True)
class MaxPool2dCase(Case):
    seed: int
    n: int
    h: int
    w: int
    c: int
    kernel: Pair
    stride: Pair
    padding: Pair = (0, 0)
    purpose: str = ""
    expect_unread: bool = False
    op = "max_pool2d"

    @property
    def name(self) -> str:
        return (
            f"max_pool2d_k{name_pair(self.kernel)}_s{name_pair(self.stride)}"
            f"_p{name_pair(self.padding)}_c{self.c}"
        )

    def generate(self, ctx: "Context") -> Generated:
        for k, p in zip(self.kernel, self.padding):
            if p > k // 2:
                raise GoldenError(f"{self.name}: padding exceeds half the kernel")
        rng = np.random.default_rng(self.seed)
        padded = self.padding != (0, 0)
        for _ in range(MAX_REDRAWS):
            x = rng.standard_normal((self.n, self.h, self.w, self.c))
            if not window_top2_ok(x, self.kernel, self.stride, self.padding):
                continue
            if padded and not padded_window_with_negative_max(
                x, self.kernel, self.stride, self.padding
            ):
                continue
            break
        else:
            raise GoldenError(f"{self.name}: no admissible input in {MAX_REDRAWS} draws")
        oh = conv_out(self.h, self.kernel[0], self.stride[0], self.padding[0], 1)
        ow = conv_out(self.w, self.kernel[1], self.stride[1], self.padding[1], 1)
        gy = rng.standard_normal((self.n, oh, ow, self.c))

        xt = to_torch(x)
        y = nchw_to_nhwc(
            F.max_pool2d(
                nhwc_to_nchw(xt), self.kernel, stride=self.stride, padding=self.padding
            )
        )
        if tuple(y.shape) != gy.shape:
            raise GoldenError(f"{self.name}: torch output {tuple(y.shape)} != {gy.shape}")
        (gx,) = torch.autograd.grad(y, (xt,), torch.from_numpy(gy))

        metadata = base_metadata(self.op, self.seed) | {
            "kernel": meta_pair(self.kernel),
            "stride": meta_pair(self.stride),
            "padding": meta_pair(self.padding),
        }
        tensors = {"x": f64(x), "gy": f64(gy), "y": to_numpy(y), "gx": to_numpy(gx)}
        config = (
            f"kernel {meta_pair(self.kernel)}, stride {meta_pair(self.stride)}, "
            f"padding {meta_pair(self.padding)}"
        )
        shapes = f"x {shape_str(x)} -> y {shape_str(tensors['y'])}"
        return Generated(tensors, metadata, config, shapes)

    @staticmethod
    def check(case: str, tensors: Tensors, metadata: Metadata) -> CaseResult:
        check_metadata(case, metadata, "max_pool2d", ("kernel", "stride", "padding"))
        kernel = parse_pair(metadata["kernel"])
        stride = parse_pair(metadata["stride"])
        padding = parse_pair(metadata["padding"])
        x, gy = tensors["x"], tensors["gy"]
        if not window_top2_ok(x, kernel, stride, padding):
            raise GoldenError(f"{case}: a window has a near-tie")
        y, gx, read = ref_max_pool2d(x, gy, kernel, stride, padding)
        d = Disagreement()
        d.update(compare(case, "y", y, tensors["y"]))
        d.update(compare(case, "gx", gx, tensors["gx"]))
        unread = require_unread_zero(case, "gx", tensors["gx"], read)
        return CaseResult(d, unread)


@dataclass(frozen=True)
class AvgPool2dCase(Case):
    seed: int
    n: int
    h: int
    w: int
    c: int
    kernel: Pair
    stride: Pair
    purpose: str = ""
    expect_unread: bool = False
    op = "avg_pool2d"

    @property
    def name(self) -> str:
        return f"avg_pool2d_k{name_pair(self.kernel)}_s{name_pair(self.stride)}_c{self.c}"

    def generate(self, ctx: "Context") -> Generated:
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal((self.n, self.h, self.w, self.c))
        oh = conv_out(self.h, self.kernel[0], self.stride[0], 0, 1)
        ow = conv_out(self.w, self.kernel[1], self.stride[1], 0, 1)
        gy = rng.standard_normal((self.n, oh, ow, self.c))

        xt = to_torch(x)
        y = nchw_to_nhwc(
            F.avg_pool2d(nhwc_to_nchw(xt), self.kernel, stride=self.stride, padding=0)
        )
        if tuple(y.shape) != gy.shape:
            raise GoldenError(f"{self.name}: torch output {tuple(y.shape)} != {gy.shape}")
        (gx,) = torch.autograd.grad(y, (xt,), torch.from_numpy(gy))

        metadata = base_metadata(self.op, self.seed) | {
            "kernel": meta_pair(self.kernel),
            "stride": meta_pair(self.stride),
            "padding": "0,0",
        }
        tensors = {"x": f64(x), "gy": f64(gy), "y": to_numpy(y), "gx": to_numpy(gx)}
        config = (
            f"kernel {meta_pair(self.kernel)}, stride {meta_pair(self.stride)}, padding 0,0"
        )
        shapes = f"x {shape_str(x)} -> y {shape_str(tensors['y'])}"
        return Generated(tensors, metadata, config, shapes)

    @staticmethod
    def check(case: str, tensors: Tensors, metadata: Metadata) -> CaseResult:
        check_metadata(case, metadata, "avg_pool2d", ("kernel", "stride", "padding"))
        if metadata["padding"] != "0,0":
            raise GoldenError(f"{case}: schema 1 avg_pool2d padding must be 0,0")
        kernel = parse_pair(metadata["kernel"])
        stride = parse_pair(metadata["stride"])
        y, gx, read = ref_avg_pool2d(tensors["x"], tensors["gy"], kernel, stride)
        d = Disagreement()
        d.update(compare(case, "y", y, tensors["y"]))
        d.update(compare(case, "gx", gx, tensors["gx"]))
        unread = require_unread_zero(case, "gx", tensors["gx"], read)
        return CaseResult(d, unread)


# ---- dense ----------------------------------------------------------------


@dataclass(frozen=True)
class DenseCase(Case):
    seed: int
    n: int
    inp: int
    out: int
    purpose: str = ""
    op = "dense"

    @property
    def name(self) -> str:
        return f"dense_n{self.n}_in{self.inp}_out{self.out}"

    def generate(self, ctx: "Context") -> Generated:
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal((self.n, self.inp))
        w = rng.standard_normal((self.inp, self.out)) / np.sqrt(self.inp)
        b = 0.5 * rng.standard_normal(self.out)
        gy = rng.standard_normal((self.n, self.out))

        xt, wt, bt = to_torch(x), to_torch(w), to_torch(b)
        y = xt @ wt + bt
        gx, gw, gb = torch.autograd.grad(y, (xt, wt, bt), torch.from_numpy(gy))

        tensors = {
            "x": f64(x), "w": f64(w), "b": f64(b), "gy": f64(gy), "y": to_numpy(y),
            "gx": to_numpy(gx), "gw": to_numpy(gw), "gb": to_numpy(gb),
        }  # fmt: skip
        shapes = f"x {shape_str(x)}, w {shape_str(w)} -> y {shape_str(tensors['y'])}"
        return Generated(tensors, base_metadata(self.op, self.seed), "", shapes)

    @staticmethod
    def check(case: str, tensors: Tensors, metadata: Metadata) -> CaseResult:
        check_metadata(case, metadata, "dense", ())
        x, w, b, gy = (tensors[k] for k in ("x", "w", "b", "gy"))
        y = ref_dense_forward(x, w, b)
        gx, gw, gb = ref_dense_backward(x, w, gy)
        d = Disagreement()
        for name, ours in (("y", y), ("gx", gx), ("gw", gw), ("gb", gb)):
            d.update(compare(case, name, ours, tensors[name]))
        return CaseResult(d)


# ---- softmax cross-entropy ------------------------------------------------


@dataclass(frozen=True)
class SoftmaxCrossEntropyCase(Case):
    seed: int
    n: int
    k: int
    scale: float = 2.0
    offset: float = 0.0
    purpose: str = ""
    op = "softmax_cross_entropy"

    @property
    def name(self) -> str:
        return f"softmax_cross_entropy_n{self.n}_k{self.k}"

    def generate(self, ctx: "Context") -> Generated:
        rng = np.random.default_rng(self.seed)
        x = self.scale * rng.standard_normal((self.n, self.k)) + self.offset
        labels = rng.integers(0, self.k, size=self.n, dtype=np.int64)

        xt = to_torch(x)
        y = F.cross_entropy(xt, torch.from_numpy(labels), reduction="mean")
        (gx,) = torch.autograd.grad(y, (xt,))

        tensors = {
            "x": f64(x),
            "labels": labels.astype(np.int64),
            "y": to_numpy(y).reshape(()),
            "gx": to_numpy(gx),
        }
        config = f"logits {self.scale:g}*N(0,1)" + (f" {self.offset:+g}" if self.offset else "")
        shapes = f"x {shape_str(x)}, labels {shape_str(labels)} -> y []"
        return Generated(tensors, base_metadata(self.op, self.seed), config, shapes)

    @staticmethod
    def check(case: str, tensors: Tensors, metadata: Metadata) -> CaseResult:
        check_metadata(case, metadata, "softmax_cross_entropy", ())
        x, labels = tensors["x"], tensors["labels"]
        if labels.shape != (x.shape[0],) or labels.min() < 0 or labels.max() >= x.shape[1]:
            raise GoldenError(f"{case}: labels out of range")
        y, gx = ref_softmax_cross_entropy(x, labels)
        d = Disagreement()
        d.update(compare(case, "y", y, tensors["y"]))
        d.update(compare(case, "gx", gx, tensors["gx"]))
        return CaseResult(d, notes=f"loss {float(tensors['y']):.6g}")


