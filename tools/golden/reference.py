"""Naive numpy reference implementations, in the schema's layouts.

Deliberately written as plain loops over output positions and kernel taps,
following the formulas of schema 1 (tests/golden/README.md), with only the
channel contraction done by a small dot product.
"""

from __future__ import annotations

import numpy as np

from .common import Pair, conv_out


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


