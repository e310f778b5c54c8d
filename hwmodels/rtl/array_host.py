"""Host side of a generated array: how a GEMM's operands are tiled into the scratchpads
(:func:`layout`, as the model folds it), seeded random operands, the integer reference
(GEMM, requantisation, direct convolution) and the fit check against the scratchpads.
:mod:`hwmodels.rtl.array` re-exports these names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..workload import LayerSpec
from .array_spec import CFG_BITS, ArraySpec


@dataclass(frozen=True)
class GemmRun:
    """One GEMM laid out for the array: scratchpad images (lists of Python ints, one per
    word, word 0 = zeros), the runtime registers, and the expected results.

    ``expect_acc``: final accumulator words in the order the array produces them
    (os: fold by fold, row by row; ws/is: outer fold by outer fold, vector by vector),
    each a list of ``cols`` signed ints. ``expect_out``: the requantised output
    scratchpad words, as read back by the host."""

    left: tuple[int, ...]
    top: tuple[int, ...]
    t: int
    outer: int
    inner: int
    sh: int
    out_words: int
    expect_acc: tuple[tuple[int, ...], ...]
    expect_out: tuple[tuple[int, ...], ...]


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _pack(values: np.ndarray, bits: int) -> int:
    """Lanes (lane 0 in the low bits) as one word, each two's complement in ``bits``."""
    word = 0
    mask = (1 << bits) - 1
    for k, v in enumerate(values.tolist()):
        word |= (int(v) & mask) << (k * bits)
    return word


def requant(acc: np.ndarray, sh: int, a_bits: int) -> np.ndarray:
    """The requantiser of :mod:`hwmodels.rtl.lanes`: round half up of ``acc / 2**sh``,
    ReLU, clamp to ``a_bits`` unsigned."""
    acc = acc.astype(np.int64)
    r = acc >> sh
    if sh:
        r = r + ((acc >> (sh - 1)) & 1)
    return np.clip(r, 0, 2 ** a_bits - 1)


def weight_values(spec: ArraySpec, codes: np.ndarray) -> np.ndarray:
    """Integer value of each weight word: the word itself for fixed-point PEs; for shift
    PEs ``+-2**(P - code)`` (pow2) or the sum of two such terms (sp2), code 0 = 0, on the
    integer grid the lane computes on."""
    codes = codes.astype(np.int64)
    if spec.kind == "fixed":
        return codes
    W = spec.w_bits
    sign = np.where((codes >> (W - 1)) & 1, -1, 1)
    if spec.kind == "pow2":
        P = 2 ** (W - 1) - 1
        c = codes & ((1 << (W - 1)) - 1)
        mag = np.where(c == 0, 0, np.left_shift(1, np.maximum(P - c, 0)))
        return sign * mag
    m1 = math.ceil((W - 1) / 2)
    m2 = W - 1 - m1
    F = 2 ** m1 - 1
    c1 = codes & ((1 << m1) - 1)
    c2 = (codes >> m1) & ((1 << m2) - 1) if m2 else np.zeros_like(codes)
    t1 = np.where(c1 == 0, 0, np.left_shift(1, np.maximum(F - c1, 0)))
    t2 = np.where(c2 == 0, 0, np.left_shift(1, np.maximum(F - c2, 0)))
    return sign * (t1 + t2)


def random_operands(spec: ArraySpec, M: int, K: int, N: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random ``A`` (M x K, unsigned activations) and weight words ``B`` (K x N,
    signed fixed point or shift codes) over the full range of the formats."""
    A = rng.integers(0, 2 ** spec.a_bits, size=(M, K), dtype=np.int64)
    if spec.kind == "fixed":
        B = rng.integers(-(2 ** (spec.w_bits - 1)), 2 ** (spec.w_bits - 1), size=(K, N), dtype=np.int64)
    else:
        B = rng.integers(0, 2 ** spec.w_bits, size=(K, N), dtype=np.int64)
    return A, B


def default_shift(spec: ArraySpec, K: int) -> int:
    """A requantisation shift that keeps typical sums of a K-long dot product in range."""
    return max(min(spec.acc_bits - spec.a_bits - 1, spec.acc_bits - 1, 2 ** spec.sh_bits - 1), 0)


def layout(spec: ArraySpec, A: np.ndarray, B: np.ndarray, sh: int | None = None) -> GemmRun:
    """Tile ``A @ B`` (weights ``B`` as weight words) onto the array the way the model
    folds it, and compute what the array must produce (integer GEMM in numpy)."""
    R, C, df = spec.rows, spec.cols, spec.dataflow
    M, K = A.shape
    N = B.shape[1]
    Bv = weight_values(spec, B)
    O = A.astype(np.int64) @ Bv.astype(np.int64)
    sh = default_shift(spec, K) if sh is None else sh
    LBt, TBt = spec.left_bits, spec.top_bits

    def pad(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
        out = np.zeros((rows, cols), dtype=np.int64)
        out[:x.shape[0], :x.shape[1]] = x
        return out

    left, top = [0], [0]
    acc_words: list[tuple[int, ...]] = []
    if df == "os":
        MF, NF = _cdiv(M, R), _cdiv(N, C)
        Ap, Bp, Op = pad(A, MF * R, K), pad(B, K, NF * C), pad(O, MF * R, NF * C)
        for mf in range(MF):                      # left word 1 + mf*K + k: A[mf*R + i, k]
            for k in range(K):
                left.append(_pack(Ap[mf * R:(mf + 1) * R, k], LBt))
        for nf in range(NF):                      # top word 1 + nf*K + k: B[k, nf*C + j]
            for k in range(K):
                top.append(_pack(Bp[k, nf * C:(nf + 1) * C], TBt))
        out_rows = []
        for mf in range(MF):                      # output word f*R + i, f = mf*NF + nf
            for nf in range(NF):
                for i in range(R):
                    row = Op[mf * R + i, nf * C:(nf + 1) * C]
                    acc_words.append(tuple(int(v) for v in row))
                    out_rows.append(row)
        t, outer, inner = K, MF, NF
        outs = requant(np.array(out_rows), sh, spec.a_bits)
    elif df == "ws":
        KF, NF = _cdiv(K, R), _cdiv(N, C)
        Ap, Bp, Op = pad(A, M, KF * R), pad(B, KF * R, NF * C), pad(O, M, NF * C)
        for nf in range(NF):                      # top word 1 + (nf*KF + kf)*R + R-1-r: B[kf*R + r, nf*C + j]
            for kf in range(KF):
                for r in reversed(range(R)):
                    top.append(_pack(Bp[kf * R + r, nf * C:(nf + 1) * C], TBt))
        for kf in range(KF):                      # left word 1 + kf*M + m: A[m, kf*R + i]
            for m in range(M):
                left.append(_pack(Ap[m, kf * R:(kf + 1) * R], LBt))
        out_rows = [Op[m, nf * C:(nf + 1) * C] for nf in range(NF) for m in range(M)]   # word nf*M + m
        acc_words = [tuple(int(v) for v in r) for r in out_rows]
        t, outer, inner = M, NF, KF
        outs = requant(np.array(out_rows), sh, spec.a_bits)
    else:  # is
        KF, MF = _cdiv(K, R), _cdiv(M, C)
        Ap, Bp, Op = pad(A, MF * C, KF * R), pad(B, KF * R, N), pad(O, MF * C, N)
        for mf in range(MF):                      # top word 1 + (mf*KF + kf)*R + R-1-r: A[mf*C + j, kf*R + r]
            for kf in range(KF):
                for r in reversed(range(R)):
                    top.append(_pack(Ap[mf * C:(mf + 1) * C, kf * R + r], TBt))
        for kf in range(KF):                      # left word 1 + kf*N + n: B[kf*R + i, n]
            for n in range(N):
                left.append(_pack(Bp[kf * R:(kf + 1) * R, n], LBt))
        out_rows = [Op[mf * C:(mf + 1) * C, n] for mf in range(MF) for n in range(N)]   # word mf*N + n
        acc_words = [tuple(int(v) for v in r) for r in out_rows]
        t, outer, inner = N, MF, KF
        outs = requant(np.array(out_rows), sh, spec.a_bits)
    return GemmRun(left=tuple(left), top=tuple(top), t=t, outer=outer, inner=inner, sh=sh,
                   out_words=len(out_rows), expect_acc=tuple(acc_words),
                   expect_out=tuple(tuple(int(v) for v in r) for r in outs))


def fits(spec: ArraySpec, run: GemmRun) -> str | None:
    """Why ``run`` does not fit the scratchpads or the runtime registers (None if it does)."""
    for name, words in (("left", len(run.left)), ("top", len(run.top)), ("out", run.out_words)):
        if words > spec.depth(name):
            return (f"the {name} scratchpad holds {spec.depth(name)} words of {spec.buffer_bytes(name)} bytes, "
                    f"the layer needs {words} (raise the buffer knob; DRAM tiling is not generated)")
    for name, v in (("T", run.t), ("folds", run.outer), ("folds", run.inner)):
        if v >= 2 ** CFG_BITS:
            return f"{name}={v} exceeds the {CFG_BITS}-bit configuration registers"
    return None


def im2col(layer: LayerSpec, x: np.ndarray, group: int) -> np.ndarray:
    """The ``M x K`` operand of group ``group`` of a conv layer from an input tensor
    ``x`` (channels x H x W, zero-padded on the bottom/right as SCALE-Sim's ceil output
    size needs): rows are output pixels (row-major), columns (channel, fh, fw)."""
    cpg = layer.channels // layer.groups
    xs = x[group * cpg:(group + 1) * cpg]
    s, fh, fw = layer.stride, layer.filt_h, layer.filt_w
    need_h = (layer.out_h - 1) * s + fh
    need_w = (layer.out_w - 1) * s + fw
    xp = np.zeros((cpg, max(need_h, xs.shape[1]), max(need_w, xs.shape[2])), dtype=np.int64)
    xp[:, :xs.shape[1], :xs.shape[2]] = xs
    cols = np.empty((layer.out_h * layer.out_w, cpg * fh * fw), dtype=np.int64)
    r = 0
    for oy in range(layer.out_h):
        for ox in range(layer.out_w):
            cols[r] = xp[:, oy * s:oy * s + fh, ox * s:ox * s + fw].reshape(-1)
            r += 1
    return cols


def conv_reference(layer: LayerSpec, x: np.ndarray, wvals: np.ndarray, group: int) -> np.ndarray:
    """Direct convolution of group ``group`` (no im2col): output pixels x filters of the
    group, integers. ``wvals``: filters x (channels/groups) x fh x fw integer weights."""
    cpg = layer.channels // layer.groups
    npg = layer.n_per_group
    s, fh, fw = layer.stride, layer.filt_h, layer.filt_w
    xs = x[group * cpg:(group + 1) * cpg].astype(np.int64)
    xp = np.zeros((cpg, (layer.out_h - 1) * s + fh, (layer.out_w - 1) * s + fw), dtype=np.int64)
    h, w = min(xp.shape[1], xs.shape[1]), min(xp.shape[2], xs.shape[2])
    xp[:, :h, :w] = xs[:, :h, :w]
    wg = wvals[group * npg:(group + 1) * npg].astype(np.int64)
    out = np.zeros((layer.out_h, layer.out_w, npg), dtype=np.int64)
    for dy in range(fh):
        for dx in range(fw):
            patch = xp[:, dy:dy + (layer.out_h - 1) * s + 1:s, dx:dx + (layer.out_w - 1) * s + 1:s]
            out += np.einsum("chw,nc->hwn", patch, wg[:, :, dy, dx])
    return out.reshape(layer.out_h * layer.out_w, npg)


__all__ = ["GemmRun", "conv_reference", "default_shift", "fits", "im2col", "layout", "random_operands", "requant",
           "weight_values"]
