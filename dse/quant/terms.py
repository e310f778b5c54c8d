"""Term quantization: integers written as signed power-of-two terms, with a budget of
terms per group of values (Kung et al., term quantization / multi-resolution inference).

Greedy rule, per group: repeatedly keep the value whose next largest remaining term has
the greatest magnitude (ties: lowest index in the group) until ``budget`` terms are kept.
Each value's terms have distinct exponents, so that greedy order is simply all terms of
the group sorted by (exponent descending, index ascending); the kept set is the first
``budget`` of that order, and the terms kept at budget k are a prefix (so a subset) of
those kept at k + 1.

How it is computed (no sort, no loop per value or per bit plane for values below 2**16):
per group the kept set is every digit in the bit planes above a cut plane p*, plus the
first r nonzero digits (by index) of plane p*. Each value's nonzero-digit planes are
looked up as one int64 with a small counter field per plane; a cumulative sum along the
group then gives, for every value, how many digits each plane holds up to and including
it, and its last entry the group's per-plane totals. p* and r follow from the totals with
a few integer operations per group (SWAR: all planes at once in one int64), and each
value's result is one more table lookup: "the value with its digits below plane c
dropped", with c = p* or p* + 1 depending on whether its digit in plane p* is among the
first r. Larger values fall back to a pass per bit plane.

On CPU the same method runs as one fused C loop (``native/terms.c``, compiled on first use
by :mod:`dse.quant.native`) reading these same tables: indices, group totals, the cut and
the result in one pass per block of groups instead of ~10 torch kernels. Its results are
the torch path's, bit for bit; the torch path stays for CUDA tensors, other dtypes, values
>= 2**16, and when no compiler is available or ``DSE_NATIVE=0``.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Optional, Sequence, Union

import numpy as np
import torch

from . import term_kernel

ArrayLike = Union[np.ndarray, torch.Tensor]
BudgetLike = Union[int, Sequence[int], np.ndarray, torch.Tensor]

ENCODINGS = ("binary", "csd")

_TABLE_MAX_BITS = 16  # lookup tables cover |value| < 2**16 (every weight/activation width)
_CHUNK_VALUES = 1 << 17  # values per pass: keeps the int64 temporaries (1 MiB) in L2

_UNSET = object()
_lib = _UNSET  # the compiled native/terms.c once looked up; None: torch paths only (tests set it)
_NP_FLOATS = {torch.float32: np.float32, torch.float64: np.float64}


def _native() -> Optional[ctypes.CDLL]:
    """The fused C kernel (``native/terms.c``), or ``None`` (no compiler, ``DSE_NATIVE=0``)."""
    global _lib
    if _lib is _UNSET:
        _lib = term_kernel.load()
    # (torch.jit.trace records torch ops only: a kernel call would not be in the trace)
    return None if torch.jit.is_tracing() else _lib


def _integral(t: torch.Tensor) -> tuple[bool, Optional[tuple[float, float]]]:
    """Whether every value of floating ``t`` is integral (``t == round(t)``; NaN is not), and
    its min and max when the kernel measured them in the same pass."""
    res = term_kernel.integral_range(_lib, t) if _native() is not None else None
    return (torch.equal(t, torch.round(t)), None) if res is None else res


def _native_values(x: torch.Tensor, table: torch.Tensor, vmax: int, prescale: Optional[int]) -> Optional[torch.Tensor]:
    """Group size 1, one budget: ``table[value + vmax]`` per value in one C pass, or ``None``."""
    return term_kernel.per_value(_lib, x, table, vmax, prescale) if _native() is not None else None


def _native_groups(x: torch.Tensor, budget: Union[int, torch.Tensor], g: int, vbits: int, encoding: str,
                   out_dtype: torch.dtype, divisor: Optional[int], prescale: Optional[int],
                   value_range: Optional[list] = None) -> Optional[torch.Tensor]:
    """Rows of groups of ``g`` through the C kernel, reading the torch path's tables for
    |values| < 2**vbits; ``None`` when it does not apply or a value lies outside the tables."""
    if _native() is None or x.device.type != "cpu":
        return None
    _, _, n_pos, max_terms = _value_tables(vbits, encoding, "cpu")
    w, swar, per_word = _table_mode(n_pos, max_terms, g)
    codes = _plane_code_table(vbits, encoding, "cpu", w, per_word)
    cuts = _cut_table(vbits, encoding, out_dtype, "cpu", divisor)
    most = g * max_terms  # most digits a group can hold (a larger budget keeps them all)
    rows = None
    if isinstance(budget, torch.Tensor):
        rows = budget.to(device="cpu", dtype=torch.int64).contiguous()
        if rows.numel() != x.shape[0] or (rows.numel() and int(rows.min()) < 0):
            return None
    if cuts.dtype != out_dtype or (rows is None and budget < 0):
        return None
    return term_kernel.groups(_lib, x, 0 if rows is not None else min(int(budget), most), rows, g, (1 << vbits) - 1,
                              codes, w, swar, per_word, n_pos, most, cuts, prescale, value_range)


def _native_bounded(x: torch.Tensor, budget: Union[int, torch.Tensor], g: int, encoding: str,
                    out_dtype: torch.dtype, divisor: Optional[int], prescale: Optional[int]) -> Optional[torch.Tensor]:
    """The weight path: ``round(x * prescale)`` of weights normalised to [-1, 1] lies within
    +-prescale, so the kernel runs with tables sized from that bound, without a min/max pass
    first. ``None`` (the general path runs) when a value lies outside the bound, or where the
    general path returns the values unchanged (a budget covering every term a group can hold
    for the values' real range: that path keeps a rounded -0.0, the tables give 0.0)."""
    if (type(prescale) is not int or not 1 <= prescale < 1 << _TABLE_MAX_BITS or x.dtype not in _NP_FLOATS
            or x.device.type != "cpu" or _native() is None):
        return None
    vbits = prescale.bit_length()
    per_row = isinstance(budget, torch.Tensor)
    if g == 1 and not per_row:  # (the general path never returns values unchanged here)
        table = _per_value_table(vbits, encoding, budget, out_dtype, "cpu", divisor)
        return _native_values(x, table, (1 << vbits) - 1, prescale) if table.dtype == out_dtype else None
    seen: list = []
    res = _native_groups(x, budget, g, vbits, encoding, out_dtype, divisor, prescale, seen)
    if res is None or per_row:
        return res
    _, _, _, max_terms = _value_tables(max(-seen[0], seen[1]).bit_length(), encoding, "cpu")
    return None if budget >= g * max_terms else res


def _digits(mag: torch.Tensor, n_pos: int, encoding: str) -> torch.Tensor:
    """Signed digits in {-1, 0, 1} of nonnegative int64 ``mag``: shape (..., n_pos),
    position p holding the digit of 2**p."""
    pos = torch.arange(n_pos, device=mag.device, dtype=torch.int64)
    plus, minus = _digit_masks(mag, encoding)
    return (((plus.unsqueeze(-1) >> pos) & 1) - ((minus.unsqueeze(-1) >> pos) & 1)).to(torch.int8)


def _digit_masks(mag: torch.Tensor, encoding: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Bit masks of the +1 and -1 digits of nonnegative int64 ``mag``."""
    if encoding == "binary":
        return mag, torch.zeros_like(mag)
    # Non-adjacent form (CSD) without a loop: with xh = x >> 1 and x3 = x + xh, the bits of
    # x3 ^ xh mark the nonzero digits; x3 gives the +1 digits and xh the -1 digits
    # (Wikipedia "Non-adjacent form"; NAF may need one position above x's top bit).
    xh = mag >> 1
    x3 = mag + xh
    c = x3 ^ xh
    return x3 & c, xh & c


def term_quantize(q: ArrayLike, budget: BudgetLike, group_size: int = 1, encoding: str = "binary",
                  dim: int = -1) -> ArrayLike:
    """Keep the ``budget`` largest power-of-two terms of each group of integers.

    Args:
        q: integer values (torch tensor or numpy array, any integer or integral-float dtype).
        budget: terms kept per group (>= 0); or one budget per row: a 1-D sequence with one
            entry per index of axis 0 (``dim`` must then be another axis), every group of
            that row getting it.
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
    if isinstance(group_size, bool) or int(group_size) != group_size or group_size < 1:
        raise ValueError(f"group_size: must be an integer >= 1, got {group_size!r}")
    is_numpy = isinstance(q, np.ndarray)
    t = torch.from_numpy(np.ascontiguousarray(q)) if is_numpy else q
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"q: expected a torch tensor or numpy array, got {type(q).__name__}")
    value_range = None
    if t.dtype.is_floating_point:
        integral, value_range = _integral(t)
        if not integral:
            raise ValueError("q: term quantization needs integer values; round (or scale) first")
    k = _check_budget(budget, t, dim)
    out_dtype = t.dtype
    if t.numel() == 0:
        res = t.clone()
    elif t.ndim == 0:
        res = term_quantize_rows(t.reshape(1, 1), k, 1, encoding, out_dtype, value_range=value_range).reshape(())
    else:
        moved = t.movedim(dim, -1)
        shape = moved.shape
        flat = moved.reshape(-1, shape[-1])
        if isinstance(k, torch.Tensor):  # one budget per index of axis 0 -> one per flattened row
            k = k.repeat_interleave(flat.shape[0] // shape[0]) if shape[0] else k
        res = term_quantize_rows(flat, k, int(group_size), encoding, out_dtype,
                                 value_range=value_range).reshape(shape).movedim(-1, dim)
    return res.numpy() if is_numpy else res


def _check_budget(budget: BudgetLike, t: torch.Tensor, dim: int) -> Union[int, torch.Tensor]:
    """An int, or an int64 tensor with one budget per index of axis 0."""
    if isinstance(budget, (np.ndarray, torch.Tensor, list, tuple)):
        b = torch.as_tensor(np.asarray(budget) if not isinstance(budget, torch.Tensor) else budget)
        if b.ndim == 0:
            return _check_budget(b.item(), t, dim)
        if b.ndim != 1 or t.ndim < 2 or (dim % t.ndim) == 0 or b.shape[0] != t.shape[0]:
            raise ValueError(f"budget: per-row budgets need a 1-D sequence with one entry per index of axis 0 "
                             f"({t.shape[0] if t.ndim else 0}) and groups along another axis; "
                             f"got shape {tuple(b.shape)} for values of shape {tuple(t.shape)}, dim {dim}")
        if b.dtype.is_floating_point and not torch.equal(b, torch.round(b)) or b.dtype == torch.bool:
            raise ValueError("budget: per-row budgets must be integers >= 0")
        b = b.to(torch.int64)
        if b.numel() and int(b.min()) < 0:
            raise ValueError(f"budget: per-row budgets must be integers >= 0, got minimum {int(b.min())}")
        return b.to(t.device)
    if isinstance(budget, bool) or int(budget) != budget or budget < 0:
        raise ValueError(f"budget: must be an integer >= 0, got {budget!r}")
    return int(budget)


def term_quantize_rows(x: torch.Tensor, budget: Union[int, torch.Tensor], g: int, encoding: str,
                        out_dtype: torch.dtype, divisor: Optional[int] = None,
                        prescale: Optional[int] = None,
                        value_range: Optional[tuple[float, float]] = None) -> torch.Tensor:
    """Rows of integral values (any dtype), groups of ``g`` along the last axis; one budget
    for all groups or one per row (int64 tensor). Returns ``kept`` in ``out_dtype``, divided
    by ``divisor`` when given (``kept.to(out_dtype) / divisor``, the same rounding).

    With ``prescale`` (floating ``x``), the values are ``torch.round(x * prescale)``: the
    same integers, rounded chunk by chunk while each chunk is in cache instead of in two
    passes over the whole tensor first. ``value_range``: the min and max of ``x`` when the
    caller already has them (saves a pass; not used with ``prescale``)."""
    rows, length = x.shape
    if x.numel() == 0:
        return torch.empty(x.shape, dtype=out_dtype, device=x.device)
    if x.dtype == torch.bool:
        x = x.to(torch.int64)
    if prescale is not None:
        res = _native_bounded(x, budget, g, encoding, out_dtype, divisor, prescale)
        if res is not None:
            return res
    lo, hi = value_range if value_range is not None and prescale is None else torch.aminmax(x)
    if prescale is not None:  # round(v * s) is monotone in v: its extremes come from x's
        np_float = _NP_FLOATS.get(x.dtype)
        lo_f, hi_f = lo.item(), hi.item()
        if np_float is not None and max(abs(lo_f), abs(hi_f)) * abs(prescale) < 2.0**20:
            s = np_float(prescale)  # the same IEEE ops on numpy scalars: no tensor dispatch
            lo, hi = np.rint(np_float(lo_f) * s), np.rint(np_float(hi_f) * s)
        else:  # (also NaN and overflow: as before)
            lo, hi = torch.round(lo * prescale), torch.round(hi * prescale)
    top = max(-int(lo), int(hi))
    vbits = top.bit_length()
    if vbits <= _TABLE_MAX_BITS:
        return _table_rows(x, budget, g, encoding, vbits, out_dtype, divisor, prescale)
    if prescale is not None:
        x = torch.round(x * prescale)
    res = _plane_rows(x.to(torch.int64), budget, g, encoding).to(out_dtype)
    return res / divisor if divisor is not None else res


def _as_index(x: torch.Tensor, vmax: int, prescale: Optional[int]) -> torch.Tensor:
    """A fresh int32 tensor of ``x``'s integers (``round(x * prescale)`` with ``prescale``)
    plus ``vmax``: indices into the tables (never the caller's storage)."""
    if prescale is not None:
        x = x * prescale
        x.round_()
    idx = x.to(torch.int32, copy=True)
    idx += vmax
    return idx


@functools.lru_cache(maxsize=16)
def _value_tables(vbits: int, encoding: str, device: str) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """For values -vmax..vmax (vmax = 2**vbits - 1): the +1 and -1 digit masks of |v|
    (int64), the number of digit positions and the most nonzero digits of one value."""
    vmax = (1 << vbits) - 1
    mag = torch.arange(-vmax, vmax + 1, dtype=torch.int64, device=device).abs()
    plus, minus = _digit_masks(mag, encoding)
    n_pos = max(int((plus | minus).max()).bit_length(), 1)
    nz = ((plus | minus).unsqueeze(-1) >> torch.arange(n_pos, device=device)) & 1
    return plus, minus, n_pos, int(nz.sum(-1).max())


@functools.lru_cache(maxsize=16)  # up to ~10 MB each at 16 bits: bounded
def _cut_table(vbits: int, encoding: str, dtype: torch.dtype, device: str, divisor: Optional[int]) -> torch.Tensor:
    """Flattened (n_pos + 1, V): row c holds each value with its digits below 2**c dropped,
    sign restored, in ``dtype`` (divided by ``divisor`` when given)."""
    plus, minus, n_pos, _ = _value_tables(vbits, encoding, device)
    vmax = (1 << vbits) - 1
    sign = torch.sign(torch.arange(-vmax, vmax + 1, dtype=torch.int64, device=device))
    keep = ~((torch.ones(n_pos + 1, 1, dtype=torch.int64, device=device)
              << torch.arange(n_pos + 1, device=device)[:, None]) - 1)
    kept = ((plus & keep) - (minus & keep)) * sign
    out = kept.to(dtype)
    return (out / divisor if divisor is not None else out).reshape(-1)


@functools.lru_cache(maxsize=16)
def _plane_code_table(vbits: int, encoding: str, device: str, w: int, per_word: int) -> torch.Tensor:
    """(words, V) int64: for each value, the bit of its nonzero-digit mask at plane p moved
    to bit w * (p % per_word) of word p // per_word (one w-bit counter field per plane), so
    sums of codes count digits per plane."""
    plus, minus, n_pos, _ = _value_tables(vbits, encoding, device)
    nz = plus | minus
    code = torch.zeros((-(-n_pos // per_word), nz.shape[0]), dtype=torch.int64, device=device)
    for p in range(n_pos):  # table construction only (at most 17 planes, once per shape)
        code[p // per_word] |= ((nz >> p) & 1) << (w * (p % per_word))
    return code


@functools.lru_cache(maxsize=32)
def _per_value_table(vbits: int, encoding: str, budget: int, dtype: torch.dtype, device: str,
                     divisor: Optional[int]) -> torch.Tensor:
    """Group size 1: each value with only its ``budget`` largest terms (one lookup)."""
    plus, minus, n_pos, _ = _value_tables(vbits, encoding, device)
    vmax = (1 << vbits) - 1
    sign = torch.sign(torch.arange(-vmax, vmax + 1, dtype=torch.int64, device=device))
    pos = torch.arange(n_pos, device=device)
    nz = ((plus | minus).unsqueeze(-1) >> pos) & 1
    from_top = nz.flip(-1).cumsum(-1).flip(-1)  # digits at positions >= p
    keep = (((from_top <= budget) & (nz == 1)).to(torch.int64) << pos).sum(-1)
    out = (((plus & keep) - (minus & keep)) * sign).to(dtype)
    return out / divisor if divisor is not None else out


@functools.lru_cache(maxsize=64)
def _field_prefixes(w: int, n_pos: int, device: str) -> torch.Tensor:
    """int64 ``sum(2**(w q) for q <= p)`` for p = 0 .. n_pos - 1 (sorted): the packed word
    with a 1 in each of the fields 0..p."""
    return torch.tensor([sum(1 << (w * q) for q in range(p + 1)) for p in range(n_pos)], dtype=torch.int64,
                        device=device)


def _table_mode(n_pos: int, max_terms: int, g: int) -> tuple[int, bool, int]:
    """Counter field width, whether the per-group step runs on packed fields (SWAR), and
    planes per int64 word. Packed needs fields holding a group's whole digit count below a
    guard bit, all planes in one word; otherwise fields only hold per-plane counts (<= g),
    spread over as many words as needed, and the groups' planes are unpacked."""
    w_swar = max((g * max_terms - 1).bit_length() + 1, 2)
    if n_pos * w_swar <= 63:
        return w_swar, True, n_pos
    w_plain = max(g.bit_length(), 1)
    return w_plain, False, max(63 // w_plain, 1)


def _table_rows(x: torch.Tensor, budget: Union[int, torch.Tensor], g: int, encoding: str, vbits: int,
                out_dtype: torch.dtype, divisor: Optional[int], prescale: Optional[int] = None) -> torch.Tensor:
    """The lookup-table method for |x| < 2**vbits (module docstring); ``prescale`` as in
    :func:`term_quantize_rows`."""
    dev = str(x.device)
    vmax = (1 << vbits) - 1
    n_vals = 2 * vmax + 1
    _, _, n_pos, max_terms = _value_tables(vbits, encoding, dev)
    rows, length = x.shape
    per_row = isinstance(budget, torch.Tensor)
    if not per_row and g == 1:
        table = _per_value_table(vbits, encoding, budget, out_dtype, dev, divisor)
        res = _native_values(x, table, vmax, prescale) if table.dtype == out_dtype else None
        if res is not None:
            return res
        flat, res = x.reshape(-1), torch.empty(x.shape, dtype=out_dtype, device=x.device)
        for start in range(0, flat.shape[0], _CHUNK_VALUES):  # (chunks: the indices stay in cache)
            idx = _as_index(flat[start:start + _CHUNK_VALUES], vmax, prescale)
            torch.index_select(table, 0, idx, out=res.view(-1)[start:start + _CHUNK_VALUES])
        return res
    if not per_row and budget >= g * max_terms:  # every term fits: values unchanged
        res = torch.round(x * prescale).to(out_dtype) if prescale is not None else x.to(out_dtype, copy=True)
        return res / divisor if divisor is not None else res
    if not per_row and budget == 0:
        return torch.zeros(x.shape, dtype=out_dtype, device=x.device)
    res = _native_groups(x, budget, g, vbits, encoding, out_dtype, divisor, prescale)
    if res is not None:
        return res
    most = g * max_terms  # most digits a group can hold
    w, swar, per_word = _table_mode(n_pos, max_terms, g)
    codes = _plane_code_table(vbits, encoding, dev, w, per_word)
    cuts = _cut_table(vbits, encoding, out_dtype, dev, divisor)
    n_groups = -(-length // g)
    pad = n_groups * g - length
    if pad:  # value 0 has no digits: padding never takes a term
        if prescale is not None:
            x, prescale = torch.round(x * prescale), None
        groups = torch.nn.functional.pad(x.to(torch.int32), (0, pad)).reshape(rows * n_groups, g)
    else:  # converted chunk by chunk below, while the chunk is in cache
        groups = x.reshape(rows * n_groups, g)
    k_groups = budget.repeat_interleave(n_groups) if per_row else budget
    out = torch.empty(groups.shape, dtype=out_dtype, device=x.device)
    step = max(1, _CHUNK_VALUES // g)
    for start in range(0, groups.shape[0], step):  # bounded temporaries, not a loop per value
        sl = slice(start, start + step)
        k = k_groups[sl] if per_row else budget
        idx0 = _as_index(groups[sl], vmax, prescale)
        _table_groups(idx0, k, codes, cuts, w, swar, per_word, n_pos, most, n_vals, out[sl])
    out = out.reshape(rows, n_groups * g)
    return out[:, :length] if pad else out


def _table_groups(idx0: torch.Tensor, k: Union[int, torch.Tensor], codes: torch.Tensor, cuts: torch.Tensor,
                  w: int, swar: bool, per_word: int, n_pos: int, most: int, n_vals: int,
                  out: torch.Tensor) -> None:
    """Groups as rows of ``idx0`` (value + vmax, int32, shape (n, g)) -> kept values
    (looked up in ``cuts``) written to ``out``."""
    n, g = idx0.shape
    fm = (1 << w) - 1
    flat = idx0.reshape(-1)
    # per word: per-plane inclusive digit counts along each group (last column: totals);
    # fresh tensors, so the steps below may work in place
    cums = [codes[j].index_select(0, flat).reshape(n, g).cumsum_(1) for j in range(codes.shape[0])]
    k_all = min(k, most) if isinstance(k, int) else k.clamp(max=most)  # more than `most` = keep all
    if swar:
        # suffix sums over planes, all fields at once: field p = digits in planes >= p
        s = cums[0][:, -1] if n_pos > 1 else cums[0][:, -1].clone()  # (cums[0] is overwritten below)
        step = 1
        while step < n_pos:  # (each step makes a new tensor)
            s = s + (s >> (w * step))
            step <<= 1
        ones = sum(1 << (w * p) for p in range(n_pos))
        # field p of h has its guard bit (w - 1) set iff s_p > k: s_p + 2**(w-1) - (k + 1)
        if isinstance(k, int):
            h = s + (((1 << (w - 1)) - 1 - min(k, most - 1)) * ones)
        else:
            h = s + ((1 << (w - 1)) - 1 - k.clamp(max=most - 1)) * ones
        over = (h >> (w - 1)) & ones  # fields 0..p* hold 1 (s_p does not grow with p), the rest 0
        # so over is 0 (p* = -1: nothing cut) or _field_prefixes[p*]; p* clamped to >= 0 is its
        # bucket (one op for what floor(log2(over) / w) took seven)
        # (k >= most is compared as most - 1: then p* is a plane holding every digit left and
        # r below equals its whole count, so nothing is dropped either)
        pc = torch.bucketize(over, _field_prefixes(w, n_pos, str(idx0.device)))
        above = (s >> (w * (pc + 1))) & fm  # digits strictly above plane p*
        shift = w * pc
        field = cums[0].bitwise_and_((fm << shift)[:, None])
    else:
        fields = torch.arange(per_word, device=idx0.device) * w
        planes = torch.cat([(c[:, -1, None] >> fields) & fm for c in cums], dim=1)[:, :n_pos]
        s = planes.flip(1).cumsum(1).flip(1)
        kk = k_all if isinstance(k_all, int) else k_all[:, None]
        pc = ((s > kk).sum(1) - 1).clamp_(min=0)
        above = torch.nn.functional.pad(s, (0, 1)).gather(1, (pc + 1)[:, None])[:, 0]
        word = pc // per_word
        shift = w * (pc - word * per_word)
        mask = fm << shift
        field = cums[0].bitwise_and_(mask[:, None]) if len(cums) == 1 else None
        for j in range(len(cums)) if field is None else ():  # plane p* lives in one word
            part = cums[j] & torch.where(word == j, mask, 0)[:, None]
            field = part if field is None else field | part
    r = k_all - above  # digits of plane p* still kept (all of them when nothing is cut)
    dropped = field.gt_((r << shift)[:, None])  # 1: a digit in plane p* beyond the first r
    idx = idx0 + (pc.to(torch.int32) * n_vals)[:, None]
    # (in place into the int64 field and added as int32: ~0.7 ns/value less than a bool
    # temporary added with alpha, which converts it on the fly)
    idx.add_(dropped.to(torch.int32), alpha=n_vals)
    torch.index_select(cuts, 0, idx.reshape(-1), out=out.reshape(-1))


def _plane_rows(x: torch.Tensor, budget: Union[int, torch.Tensor], g: int, encoding: str,
                chunk_values: int = 1 << 22) -> torch.Tensor:
    """Any int64 values: one pass per bit plane (the general method; rows, groups of ``g``
    along the last axis, budget per group or per row)."""
    rows, length = x.shape
    n_groups = -(-length // g)
    pad = n_groups * g - length
    if pad:
        x = torch.nn.functional.pad(x, (0, pad))
    grouped = x.reshape(rows * n_groups, g)
    k_groups = budget.repeat_interleave(n_groups) if isinstance(budget, torch.Tensor) else None
    out = torch.empty_like(grouped)
    step = max(1, chunk_values // g)
    for start in range(0, grouped.shape[0], step):  # bounded memory, not a per-value loop
        k = k_groups[start:start + step] if k_groups is not None else budget
        out[start:start + step] = _plane_groups(grouped[start:start + step], k, encoding)
    out = out.reshape(rows, n_groups * g)
    return out[:, :length] if pad else out


def _plane_groups(grouped: torch.Tensor, budget: Union[int, torch.Tensor], encoding: str) -> torch.Tensor:
    sign = torch.sign(grouped)
    plus, minus = _digit_masks(grouped.abs(), encoding)
    nz = plus | minus
    max_nz = int(nz.max()) if nz.numel() else 0
    n_pos = max(max_nz.bit_length(), 1)
    kk = budget[:, None] if isinstance(budget, torch.Tensor) else budget
    counts = torch.stack([((nz >> p) & 1).sum(-1) for p in range(n_pos)], dim=1)  # (G, P)
    from_top = counts.flip(1).cumsum(1).flip(1)  # digits in planes >= p
    over = from_top > kk
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
