"""Term quantization: integers written as signed power-of-two terms, with a budget of
terms per group of values (Kung et al., term quantization / multi-resolution inference).

Greedy rule, per group: repeatedly keep the value whose next largest remaining term has
the greatest magnitude (ties: lowest index in the group) until ``budget`` terms are kept.
Each value's terms have distinct exponents, so that greedy order is simply all terms of
the group sorted by (exponent descending, index ascending); the kept set is the first
``budget`` of that order. We lay the digits out in exactly that order and keep a term
iff the running count of nonzero digits is <= budget: no sort, no Python loop per value,
and the terms kept at budget k are a prefix (so a subset) of those kept at k + 1.
"""

from __future__ import annotations

from typing import Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]

ENCODINGS = ("binary", "csd")


def _digits(mag: torch.Tensor, n_pos: int, encoding: str) -> torch.Tensor:
    """Signed digits in {-1, 0, 1} of nonnegative int64 ``mag``: shape (..., n_pos),
    position p holding the digit of 2**p."""
    pos = torch.arange(n_pos, device=mag.device, dtype=torch.int64)
    if encoding == "binary":
        return ((mag.unsqueeze(-1) >> pos) & 1).to(torch.int8)
    # Non-adjacent form (CSD) without a loop: with xh = x >> 1 and x3 = x + xh, the bits of
    # x3 ^ xh mark the nonzero digits; x3 gives the +1 digits and xh the -1 digits
    # (Wikipedia "Non-adjacent form"; NAF may need one position above x's top bit).
    xh = mag >> 1
    x3 = mag + xh
    c = x3 ^ xh
    plus = ((x3 & c).unsqueeze(-1) >> pos) & 1
    minus = ((xh & c).unsqueeze(-1) >> pos) & 1
    return (plus - minus).to(torch.int8)


def term_quantize(q: ArrayLike, budget: int, group_size: int = 1, encoding: str = "binary",
                  dim: int = -1) -> ArrayLike:
    """Keep the ``budget`` largest power-of-two terms of each group of integers.

    Args:
        q: integer values (torch tensor or numpy array, any integer or integral-float dtype).
        budget: terms kept per group (>= 0).
        group_size: consecutive entries along ``dim`` sharing one budget; the last group
            may be short. 1 gives a per-value budget.
        encoding: ``binary`` (set bits of |q|) or ``csd`` (canonical signed digit /
            non-adjacent form: fewest nonzero digits; its terms may be negative).
        dim: axis along which groups are formed.

    Returns:
        Same type, shape and dtype as ``q``: the sum of kept terms per value, sign restored.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding: must be one of {', '.join(ENCODINGS)}; got {encoding!r}")
    if isinstance(budget, bool) or int(budget) != budget or budget < 0:
        raise ValueError(f"budget: must be an integer >= 0, got {budget!r}")
    if isinstance(group_size, bool) or int(group_size) != group_size or group_size < 1:
        raise ValueError(f"group_size: must be an integer >= 1, got {group_size!r}")
    is_numpy = isinstance(q, np.ndarray)
    t = torch.from_numpy(np.ascontiguousarray(q)) if is_numpy else q
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"q: expected a torch tensor or numpy array, got {type(q).__name__}")
    if t.dtype.is_floating_point and not torch.equal(t, torch.round(t)):
        raise ValueError("q: term quantization needs integer values; round (or scale) first")
    out_dtype = t.dtype
    if t.ndim == 0:
        res = _term_quantize_2d(t.reshape(1, 1).to(torch.int64), int(budget), 1, encoding).reshape(())
    else:
        moved = t.movedim(dim, -1)
        shape = moved.shape
        flat = moved.reshape(-1, shape[-1]).to(torch.int64)
        res = _term_quantize_2d(flat, int(budget), int(group_size), encoding).reshape(shape).movedim(-1, dim)
    res = res.to(out_dtype)
    return res.numpy() if is_numpy else res


def _term_quantize_2d(x: torch.Tensor, budget: int, g: int, encoding: str,
                      chunk_values: int = 1 << 21) -> torch.Tensor:
    rows, length = x.shape
    n_groups = -(-length // g)
    pad = n_groups * g - length
    if pad:
        x = torch.nn.functional.pad(x, (0, pad))
    grouped = x.reshape(rows * n_groups, g)
    mag = grouped.abs()
    max_mag = int(mag.max()) if mag.numel() else 0
    n_pos = max(max_mag.bit_length() + (1 if encoding == "csd" else 0), 1)
    sign = torch.sign(grouped)
    out = torch.empty_like(grouped)
    pow2 = 1 << torch.arange(n_pos - 1, -1, -1, dtype=torch.int64, device=x.device)  # high -> low
    step = max(1, chunk_values // g)
    for start in range(0, grouped.shape[0], step):  # bounded memory, not a per-value loop
        m = mag[start:start + step]
        d = _digits(m, n_pos, encoding).flip(-1)  # (G, g, P) with position high -> low
        # greedy order: exponent descending, then index ascending -> lay out as (G, P, g)
        d = d.transpose(1, 2)
        nz = d != 0
        rank = nz.reshape(nz.shape[0], -1).cumsum(-1, dtype=torch.int32).reshape(nz.shape)
        kept = torch.where(nz & (rank <= budget), d, torch.zeros((), dtype=d.dtype))
        val = (kept.to(torch.int64) * pow2[None, :, None]).sum(1)  # (G, g)
        out[start:start + step] = val * sign[start:start + step]
    out = out.reshape(rows, n_groups * g)
    return out[:, :length] if pad else out


def count_terms(q: ArrayLike, encoding: str = "binary") -> ArrayLike:
    """Number of nonzero power-of-two terms of each integer (same container type back)."""
    is_numpy = isinstance(q, np.ndarray)
    t = torch.from_numpy(np.ascontiguousarray(q)) if is_numpy else q
    mag = t.to(torch.int64).abs()
    max_mag = int(mag.max()) if mag.numel() else 0
    n_pos = max(max_mag.bit_length() + 1, 1)
    res = (_digits(mag, n_pos, encoding) != 0).sum(-1)
    return res.numpy() if is_numpy else res
