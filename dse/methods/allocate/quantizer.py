"""The U3 weight quantizer of Uhlich et al.: learned step size and dynamic range, the bit width
derived from the two."""

from __future__ import annotations

import math

import torch
from torch import nn

from ...quant.fake import ste

#: slack on the ceiling: log2 at an exact power of two may land a hair above the integer
_CEIL_EPS = 1e-4


def bit_width(step: float, q_max: float) -> int:
    """Signed bit width of a uniform quantizer with step ``step`` and range ``q_max``:
    ``ceil(log2(q_max / step + 1)) + 1`` (one sign bit)."""
    if not (step > 0 and q_max > 0):
        raise ValueError(f"step/q_max: must be > 0, got {step!r}, {q_max!r}")
    return int(math.ceil(math.log2(q_max / step + 1.0) - _CEIL_EPS)) + 1


class StepRangeQuantizer(nn.Module):
    """U3 weight quantizer: learned step size and dynamic range, one pair per filter
    (rows on dim 0) or per tensor; the bit width is derived (:meth:`bits`)."""

    def __init__(self, weight: torch.Tensor, per_filter: bool, bits_min: int, bits_max: int, init_bits: float):
        super().__init__()
        w = weight.detach()
        rows = w.shape[0] if per_filter else 1
        q = w.reshape(rows, -1).abs().amax(1).clamp_min(1e-8)
        d = q / (2.0 ** (float(init_bits) - 1.0) - 1.0)
        self.per_filter = per_filter
        self.bits_min, self.bits_max = int(bits_min), int(bits_max)
        self.log_q = nn.Parameter(q.log())
        self.log_d = nn.Parameter(d.log())

    def step_range(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(step d, range q_max), d clipped so that the width stays in [bits_min, bits_max]."""
        q = self.log_q.exp()
        d = torch.minimum(torch.maximum(self.log_d.exp(), q / (2.0 ** (self.bits_max - 1) - 1)),
                          q / (2.0 ** (self.bits_min - 1) - 1))
        return d, q

    def bits(self) -> torch.Tensor:
        """Width per filter (or one per tensor): ``ceil(log2(q/d + 1)) + 1`` forward, the
        continuous ``log2(q/d + 1) + 1`` backward."""
        d, q = self.step_range()
        cont = torch.log2(q / d + 1.0) + 1.0
        hard = torch.ceil(cont.detach() - _CEIL_EPS).clamp(self.bits_min, self.bits_max)
        return ste(cont, hard)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        d, q = self.step_range()
        shape = (-1,) + (1,) * (w.ndim - 1)
        d, q = d.view(shape), q.view(shape)
        wc = torch.minimum(torch.maximum(w, -q), q)
        u = wc / d
        return ste(u, torch.round(u)) * d
