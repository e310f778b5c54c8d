"""Uniform fixed point, with optional per-row widths (``row_bits``)."""

from __future__ import annotations

from typing import Optional

import torch

from hwmodels.formats import BASELINE_KIND, QuantScheme

from .grid import describe_rounding, row_levels_n, scaled_round, uniform, uniform_rounding
from .registry import register_quantizer

KIND = BASELINE_KIND


def quantize(c: torch.Tensor, scheme: QuantScheme, rows: Optional[torch.Tensor] = None, row_dim: int = 0) -> torch.Tensor:
    if scheme.row_bits is not None:
        return scaled_round(c, row_levels_n(scheme, c, row_dim))
    return uniform(c, scheme.w_bits)


register_quantizer(KIND, quantize)
describe_rounding(quantize, uniform_rounding)
