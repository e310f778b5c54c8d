"""Term quantization: the fixed grid, keeping ``term_budget`` power-of-two terms per group
of ``group_size`` weights along each row's flattened reduction axis."""

from __future__ import annotations

from typing import Optional

import torch

from hwmodels.formats import QuantScheme

from ..terms import term_quantize_rows
from .registry import register_quantizer

KIND = "term"


def quantize(c: torch.Tensor, scheme: QuantScheme, rows: Optional[torch.Tensor] = None, row_dim: int = 0) -> torch.Tensor:
    n = 2 ** (scheme.w_bits - 1) - 1
    by_row = c.movedim(row_dim, 0) if row_dim else c  # (a view either way; skipped: ~1.5 us per call)
    flat = by_row.reshape(by_row.shape[0], -1)
    # the integers round(flat * n), rounded inside the kernel (or chunk by chunk); kept / n
    # straight from the lookup table (same float rounding as dividing after)
    kept = term_quantize_rows(flat, scheme.term_budget, scheme.group_size, scheme.term_encoding, flat.dtype, n,
                              prescale=n)
    kept = kept.reshape(by_row.shape)
    return kept.movedim(0, row_dim) if row_dim else kept


register_quantizer(KIND, quantize)
