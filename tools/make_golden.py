#!/usr/bin/env python3
"""Generate tapegrad's own golden reference cases (schema 1) into tests/golden/.

Each case is one ``.safetensors`` file in exactly the schema documented in
schema 1 (the contract shared with the public cases that ``GOLDEN_DIR``
points to; summarised in ``tests/golden/README.md``):

* ``__metadata__``: ``"op"``, ``"schema" = "1"``, the op's own keys
  (``"stride"``, ``"padding"``, ``"dilation"``, ``"kernel"``, pair-valued as
  ``"rows,cols"``) plus the informational ``"seed"`` and ``"generator"`` (and
  ``"mnist_t10k_indices"`` for ``lenet5``);
* layouts: activations NHWC ``[N,H,W,C]``, conv kernels ``[Cout,KH,KW,Cin]``,
  dense weights ``[In,Out]``; every float tensor is F64, ``labels`` is I64,
  scalar losses have shape ``[]``;
* ``gy`` is a random upstream gradient; ``gx``/``gw``/``gb``/``grad.<param>``
  are the vector-Jacobian products of ``gy`` (of the scalar loss for
  ``softmax_cross_entropy`` and ``lenet5``).

The cases complement the public ones, which only cover square kernels,
dilation 1, symmetric stride/padding, unpadded max pooling and avg pooling
with stride == kernel or stride 1: here there are dilated, non-square,
asymmetrically strided/padded convolutions, padded/overlapping/gapped pooling,
degenerate dense shapes, numerically extreme softmax logits and two more
LeNet-5 batches on real MNIST digits.

How the values are produced (as the contract describes):

* PyTorch on the CPU in float64, gradients by ``torch.autograd.grad``; the
  stored tensors are created in the schema's layouts and the NHWC -> NCHW /
  ``[Cout,KH,KW,Cin]`` -> ``[Cout,Cin,KH,KW]`` permutations are part of the
  autograd graph, so gradients come back in the stored layouts. ``lenet5``
  permutes ``[N,16,5,5]`` to NHWC before flattening.
* Random data from ``numpy.random.default_rng(seed)``, one fixed seed per case:
  ``x``, ``gy`` ~ N(0,1); conv/dense ``w`` ~ N(0,1)/sqrt(fan_in), ``b`` ~
  N(0, 0.5^2); softmax logits ``scale*N(0,1) + offset``; labels uniform.
  Max-pool inputs are redrawn until every window's top two real elements are
  at least 1e-6 apart (and, for padded cases, until some window touching the
  padding has a negative maximum, so zero-padding would be caught).
* ``lenet5``: parameters uniform in ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``
  (PyTorch's default init); inputs are MNIST t10k digits with dequantization
  noise ``(byte + U[0,1)) / 256``, normalized ``(p - 0.1307) / 0.3081``; the
  noise is redrawn until every ReLU input has ``|v| >= 1e-6`` and every
  pooling window with a positive maximum has its top two pre-activations at
  least 1e-6 apart.

Independent cross-check: every file is read back with the ``safetensors``
library, and ``y`` plus every gradient is recomputed with naive numpy float64
loops written directly in the schema's layout (no PyTorch). Every element must
satisfy ``|numpy - torch| <= 1e-12 + 1e-10 * |torch|``; input positions that
no output reads must have a gradient of exactly 0. Any failure aborts with a
non-zero exit status.

Reproducibility: running the script twice gives byte-identical files. PyTorch
runs single-threaded, and the files are serialized here (metadata keys and
tensor names sorted) rather than by ``safetensors.numpy.save``, whose
metadata order follows a randomly seeded hash map; each written file is
checked to hold exactly what ``safetensors.numpy.save`` would have written,
up to that order.

Usage::

    pip install torch numpy safetensors
    python3 tools/make_golden.py [--out tests/golden] [--mnist-dir "$MNIST_DIR"]

The script also writes ``<out>/README.md`` with the table of cases and the
cross-check summary.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import safetensors
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.numpy import save as safetensors_save

SCHEMA = "1"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "tests" / "golden"
# The real MNIST files and the public golden cases, where the machine has them (the same
# environment variables the Rust tests read).
DEFAULT_MNIST_DIR = Path(os.environ.get("MNIST_DIR", "mnist"))
PUBLIC_CASES_DIR = Path(os.environ.get("GOLDEN_DIR", "golden-cases"))

# Cross-check requirement (numpy vs torch), per element.
CHECK_ATOL = 1e-12
CHECK_RTOL = 1e-10
# Minimum distance from a non-differentiable point (max-pool ties, ReLU kinks).
KINK_MARGIN = 1e-6
MAX_REDRAWS = 1000

Pair = tuple[int, int]
Tensors = dict[str, np.ndarray]
Metadata = dict[str, str]

GENERATOR = (
    f"tapegrad tools/make_golden.py; torch {torch.__version__} float64 CPU; "
    f"numpy {np.__version__}; safetensors {safetensors.__version__}"
)


class GoldenError(RuntimeError):
    """A case could not be generated or failed its independent cross-check."""


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def meta_pair(p: Pair) -> str:
    """Pair as written in the metadata: "rows,cols"."""
    return f"{p[0]},{p[1]}"


def name_pair(p: Pair) -> str:
    """Pair as written in file names: "3" for 3x3, "2x3" otherwise."""
    return str(p[0]) if p[0] == p[1] else f"{p[0]}x{p[1]}"


def parse_pair(s: str) -> Pair:
    a, b = s.split(",")
    return int(a), int(b)


def shape_str(a: np.ndarray) -> str:
    return "[" + ",".join(str(d) for d in a.shape) + "]"


def conv_out(size: int, k: int, s: int, p: int, d: int) -> int:
    """Output length of a convolution / pooling along one axis (floor mode)."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def f64(a: np.ndarray) -> np.ndarray:
    """C-contiguous float64 copy (np.ascontiguousarray would turn 0-d into 1-d)."""
    return np.array(a, dtype=np.float64, order="C")


def to_torch(a: np.ndarray, grad: bool = True) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return f64(t.detach().numpy())


def nhwc_to_nchw(t: torch.Tensor) -> torch.Tensor:
    return t.permute(0, 3, 1, 2)


def nchw_to_nhwc(t: torch.Tensor) -> torch.Tensor:
    return t.permute(0, 2, 3, 1)


def kernel_to_torch(w: torch.Tensor) -> torch.Tensor:
    """[Cout,KH,KW,Cin] -> [Cout,Cin,KH,KW], inside the autograd graph."""
    return w.permute(0, 3, 1, 2)


# --------------------------------------------------------------------------
# safetensors serialization (deterministic)
# --------------------------------------------------------------------------

# dtype -> (safetensors name, rank); the reference writer orders tensors by
# descending rank of its Dtype enum (I64 comes after F64 there), then by name.
_DTYPES = {np.dtype("float64"): ("F64", 0), np.dtype("int64"): ("I64", 1)}


def serialize(tensors: Tensors, metadata: Metadata) -> bytes:
    """safetensors bytes with sorted metadata keys, tensors in the reference order.

    Layout: u64 LE header length, compact UTF-8 JSON header padded with spaces
    so the data starts 8-byte aligned, then each tensor's little-endian C-order
    bytes; header entries and data follow the order `safetensors` itself uses
    (I64 before F64, then by name), so only the metadata key order differs
    from what `safetensors.numpy.save` writes.
    """
    for name, arr in tensors.items():
        if arr.dtype not in _DTYPES:
            raise GoldenError(f"tensor {name!r}: unsupported dtype {arr.dtype}")
    header: dict[str, object] = {"__metadata__": dict(sorted(metadata.items()))}
    chunks: list[bytes] = []
    offset = 0
    for name in sorted(tensors, key=lambda k: (-_DTYPES[tensors[k].dtype][1], k)):
        arr = tensors[name]
        data = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {
            "dtype": _DTYPES[arr.dtype][0],
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + b"".join(chunks)


def split_file(blob: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def write_case(path: Path, tensors: Tensors, metadata: Metadata) -> None:
    blob = serialize(tensors, metadata)
    # Same bytes as the reference writer, up to the order of the metadata keys.
    reference = safetensors_save(tensors, metadata)
    (ours_head, ours_data), (ref_head, ref_data) = split_file(blob), split_file(reference)
    if (
        len(blob) != len(reference)
        or ours_data != ref_data
        or ours_head != ref_head
        or [k for k in ours_head if k != "__metadata__"]
        != [k for k in ref_head if k != "__metadata__"]
    ):
        raise GoldenError(f"{path.name}: serialization differs from safetensors.numpy.save")
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(blob)
    tmp.replace(path)


def read_case(path: Path) -> tuple[Tensors, Metadata]:
    with safe_open(str(path), framework="np") as f:
        metadata = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return tensors, metadata


# --------------------------------------------------------------------------
# Naive numpy reference implementations, in the schema's layouts
# --------------------------------------------------------------------------
# Deliberately written as plain loops over output positions and kernel taps,
# following the formulas of schema 1 (tests/golden/README.md), with only the
# channel contraction done by a small dot product.


def ref_conv2d_forward(x, w, b, stride: Pair, padding: Pair, dilation: Pair):
    n_, h_, w_, cin = x.shape
    cout, kh_, kw_, cin_w = w.shape
    assert cin == cin_w
    sh, sw = stride
    ph, pw = padding
    dh, dw = dilation
    oh_ = conv_out(h_, kh_, sh, ph, dh)
    ow_ = conv_out(w_, kw_, sw, pw, dw)
    y = np.zeros((n_, oh_, ow_, cout))
    for n in range(n_):
        for oh in range(oh_):
            for ow in range(ow_):
                acc = b.copy()
                for kh in range(kh_):
                    ih = oh * sh - ph + kh * dh
                    if not 0 <= ih < h_:
                        continue
                    for kw in range(kw_):
                        iw = ow * sw - pw + kw * dw
                        if not 0 <= iw < w_:
                            continue
                        acc += w[:, kh, kw, :] @ x[n, ih, iw, :]
                y[n, oh, ow, :] = acc
    return y


def ref_conv2d_backward(x, w, gy, stride: Pair, padding: Pair, dilation: Pair):
    """Returns gx, gw, gb and the mask of input positions read by any output."""
    n_, h_, w_, _ = x.shape
    _, kh_, kw_, _ = w.shape
    _, oh_, ow_, _ = gy.shape
    sh, sw = stride
    ph, pw = padding
    dh, dw = dilation
    gx = np.zeros_like(x)
    gw = np.zeros_like(w)
    gb = np.zeros(w.shape[0])
    read = np.zeros((h_, w_), dtype=bool)
    for n in range(n_):
        for oh in range(oh_):
            for ow in range(ow_):
                g = gy[n, oh, ow, :]
                gb += g
                for kh in range(kh_):
                    ih = oh * sh - ph + kh * dh
                    if not 0 <= ih < h_:
                        continue
                    for kw in range(kw_):
                        iw = ow * sw - pw + kw * dw
                        if not 0 <= iw < w_:
                            continue
                        read[ih, iw] = True
                        gx[n, ih, iw, :] += g @ w[:, kh, kw, :]
                        gw[:, kh, kw, :] += np.outer(g, x[n, ih, iw, :])
    return gx, gw, gb, read


def pool_windows(h_: int, w_: int, kernel: Pair, stride: Pair, padding: Pair):
    """Yield (oh, ow, rows, cols): each window clipped to the real input."""
    kh, kw = kernel
    sh, sw = stride
    ph, pw = padding
    for oh in range(conv_out(h_, kh, sh, ph, 1)):
        r0 = oh * sh - ph
        rows = range(max(r0, 0), min(r0 + kh, h_))
        for ow in range(conv_out(w_, kw, sw, pw, 1)):
            c0 = ow * sw - pw
            cols = range(max(c0, 0), min(c0 + kw, w_))
            yield oh, ow, rows, cols


def ref_max_pool2d(x, gy, kernel: Pair, stride: Pair, padding: Pair):
    """Forward and (when gy is given) backward; padding is never the maximum.

    Returns y, gx (None without gy) and the mask of input positions read.
    """
    n_, h_, w_, c_ = x.shape
    oh_ = conv_out(h_, kernel[0], stride[0], padding[0], 1)
    ow_ = conv_out(w_, kernel[1], stride[1], padding[1], 1)
    y = np.zeros((n_, oh_, ow_, c_))
    gx = np.zeros_like(x)
    read = np.zeros((h_, w_), dtype=bool)
    for n in range(n_):
        for oh, ow, rows, cols in pool_windows(h_, w_, kernel, stride, padding):
            for c in range(c_):
                best = None
                for ih in rows:
                    for iw in cols:
                        read[ih, iw] = True
                        if best is None or x[n, ih, iw, c] > x[n, best[0], best[1], c]:
                            best = (ih, iw)
                y[n, oh, ow, c] = x[n, best[0], best[1], c]
                if gy is not None:
                    gx[n, best[0], best[1], c] += gy[n, oh, ow, c]
    return y, (gx if gy is not None else None), read


def ref_avg_pool2d(x, gy, kernel: Pair, stride: Pair):
    n_, h_, w_, c_ = x.shape
    _, oh_, ow_, _ = gy.shape
    area = kernel[0] * kernel[1]
    y = np.zeros((n_, oh_, ow_, c_))
    gx = np.zeros_like(x)
    read = np.zeros((h_, w_), dtype=bool)
    for n in range(n_):
        for oh, ow, rows, cols in pool_windows(h_, w_, kernel, stride, (0, 0)):
            assert len(rows) * len(cols) == area
            acc = np.zeros(c_)
            for ih in rows:
                for iw in cols:
                    read[ih, iw] = True
                    acc += x[n, ih, iw, :]
                    gx[n, ih, iw, :] += gy[n, oh, ow, :] / area
            y[n, oh, ow, :] = acc / area
    return y, gx, read


def ref_dense_forward(x, w, b):
    n_, in_ = x.shape
    out_ = w.shape[1]
    y = np.zeros((n_, out_))
    for n in range(n_):
        for o in range(out_):
            acc = b[o]
            for i in range(in_):
                acc += x[n, i] * w[i, o]
            y[n, o] = acc
    return y


def ref_dense_backward(x, w, gy):
    """Returns gx, gw, gb."""
    n_, in_ = x.shape
    out_ = w.shape[1]
    gx = np.zeros_like(x)
    gw = np.zeros_like(w)
    gb = np.zeros(out_)
    for n in range(n_):
        for o in range(out_):
            gb[o] += gy[n, o]
            for i in range(in_):
                gx[n, i] += gy[n, o] * w[i, o]
                gw[i, o] += x[n, i] * gy[n, o]
    return gx, gw, gb


def relu(v):
    return np.where(v > 0, v, 0.0)


def relu_backward(v, g):
    """ReLU's vector-Jacobian product at input v (derivative 0 for v <= 0)."""
    return np.where(v > 0, g, 0.0)


def ref_softmax_cross_entropy(x, labels):
    """Mean NLL and its gradient, with the max subtracted for stability."""
    n_, k_ = x.shape
    loss = 0.0
    gx = np.zeros_like(x)
    for n in range(n_):
        m = max(x[n, k] for k in range(k_))
        e = np.array([np.exp(x[n, k] - m) for k in range(k_)])
        s = e.sum()
        loss += m + np.log(s) - x[n, labels[n]]
        for k in range(k_):
            gx[n, k] = (e[k] / s - (1.0 if k == labels[n] else 0.0)) / n_
    return np.array(loss / n_), gx


# --------------------------------------------------------------------------
# Cross-check bookkeeping
# --------------------------------------------------------------------------


@dataclass
class Disagreement:
    max_rel: float = 0.0
    max_abs: float = 0.0

    def update(self, other: "Disagreement") -> None:
        self.max_rel = max(self.max_rel, other.max_rel)
        self.max_abs = max(self.max_abs, other.max_abs)


def compare(case: str, name: str, ours: np.ndarray, stored: np.ndarray) -> Disagreement:
    """numpy recomputation `ours` against the stored torch result."""
    if ours.shape != stored.shape:
        raise GoldenError(f"{case}: {name}: shape {ours.shape} != stored {stored.shape}")
    if not np.all(np.isfinite(stored)):
        raise GoldenError(f"{case}: {name}: stored value is not finite")
    diff = np.abs(ours - stored)
    bad = ~(diff <= CHECK_ATOL + CHECK_RTOL * np.abs(stored))
    if np.any(bad):
        i = tuple(int(v) for v in np.argwhere(bad)[0])
        raise GoldenError(
            f"{case}: {name}{list(i)}: numpy {ours[i]!r} vs torch {stored[i]!r} "
            f"({int(bad.sum())} elements out of tolerance)"
        )
    nz = stored != 0
    rel = float(np.max(diff[nz] / np.abs(stored[nz]))) if np.any(nz) else 0.0
    return Disagreement(rel, float(diff.max()) if diff.size else 0.0)


def require_unread_zero(case: str, name: str, g: np.ndarray, read: np.ndarray) -> int:
    """Gradient entries at input positions no output reads must be exactly 0."""
    unread = ~read
    if np.any(g[:, unread, :] != 0.0):
        raise GoldenError(f"{case}: {name} is not exactly 0 at unread input positions")
    return int(unread.sum())


def check_metadata(case: str, metadata: Metadata, op: str, keys: tuple[str, ...]) -> None:
    if metadata.get("schema") != SCHEMA or metadata.get("op") != op:
        raise GoldenError(f"{case}: bad op/schema metadata {metadata}")
    missing = [k for k in keys + ("seed", "generator") if k not in metadata]
    if missing:
        raise GoldenError(f"{case}: metadata lacks {missing}")


def check_dtypes(case: str, tensors: Tensors) -> None:
    for name, t in tensors.items():
        want = np.int64 if name == "labels" else np.float64
        if t.dtype != want:
            raise GoldenError(f"{case}: {name} has dtype {t.dtype}, expected {np.dtype(want)}")


# --------------------------------------------------------------------------
# Case definitions
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Generated:
    tensors: Tensors
    metadata: Metadata
    configuration: str  # for the README table
    shapes: str  # for the README table


@dataclass(frozen=True)
class CaseResult:
    disagreement: Disagreement
    unread: int = 0  # input positions (per image and channel) that no output reads
    notes: str = ""  # other facts established by the check, for the console


class Case:
    op: str
    seed: int
    purpose: str

    @property
    def name(self) -> str:
        raise NotImplementedError

    def generate(self, ctx: "Context") -> Generated:
        raise NotImplementedError

    @staticmethod
    def check(case: str, tensors: Tensors, metadata: Metadata) -> CaseResult:
        """Independent recomputation from the file's own contents."""
        raise NotImplementedError


def base_metadata(op: str, seed: int) -> Metadata:
    return {"op": op, "schema": SCHEMA, "seed": str(seed), "generator": GENERATOR}


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


# ---- lenet5 ---------------------------------------------------------------

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


# --------------------------------------------------------------------------
# The case list
# --------------------------------------------------------------------------

CASES: tuple[Case, ...] = (
    # conv2d ---------------------------------------------------------------
    Conv2dCase(201, 2, 9, 9, 2, 3, (3, 3), dilation=(2, 2),
               purpose="dilation 2"),
    Conv2dCase(202, 1, 7, 8, 3, 2, (3, 3), padding=(1, 1), dilation=(2, 1),
               purpose="dilation along rows only, with padding"),
    Conv2dCase(203, 2, 7, 6, 2, 3, (3, 3), stride=(2, 1), padding=(1, 1),
               purpose="asymmetric stride 2,1"),
    Conv2dCase(204, 1, 5, 11, 1, 4, (2, 3), stride=(1, 3), expect_unread=True,
               purpose="stride 1,3, non-square kernel 2x3; trailing columns cut off"),
    Conv2dCase(205, 2, 6, 5, 3, 3, (3, 3), padding=(0, 2),
               purpose="asymmetric padding 0,2 (output wider than input)"),
    Conv2dCase(206, 1, 4, 7, 2, 2, (1, 5), padding=(0, 2),
               purpose="1x5 kernel, 'same' padding along columns only"),
    Conv2dCase(207, 2, 6, 5, 4, 2, (3, 1), padding=(1, 0),
               purpose="3x1 kernel, 'same' padding along rows only"),
    Conv2dCase(208, 1, 9, 8, 2, 2, (2, 2), stride=(3, 3), expect_unread=True,
               purpose="stride 3 > kernel 2: rows/columns between windows unread"),
    Conv2dCase(209, 1, 8, 9, 1, 2, (3, 3), stride=(2, 2), expect_unread=True,
               purpose="floor in OH cuts off the last input row (gradient 0)"),
    Conv2dCase(210, 3, 5, 6, 5, 5, (3, 3),
               purpose="N=3, Cin=Cout=5"),
    Conv2dCase(211, 2, 4, 5, 2, 3, (1, 1), padding=(1, 2),
               purpose="1x1 kernel with padding 1,2 (border outputs = bias)"),
    Conv2dCase(212, 2, 4, 5, 3, 2, (6, 7), padding=(1, 1),
               purpose="kernel == padded input (6x7): output 1x1"),
    Conv2dCase(213, 2, 7, 8, 3, 4, (2, 3), stride=(2, 1), padding=(1, 0), dilation=(1, 2),
               purpose="everything asymmetric: stride 2,1, padding 1,0, dilation 1,2"),
    Conv2dCase(214, 1, 7, 7, 3, 1, (1, 1), stride=(3, 3), padding=(1, 1), expect_unread=True,
               purpose="1x1 kernel, stride 3, padding 1: some taps land on padding"),
    Conv2dCase(215, 1, 6, 7, 2, 3, (2, 2), stride=(1, 2), padding=(0, 1), dilation=(3, 3),
               purpose="dilation 3 with stride 1,2 and padding 0,1"),
    # max_pool2d -----------------------------------------------------------
    MaxPool2dCase(301, 2, 7, 7, 2, (3, 3), (2, 2), (1, 1),
                  purpose="kernel 3, stride 2, padding 1 (ResNet stem); overlapping"),
    MaxPool2dCase(302, 1, 5, 5, 3, (3, 3), (1, 1), (1, 1),
                  purpose="kernel 3, stride 1, padding 1: heavy overlap, 'same' size"),
    MaxPool2dCase(303, 2, 5, 7, 2, (2, 3), (1, 2),
                  purpose="non-square kernel 2x3 and stride 1,2, overlapping"),
    MaxPool2dCase(304, 1, 9, 8, 2, (2, 2), (3, 3), expect_unread=True,
                  purpose="stride 3 > kernel 2: gaps get gradient 0"),
    MaxPool2dCase(305, 2, 6, 5, 1, (3, 2), (2, 1), (1, 0),
                  purpose="non-square kernel 3x2, stride 2,1, padding 1,0"),
    MaxPool2dCase(306, 1, 5, 5, 2, (2, 2), (2, 2), (1, 1),
                  purpose="kernel 2, padding 1: corner windows hold one real element"),
    # avg_pool2d -----------------------------------------------------------
    AvgPool2dCase(401, 2, 7, 7, 2, (3, 3), (2, 2),
                  purpose="overlapping windows, kernel 3 stride 2"),
    AvgPool2dCase(402, 1, 5, 8, 3, (2, 3), (1, 2), expect_unread=True,
                  purpose="non-square kernel 2x3, stride 1,2; last column unread"),
    AvgPool2dCase(403, 2, 8, 7, 2, (2, 2), (3, 3), expect_unread=True,
                  purpose="stride 3 > kernel 2: gaps get gradient 0"),
    AvgPool2dCase(404, 3, 10, 5, 1, (3, 2), (3, 2), expect_unread=True,
                  purpose="non-square, non-overlapping; trailing row and column cut off"),
    # dense ----------------------------------------------------------------
    DenseCase(501, 2, 1, 4, purpose="In=1"),
    DenseCase(502, 5, 6, 1, purpose="Out=1"),
    DenseCase(503, 1, 1, 1, purpose="all dimensions 1"),
    DenseCase(504, 6, 12, 7, purpose="larger, all dimensions different"),
    # softmax_cross_entropy ------------------------------------------------
    SoftmaxCrossEntropyCase(601, 16, 2,
                            purpose="K=2, N=16"),
    SoftmaxCrossEntropyCase(602, 5, 6, scale=50.0,
                            purpose="very large logits (softmax nearly one-hot)"),
    SoftmaxCrossEntropyCase(603, 4, 3, scale=50.0, offset=1000.0,
                            purpose="logits ~1000: exp overflows without max-subtraction"),
    SoftmaxCrossEntropyCase(604, 3, 4, scale=50.0, offset=-1000.0,
                            purpose="logits ~-1000: exp underflows without max-subtraction"),
    # lenet5 ---------------------------------------------------------------
    Lenet5Case(701, 3, purpose="whole network, batch 3"),
    Lenet5Case(702, 5, purpose="whole network, batch 5"),
)  # fmt: skip


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Read a gzipped IDX file: BE u32 magic, BE u32 dims, then u8 data."""
    with gzip.open(path, "rb") as f:
        blob = f.read()
    (magic,) = struct.unpack(">I", blob[:4])
    if magic != expected_magic:
        raise GoldenError(f"{path}: magic {magic:#010x}, expected {expected_magic:#010x}")
    ndim = magic & 0xFF
    dims = struct.unpack(f">{ndim}I", blob[4 : 4 + 4 * ndim])
    data = np.frombuffer(blob, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise GoldenError(f"{path}: {data.size} bytes of data for dims {dims}")
    return data.reshape(dims)


class Context:
    """Shared inputs (MNIST, loaded lazily) and per-case console notes."""

    def __init__(self, mnist_dir: Path):
        self.mnist_dir = mnist_dir
        self._mnist: tuple[np.ndarray, np.ndarray] | None = None
        self.notes: dict[str, list[str]] = {}

    def mnist(self) -> tuple[np.ndarray, np.ndarray]:
        if self._mnist is None:
            images = read_idx(self.mnist_dir / "t10k-images-idx3-ubyte.gz", 0x00000803)
            labels = read_idx(self.mnist_dir / "t10k-labels-idx1-ubyte.gz", 0x00000801)
            if images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
                raise GoldenError(f"unexpected MNIST shapes {images.shape}, {labels.shape}")
            self._mnist = images, labels
        return self._mnist

    def note(self, case: str, text: str) -> None:
        self.notes.setdefault(case, []).append(text)


CHECKERS: dict[str, Callable[[str, Tensors, Metadata], CaseResult]] = {
    "conv2d": Conv2dCase.check,
    "max_pool2d": MaxPool2dCase.check,
    "avg_pool2d": AvgPool2dCase.check,
    "dense": DenseCase.check,
    "softmax_cross_entropy": SoftmaxCrossEntropyCase.check,
    "lenet5": Lenet5Case.check,
}


def validate_case_list() -> None:
    names = [c.name for c in CASES]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise GoldenError(f"duplicate case names: {dup}")
    seeds = [c.seed for c in CASES]
    if len(set(seeds)) != len(seeds):
        raise GoldenError("duplicate seeds in the case list")
    if PUBLIC_CASES_DIR.is_dir():
        clash = sorted(n for n in names if (PUBLIC_CASES_DIR / f"{n}.safetensors").exists())
        if clash:
            raise GoldenError(f"case names clash with public cases: {clash}")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def summary_rows(results: dict[str, list[Disagreement]]) -> list[list[str]]:
    rows = []
    for op in sorted(results):
        total = Disagreement()
        for d in results[op]:
            total.update(d)
        rows.append([op, str(len(results[op])), f"{total.max_rel:.1e}", f"{total.max_abs:.1e}"])
    return rows


README_TEMPLATE = """\
# tapegrad's own golden cases (schema 1)

Reference forward results and gradients for the engine's layers and for a whole
LeNet-5, computed independently in PyTorch (float64). They complement the public
cases that `GOLDEN_DIR` points to (read by `tests/golden.rs`), which only cover square kernels, dilation 1,
symmetric stride and padding, unpadded max pooling and average pooling with
stride equal to the kernel or 1. The cases here add dilated, non-square and
asymmetrically strided or padded convolutions, padded, overlapping and gapped
pooling, degenerate dense shapes, numerically extreme softmax logits and two
more LeNet-5 batches.

**This file is generated by `tools/make_golden.py`; edit the script, not this file.**

## Schema

Exactly the one the public cases use, schema `"1"`, which is the contract;
in brief:

* One case per `.safetensors` file. Metadata (string -> string): `"op"`
  (`conv2d`, `max_pool2d`, `avg_pool2d`, `dense`, `softmax_cross_entropy`,
  `lenet5`), `"schema"` = `"1"`, and the op's keys `"stride"`, `"padding"`,
  `"dilation"` (conv2d) or `"kernel"`, `"stride"`, `"padding"` (pooling), each
  written `"rows,cols"`. `"seed"`, `"generator"` and `"mnist_t10k_indices"`
  are informational.
* Layouts are channels-last: activations NHWC `[N,H,W,C]`, conv kernels
  `[Cout,KH,KW,Cin]`, dense weights `[In,Out]` (`y = x.w + b`).
* Every float tensor is `F64`, `labels` is `I64`; scalar losses have shape `[]`.
* Inputs under their own names (`x`, `w`, `b`, `labels`, `conv1.w`, ...);
  expected results `y`, `gx`, `gw`, `gb`, and for `lenet5` `logits` and
  `grad.<param>`. `gy` is a random upstream gradient and the expected gradients
  are its vector-Jacobian products; `softmax_cross_entropy` and `lenet5` have
  no `gy` (gradients of the scalar mean loss).
* Max pooling pads with -infinity, windows have no near-ties (top two at least
  1e-6 apart); average pooling has padding `0,0`; LeNet-5 ReLU inputs are at
  least 1e-6 away from 0 and its pooling windows with a positive maximum are
  tie-free. Input positions no output reads have gradient exactly 0.
* Tolerance for a harness: `|actual - expected| <= 1e-9 + 1e-7 * |expected|`.

## Regenerating

```sh
pip install torch numpy safetensors
python3 tools/make_golden.py            # --out tests/golden --mnist-dir "$MNIST_DIR"
```

The `lenet5` cases read `t10k-images-idx3-ubyte.gz` and
`t10k-labels-idx1-ubyte.gz` from the MNIST directory. Each case has a fixed
seed (numpy `default_rng`); PyTorch runs single-threaded and the files are
serialized with sorted keys, so with the same library versions a rerun writes
byte-identical files. The versions used are in each file's `"generator"`
metadata: {generator}.

Every file is read back through the `safetensors` library and `y` plus all
gradients are recomputed with naive numpy float64 loops in the schema's layout
(no PyTorch); the script fails unless every element satisfies
`|numpy - torch| <= 1e-12 + 1e-10 * |torch|`. Largest disagreements per op:

{summary}

## Files ({count}, {size})

The two `lenet5` files make up almost all of the size: each holds `fc1.w` and
`grad.fc1.w` (`[400,120]` F64, 384 KB apiece) besides the smaller parameters.

{files}
"""


def write_readme(
    out: Path, rows: list[list[str]], summary: list[list[str]], total_bytes: int
) -> None:
    size = f"{total_bytes / 1e6:.2f} MB"
    files = markdown_table(["file", "op", "configuration", "shapes", "what it exercises"], rows)
    text = README_TEMPLATE.format(
        generator=f"`{GENERATOR}`",
        summary=markdown_table(
            ["op", "files", "max relative disagreement", "max absolute disagreement"], summary
        ),
        count=len(rows),
        size=size,
        files=files,
    )
    (out / "README.md").write_text(text, encoding="utf-8")


def run(out: Path, mnist_dir: Path) -> None:
    validate_case_list()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    ctx = Context(mnist_dir)
    out.mkdir(parents=True, exist_ok=True)

    results: dict[str, list[Disagreement]] = {}
    table_rows: list[list[str]] = []
    total_bytes = 0
    for case in CASES:
        gen = case.generate(ctx)
        path = out / f"{case.name}.safetensors"
        write_case(path, gen.tensors, gen.metadata)
        total_bytes += path.stat().st_size

        # Independent cross-check from the file as written.
        tensors, metadata = read_case(path)
        if set(tensors) != set(gen.tensors) or metadata != gen.metadata:
            raise GoldenError(f"{case.name}: file does not round-trip")
        check_dtypes(case.name, tensors)
        result = CHECKERS[metadata["op"]](case.name, tensors, metadata)
        if getattr(case, "expect_unread", False) and result.unread == 0:
            raise GoldenError(f"{case.name}: expected input positions that no output reads")
        results.setdefault(case.op, []).append(result.disagreement)

        notes = [f"{result.unread} unread input positions"] if result.unread else []
        notes += ([result.notes] if result.notes else []) + ctx.notes.get(case.name, [])
        print(
            f"  {path.name:<52} rel {result.disagreement.max_rel:.1e}  "
            f"abs {result.disagreement.max_abs:.1e}"
            + (f"  ({'; '.join(notes)})" if notes else "")
        )
        table_rows.append(
            [f"`{path.name}`", case.op, gen.configuration, gen.shapes, case.purpose]
        )

    expected = {f"{c.name}.safetensors" for c in CASES}
    stale = sorted(p.name for p in out.glob("*.safetensors") if p.name not in expected)
    if stale:
        print(f"warning: files in {out} that this script does not produce: {stale}")

    summary = summary_rows(results)
    write_readme(out, table_rows, summary, total_bytes)
    print()
    print(markdown_table(["op", "files", "max rel", "max abs"], summary))
    print(f"\n{len(CASES)} cases, {total_bytes} bytes, written to {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate tapegrad's golden reference cases (schema 1) and "
        "cross-check them against naive numpy implementations.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output directory (default: {DEFAULT_OUT.relative_to(REPO_ROOT)})",
    )
    parser.add_argument(
        "--mnist-dir",
        type=Path,
        default=DEFAULT_MNIST_DIR,
        help="directory holding t10k-images-idx3-ubyte.gz and "
        "t10k-labels-idx1-ubyte.gz (default: $MNIST_DIR)",
    )
    args = parser.parse_args(argv)

    missing = [
        name
        for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
        if not (args.mnist_dir / name).is_file()
    ]
    if missing:
        parser.error(
            f"MNIST test files {missing} not found in {args.mnist_dir}; "
            "pass --mnist-dir pointing at the directory with the gzipped IDX files"
        )

    try:
        run(args.out, args.mnist_dir)
    except GoldenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
