"""Row-wise mix (Mix and Match, Chang et al., HPCA 2021): a fraction ``sp2_fraction`` of
the rows (output channels) in SP2, the rest in fixed point; which rows is fixed when the
layer is wrapped (:func:`assign_sp2_rows`)."""

from __future__ import annotations

from typing import Optional

import torch

from hwmodels.formats import QuantScheme

from .grid import describe_rounding, level_rounding, nearest_level, uniform, uniform_rounding
from .registry import register_quantizer
from .sp2 import KIND as SP2

KIND = "msq"


def row_kurtosis(w: torch.Tensor) -> torch.Tensor:
    """Excess kurtosis of each row (output channel) of a weight tensor: 0 for a Gaussian,
    -1.2 for a uniform distribution, 3 for a Laplacian."""
    x = w.detach().reshape(w.shape[0], -1).double()
    x = x - x.mean(1, keepdim=True)
    var = (x * x).mean(1)
    m4 = (x ** 4).mean(1)
    return (m4 / var.clamp_min(1e-30) ** 2 - 3.0).to(w.dtype)


def assign_sp2_rows(w: torch.Tensor, sp2_fraction: float) -> torch.Tensor:
    """Rows to put in SP2 for a row-wise mixed (msq) scheme, as a bool mask.

    SP2 levels are dense near zero and sparse at the tails, so they suit bell-shaped rows;
    uniform-like rows suit fixed point. We rank rows by excess kurtosis (bell-shaped/heavy-
    tailed rows score high, uniform-like rows score near -1.2) and put the
    ``round(sp2_fraction * rows)`` highest in SP2 (ties by row index, so the assignment is
    deterministic).
    """
    rows = w.shape[0]
    n_sp2 = int(round(float(sp2_fraction) * rows))
    mask = torch.zeros(rows, dtype=torch.bool, device=w.device)
    if n_sp2 <= 0:
        return mask
    k = row_kurtosis(w)
    order = sorted(range(rows), key=lambda i: (-float(k[i]), i))
    mask[torch.as_tensor(order[:n_sp2], device=w.device)] = True
    return mask


def quantize(c: torch.Tensor, scheme: QuantScheme, rows: Optional[torch.Tensor] = None, row_dim: int = 0) -> torch.Tensor:
    """SP2 levels on the ``rows`` mask, the uniform grid elsewhere."""
    b = scheme.w_bits
    fixed = uniform(c, b)
    if rows is None or not bool(rows.any()):
        return fixed
    sp2 = nearest_level(c, SP2, b)
    shape = [1] * c.ndim
    shape[row_dim] = -1
    return torch.where(rows.view(shape), sp2, fixed)


def row_state(w: torch.Tensor, scheme: QuantScheme) -> torch.Tensor:
    return assign_sp2_rows(w, scheme.sp2_fraction)


def rounding(scheme: QuantScheme, rows: Optional[torch.Tensor], w: torch.Tensor):
    n = float(2 ** (scheme.w_bits - 1) - 1)
    if rows is None:
        return uniform_rounding(scheme, rows, w)
    if rows.numel() != w.shape[0]:
        return None
    return level_rounding(SP2, scheme.w_bits, w, n, rows.to(device="cpu", dtype=torch.uint8).contiguous())


register_quantizer(KIND, quantize, row_state)
describe_rounding(quantize, rounding)
