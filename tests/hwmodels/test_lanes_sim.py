"""The generated lanes compute what they are priced for: Icarus Verilog runs each lane on
random operands and the accumulator must equal the exact dot product (numpy)."""

from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pytest

from hwmodels.arith import dsp_packing
from hwmodels.rtl.lanes import LaneConfig, generate


def _run(tmp_path, cfg: LaneConfig, cycles: list[dict[str, int]], outs: list[str]) -> dict[str, int]:
    if not shutil.which("iverilog"):
        pytest.fail("iverilog not installed: apt-get install iverilog (.ci/run does this)")
    ports = sorted({k for c in cycles for k in c})
    lines = ["module tb; reg clk = 0;"]
    lines += [f"  reg [63:0] {p} = 0;" for p in ports]
    lines += [f"  wire signed [63:0] o_{o};" for o in outs]
    conn = ", ".join([".clk(clk)"] + [f".{p}({p})" for p in ports] + [f".{o}(o_{o})" for o in outs])
    lines.append(f"  {cfg.top} dut({conn});")
    lines.append("  initial begin")
    for c in cycles:
        sets = " ".join(f"{k} = {v & ((1 << 64) - 1)};" for k, v in c.items())
        lines.append(f"    {sets} #1 clk = 1; #1 clk = 0;")
    for o in outs:
        lines.append(f'    $display("{o} %0d", o_{o});')
    lines.append("    $finish; end\nendmodule")
    (tmp_path / "lane.v").write_text(generate(cfg))
    (tmp_path / "tb.v").write_text("\n".join(lines))
    subprocess.run(["iverilog", "-g2012", "-o", "sim", "lane.v", "tb.v"], cwd=tmp_path, check=True,
                   capture_output=True)
    out = subprocess.run(["vvp", "sim"], cwd=tmp_path, check=True, capture_output=True, text=True).stdout
    vals = {}
    for line in out.splitlines():
        k, _, v = line.partition(" ")
        if k in outs:
            vals[k] = int(v)
    return vals


def _sext(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _parallel(tmp_path, cfg, words, acts, outs, acc_bits):
    zero = {"clr": 1, "w_in": 0, "a_in": 0}
    cyc = [dict(zero) for _ in range(4)]
    cyc += [{"clr": 0, "w_in": w, "a_in": a} for w, a in zip(words, acts)]
    cyc += [{"clr": 0, "w_in": 0, "a_in": 0} for _ in range(4)]
    return {k: _sext(v, acc_bits) for k, v in _run(tmp_path, cfg, cyc, outs).items()}


RNG = np.random.default_rng(7)


@pytest.mark.parametrize("w, a", [(4, 4), (3, 8), (8, 5)])
def test_lut_fixed_lane(tmp_path, w, a):
    acc = w + a + 5
    ws = RNG.integers(-(2 ** (w - 1)), 2 ** (w - 1), 20)
    xs = RNG.integers(0, 2 ** a, 20)
    got = _parallel(tmp_path, LaneConfig("lut", "fixed", w, a, acc), [int(v) for v in ws], [int(v) for v in xs],
                    ["acc"], acc)
    assert got["acc"] == int(np.dot(ws, xs))


@pytest.mark.parametrize("family, w, a", [("xc7", 8, 8), ("xc7", 4, 4), ("xcup", 4, 3), ("xc7", 16, 12)])
def test_dsp_lane_packs_and_splits_exactly(tmp_path, family, w, a):
    lanes, sp = dsp_packing({"xc7": "DSP48E1", "xcup": "DSP48E2"}[family], w, a)
    acc = w + a + 5
    ws = RNG.integers(-(2 ** (w - 1)), 2 ** (w - 1), (12, lanes))
    ws[0, :] = -(2 ** (w - 1))                     # extreme values: borrow across every lane
    xs = RNG.integers(0, 2 ** a, 12)
    xs[0] = 2 ** a - 1
    words = [int(sum(int(v) << (sp * i) for i, v in enumerate(row))) for row in ws]
    outs = [f"acc{i}" for i in range(lanes)] if lanes > 1 else ["acc"]
    got = _parallel(tmp_path, LaneConfig("dsp", "fixed", w, a, acc, family), words, [int(v) for v in xs], outs, acc)
    assert [got[o] for o in outs] == [int(np.dot(ws[:, i], xs)) for i in range(lanes)]


def _pow2_code(v: int, w: int) -> int:
    """sign + exponent code of +-2^e (e = P - code) or 0."""
    P = 2 ** (w - 1) - 1
    if v == 0:
        return 0
    e = int(math.log2(abs(v)))
    return ((1 << (w - 1)) if v < 0 else 0) | (P - e)


@pytest.mark.parametrize("w, a", [(3, 4), (4, 4), (5, 2)])
def test_pow2_lane(tmp_path, w, a):
    P = 2 ** (w - 1) - 1
    vals = [int(s * 2 ** e) if e >= 0 else 0 for s, e in zip(RNG.choice([-1, 1], 20), RNG.integers(-1, P, 20))]
    xs = RNG.integers(0, 2 ** a, 20)
    acc = P + a + 6
    got = _parallel(tmp_path, LaneConfig("shift", "pow2", w, a, acc), [_pow2_code(v, w) for v in vals],
                    [int(x) for x in xs], ["acc"], acc)
    assert got["acc"] == int(np.dot(vals, xs))


@pytest.mark.parametrize("w, a", [(4, 4), (5, 3), (3, 6)])
def test_sp2_lane(tmp_path, w, a):
    m1 = math.ceil((w - 1) / 2)
    m2 = w - 1 - m1
    F = 2 ** m1 - 1
    codes, vals = [], []
    for _ in range(20):
        c1, c2 = int(RNG.integers(0, 2 ** m1)), int(RNG.integers(0, 2 ** m2)) if m2 else 0
        s = int(RNG.integers(0, 2))
        mag = (2 ** (F - c1) if c1 else 0) + (2 ** (F - c2) if c2 else 0)
        codes.append((s << (w - 1)) | (c2 << m1) | c1)
        vals.append(-mag if s else mag)
    xs = RNG.integers(0, 2 ** a, 20)
    acc = F + a + 8
    got = _parallel(tmp_path, LaneConfig("shift", "sp2", w, a, acc), codes, [int(x) for x in xs], ["acc"], acc)
    assert got["acc"] == int(np.dot(vals, xs))


def _bitplanes(tmp_path, cfg, w, ws, a_stream, acc):
    """Drive bit planes MSB first; control (sh/msb/clr) aligned with the registered bits."""
    cyc = [{"clr": 1, "sh": 0, "msb": 0, "wb_in": 0} for _ in range(3)]
    items = []
    for i in range(w - 1, -1, -1):
        for k, (wv, extra) in enumerate(zip(ws, a_stream(i))):
            items.append(({"wb_in": (int(wv) >> i) & 1, **extra}, {"sh": int(k == 0 and i != w - 1),
                                                                     "msb": int(i == w - 1)}))
    prev_ctl = {"clr": 1, "sh": 0, "msb": 0}
    for data, ctl in items:
        cyc.append({**data, **prev_ctl})
        prev_ctl = {"clr": 0, **ctl}
    cyc.append({"wb_in": 0, **prev_ctl})
    return _sext(_run(tmp_path, cfg, cyc, ["acc"])["acc"], acc)


@pytest.mark.parametrize("w, a", [(4, 4), (3, 6)])
def test_bitserial_weight_lane(tmp_path, w, a):
    ws = RNG.integers(-(2 ** (w - 1)), 2 ** (w - 1), 9)
    xs = RNG.integers(0, 2 ** a, 9)
    acc = w + a + 5
    got = _bitplanes(tmp_path, LaneConfig("bit", "weight", w, a, acc), w, ws,
                     lambda i: [{"a_in": int(x)} for x in xs], acc)
    assert got == int(np.dot(ws, xs))


def test_bitserial_both_lane(tmp_path):
    """Both operands serial: one lane walks significance s = i + j from the top; the
    test feeds every (i, j) pair of every element in that order."""
    w, a, acc = 3, 3, 12
    ws = RNG.integers(-(2 ** (w - 1)), 2 ** (w - 1), 5)
    xs = RNG.integers(0, 2 ** a, 5)
    cfg = LaneConfig("bit", "both", w, a, acc)
    cyc = [{"clr": 1, "sh": 0, "msb": 0, "wb_in": 0, "ab_in": 0} for _ in range(3)]
    prev = {"clr": 1, "sh": 0, "msb": 0}
    for s in range(w + a - 2, -1, -1):
        first = True
        for i in range(w - 1, -1, -1):
            j = s - i
            if not 0 <= j < a:
                continue
            for wv, xv in zip(ws, xs):
                cyc.append({"wb_in": (int(wv) >> i) & 1, "ab_in": (int(xv) >> j) & 1, **prev})
                prev = {"clr": 0, "sh": int(first and s != w + a - 2), "msb": int(i == w - 1)}
                first = False
    cyc.append({"wb_in": 0, "ab_in": 0, **prev})
    got = _sext(_run(tmp_path, cfg, cyc, ["acc"])["acc"], acc)
    assert got == int(np.dot(ws, xs))


def test_termserial_lane(tmp_path):
    """Each activation's terms load into the lane's buffer; every weight term (sign,
    exponent) then meets every buffered activation term, one pair per cycle."""
    from hwmodels.rtl.lanes import term_exp_bits

    w, a, acc = 5, 4, 16
    ea = term_exp_bits(a)
    ws = RNG.integers(-(2 ** (w - 1)) + 1, 2 ** (w - 1), 6)
    xs = RNG.integers(0, 2 ** a, 6)
    cfg = LaneConfig("term", "term", w, a, acc)
    idle = {"wt_v_in": 0, "wt_s_in": 0, "wt_e_in": 0, "a_load": 0, "at_in": 0, "ix": 0}
    cyc = [{**idle, "clr": 1, "a_load": 1}] + [{**idle, "clr": 1} for _ in range(2)]  # defined buffer
    clr_next = 1
    for wv, xv in zip(ws, xs):
        buf = sum((((int(xv) >> j) & 1) << ea | j) << (j * (ea + 1)) for j in range(a))
        cyc.append({**idle, "a_load": 1, "at_in": buf, "clr": clr_next})
        clr_next = 0
        for e in range(w - 1):
            if (abs(int(wv)) >> e) & 1:
                for j in range(a):
                    cyc.append({**idle, "wt_v_in": 1, "wt_s_in": int(wv < 0), "wt_e_in": e, "ix": j, "clr": 0})
    cyc += [{**idle, "clr": 0} for _ in range(2)]
    got = _sext(_run(tmp_path, cfg, cyc, ["acc"])["acc"], acc)
    assert got == int(np.dot(ws, xs))
