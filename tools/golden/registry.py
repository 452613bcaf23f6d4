"""The case list, the checker for each op and the case-list validation."""

from __future__ import annotations

from typing import Callable

from .cases_base import Case, CaseResult
from .cases_layers import (
    AvgPool2dCase,
    Conv2dCase,
    DenseCase,
    MaxPool2dCase,
    SoftmaxCrossEntropyCase,
)
from .cases_lenet5 import Lenet5Case
from .common import PUBLIC_CASES_DIR, GoldenError, Metadata, Tensors


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

