"""Shared inputs for the cases: MNIST (IDX reading) and per-case console notes."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from .common import GoldenError


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

