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
    if (group_size == 1 and encoding == "binary" and t.dtype in (torch.float32, torch.float64)
            and (t.numel() == 0 or float(t.abs().max()) < 2**16)):
        res = _per_value_binary(t, int(budget))
        return res.numpy() if is_numpy else res
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
                      chunk_values: int = 1 << 22) -> torch.Tensor:
    """Rows of int64 values, groups of ``g`` along the last axis.

    Per group, the kept terms are: every nonzero digit in the bit planes above a cut plane
    p*, plus the first r nonzero digits (by index) of plane p*, where p* is the highest
    plane at which the running count of nonzero digits (from the top) exceeds the budget
    and r is what is left of the budget there. That is the greedy order of the module
    docstring, computed with one pass per bit plane instead of per value.
    """
    rows, length = x.shape
    if g == 1 and encoding == "binary" and (x.numel() == 0 or int(x.abs().max()) < 2**31):
        return _per_value_binary(x, budget)
    n_groups = -(-length // g)
    pad = n_groups * g - length
    if pad:
        x = torch.nn.functional.pad(x, (0, pad))
    grouped = x.reshape(rows * n_groups, g)
    out = torch.empty_like(grouped)
    step = max(1, chunk_values // g)
    for start in range(0, grouped.shape[0], step):  # bounded memory, not a per-value loop
        out[start:start + step] = _term_groups(grouped[start:start + step], budget, encoding)
    out = out.reshape(rows, n_groups * g)
    return out[:, :length] if pad else out


def _per_value_binary(x: torch.Tensor, budget: int) -> torch.Tensor:
    """Per-value budget, binary terms: peel the top set bit ``budget`` times (the common
    activation case; a handful of elementwise passes instead of one per bit plane)."""
    sign = torch.sign(x)
    r = x.abs()
    acc = torch.zeros_like(r)
    for _ in range(budget):
        nz = r > 0
        if not bool(nz.any()):
            break
        if r.dtype.is_floating_point:  # float32 log2 is exact enough below 2**16 (checked by caller)
            t = torch.where(nz, torch.exp2(torch.floor(torch.log2(r.clamp(min=1)))), torch.zeros_like(r))
        else:
            top = torch.floor(torch.log2(r.clamp(min=1).double())).long()  # exact below 2**31
            t = torch.where(nz, torch.ones_like(r) << top, torch.zeros_like(r))
        acc += t
        r -= t
    return acc * sign


def _term_groups(grouped: torch.Tensor, budget: int, encoding: str) -> torch.Tensor:
    sign = torch.sign(grouped)
    mag = grouped.abs()
    if encoding == "binary":
        plus, minus = mag, torch.zeros_like(mag)
    else:  # non-adjacent form as two bit masks (see _digits)
        xh = mag >> 1
        x3 = mag + xh
        c = x3 ^ xh
        plus, minus = x3 & c, xh & c
    nz = plus | minus
    max_nz = int(nz.max()) if nz.numel() else 0
    n_pos = max(max_nz.bit_length(), 1)
    counts = torch.stack([((nz >> p) & 1).sum(-1) for p in range(n_pos)], dim=1)  # (G, P)
    from_top = counts.flip(1).cumsum(1).flip(1)  # digits in planes >= p
    over = from_top > budget
    cut = over.sum(1) - 1  # p*: highest plane where the budget runs out; -1 keeps all
    above = torch.where(cut + 1 < n_pos, from_top.gather(1, (cut + 1).clamp(max=n_pos - 1)[:, None])[:, 0],
                        torch.zeros_like(cut))
    remaining = budget - above
    cut_c = cut.clamp(min=0)
    plane = (nz >> cut_c[:, None]) & 1
    rank = plane.cumsum(1)
    keep_plane = (plane == 1) & (rank <= remaining[:, None]) & (cut[:, None] >= 0)
    high_mask = ~((torch.ones_like(cut) << (cut_c + 1)) - 1)  # bits strictly above p*
    high_mask = torch.where(cut >= 0, high_mask, torch.full_like(cut, -1))  # no cut: keep everything
    keep = high_mask[:, None] | (keep_plane.to(torch.int64) << cut_c[:, None])
    return ((plus & keep) - (minus & keep)) * sign


def count_terms(q: ArrayLike, encoding: str = "binary") -> ArrayLike:
    """Number of nonzero power-of-two terms of each integer (same container type back)."""
    is_numpy = isinstance(q, np.ndarray)
    t = torch.from_numpy(np.ascontiguousarray(q)) if is_numpy else q
    mag = t.to(torch.int64).abs()
    max_mag = int(mag.max()) if mag.numel() else 0
    n_pos = max(max_mag.bit_length() + 1, 1)
    res = (_digits(mag, n_pos, encoding) != 0).sum(-1)
    return res.numpy() if is_numpy else res
