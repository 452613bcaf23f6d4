"""safetensors serialization (deterministic)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save as safetensors_save

from .common import GoldenError, Metadata, Tensors


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

