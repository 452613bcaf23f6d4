"""Cross-check bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import CHECK_ATOL, CHECK_RTOL, SCHEMA, GoldenError, Metadata, Tensors


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


