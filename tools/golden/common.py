"""Constants, types, the error type and small helpers shared by the golden tools."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import safetensors
import torch

SCHEMA = "1"
REPO_ROOT = Path(__file__).resolve().parent.parent.parent
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


# Small helpers


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

