"""Sum of two powers of two (Mix-and-Match's SP2): nearest level of the SP2 set."""

from __future__ import annotations

from typing import Optional

import torch

from hwmodels.formats import QuantScheme

from .grid import describe_rounding, level_rounding, nearest_level
from .registry import register_quantizer

KIND = "sp2"


def quantize(c: torch.Tensor, scheme: QuantScheme, rows: Optional[torch.Tensor] = None, row_dim: int = 0) -> torch.Tensor:
    return nearest_level(c, KIND, scheme.w_bits)


def rounding(scheme: QuantScheme, rows: Optional[torch.Tensor], w: torch.Tensor):
    return level_rounding(KIND, scheme.w_bits, w)


register_quantizer(KIND, quantize)
describe_rounding(quantize, rounding)
