"""Case definitions: the common base of every case kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .checks import Disagreement
from .common import GENERATOR, SCHEMA, Metadata, Tensors

if TYPE_CHECKING:
    from .context import Context


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


