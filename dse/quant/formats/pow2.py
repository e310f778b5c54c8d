"""One power of two per weight: nearest of 0, +-2^-i."""

from __future__ import annotations

from typing import Optional

import torch

from hwmodels.formats import QuantScheme

from .grid import nearest_level
from .registry import register_quantizer

KIND = "pow2"


def quantize(c: torch.Tensor, scheme: QuantScheme, rows: Optional[torch.Tensor] = None, row_dim: int = 0) -> torch.Tensor:
    return nearest_level(c, KIND, scheme.w_bits)


register_quantizer(KIND, quantize)
