"""Bit-serial, term-serial and heterogeneous models: cycle formulas by hand."""

from __future__ import annotations

import pytest

from hwmodels import DesignPoint, LayerSpec, QuantScheme, Unsupported, Workload, get_model
from hwmodels.hetero import balanced_split, route_rows
from hwmodels.metrics import mac_bits, term_pairs

IDEAL = {"dram_bandwidth_bytes_per_s": 1e13}
G = LayerSpec.gemm("g", 64, 64, 64)  # M = K = N = 64
W = Workload.chain("w", [G])


def cycles(model, scheme, **knobs):
    return model.evaluate(W, DesignPoint.make(knobs={**IDEAL, **knobs}, default_scheme=scheme)).layers[0].cycles


def test_bitserial_cycles_scale_with_weight_bits():
    m = get_model("bitserial")
    # os 16x16: 4 x 4 folds x (K * w + 30) - 1
    assert cycles(m, QuantScheme("fixed", 8, 8)) == 16 * (64 * 8 + 30) - 1 == 8671
    assert cycles(m, QuantScheme("fixed", 4, 8)) == 16 * (64 * 4 + 30) - 1
    assert cycles(m, QuantScheme("fixed", 4, 3), serial="both") == 16 * (64 * 12 + 30) - 1
    assert cycles(m, QuantScheme("term", 6, 8, term_budget=2)) == 16 * (64 * 6 + 30) - 1  # all 6 bit planes
    with pytest.raises(Unsupported, match="bit-serial"):
        cycles(m, QuantScheme("sp2", 4, 4))


def test_bitserial_latency_tracks_mac_bits():
    net = Workload.chain("n", [LayerSpec.conv("a", 34, 34, 3, 3, 64, 64), LayerSpec.conv("b", 34, 34, 3, 3, 64, 64)])
    m = get_model("bitserial", **IDEAL)
    p1 = DesignPoint.make({"a": QuantScheme("fixed", 8, 8), "b": QuantScheme("fixed", 2, 8)})
    p2 = DesignPoint.make({"a": QuantScheme("fixed", 5, 8), "b": QuantScheme("fixed", 5, 8)})
    assert mac_bits(net, p1) == mac_bits(net, p2)
    c1, c2 = m.evaluate(net, p1).cycles, m.evaluate(net, p2).cycles
    assert abs(c1 - c2) / c2 < 0.01  # same MACs x bits -> same latency up to fill/drain


def test_termserial_cycles_follow_term_budgets():
    m = get_model("termserial")
    # term budget 6 per group of 4 weights, activations at 3 terms: 16 groups x 6 x 3 per fold
    t = QuantScheme("term", 8, 8, term_budget=6, group_size=4, a_term_budget=3)
    assert cycles(m, t) == 16 * (16 * 6 * 3 + 30) - 1
    # fixed 8-bit: every term, 7 x 7 pairs per MAC
    assert cycles(m, QuantScheme("fixed", 8, 8)) == 16 * (64 * 49 + 30) - 1
    # msq 4-bit, half the 64 rows SP2 (2 terms) and half fixed (3 terms), activations 3 terms:
    # each class gets its own 2 column folds of 16: 4 row folds x 2 x ((64*2*3 + 30) + (64*3*3 + 30)) - 1
    msq = QuantScheme("msq", 4, 4, sp2_fraction=0.5)
    assert cycles(m, msq) == 4 * 2 * ((384 + 30) + (576 + 30)) - 1
    p = DesignPoint.make(default_scheme=t)
    assert m.evaluate(W, p).term_pairs == term_pairs(W, p) == 64 ** 3 * 1.5 * 3


def test_hetero_routes_rows_and_takes_the_slower_array():
    m = get_model("hetero")
    msq = QuantScheme("msq", 4, 4, sp2_fraction=0.75)
    # 48 SP2 rows on the 16-column LUT array (3 col folds), 16 fixed rows on the DSP array (1 fold)
    c = cycles(m, msq, fixed_cols=16, sp2_cols=16)
    assert c == 4 * 3 * (64 + 30) - 1
    c2 = cycles(m, msq, fixed_cols=16, sp2_cols=48)  # both arrays one fold: 4 x (64 + 62) - 1 on the SP2 side
    assert c2 == max(4 * 1 * (64 + 16 + 48 - 2) - 1, 4 * 1 * (64 + 30) - 1) == 503
    rep = m.evaluate(W, DesignPoint.make(knobs=IDEAL, default_scheme=msq))
    assert (rep.layers[0].lut_share, rep.layers[0].dsp_share) == (0.75, 0.25)
    fixed = m.evaluate(W, DesignPoint.make(knobs=IDEAL))
    assert (fixed.layers[0].lut_share, fixed.layers[0].dsp_share) == (0.0, 1.0)
    assert fixed.cycles == 4 * 4 * 94 - 1  # all 64 rows on the 16-column DSP array


def test_hetero_shares_sp2_layers_and_falls_back_when_dsp_cannot():
    m = get_model("hetero")
    cfg = m._config(m.resolve_knobs(DesignPoint.make(knobs={"fixed_cols": 16, "sp2_cols": 48})))
    parts = route_rows(QuantScheme("sp2", 4, 4), 64, 64, cfg)
    assert [(p.unit, p.rows) for p in parts] == [("shift", 48), ("dsp", 16)]  # 64 x 48/64 on the LUT array
    only_lut = route_rows(QuantScheme("pow2", 6, 8), 64, 64, cfg)              # 32-bit words: no DSP
    assert [(p.unit, p.rows) for p in only_lut] == [("shift", 64)]
    assert [(p.unit, p.rows) for p in route_rows(QuantScheme("term", 8, 8, term_budget=3), 64, 64, cfg)] \
        == [("dsp", 64)]


def test_hetero_resources_are_both_arrays():
    m = get_model("hetero", device="XC7Z020")
    rep = m.evaluate(W, DesignPoint.make(knobs={"fixed_cols": 16, "sp2_cols": 16},
                                         default_scheme=QuantScheme("msq", 4, 4, sp2_fraction=0.5)))
    # DSP array: 16x16 4x4-bit lanes, two per DSP48E1 -> 128 DSPs, (2-1)*10/2 = 5 LUTs per lane
    # SP2 array: 16x16 lanes of 7 + 5 + 8 + (9 + 6) = 35 LUTs (accumulator 9 + ceil(log2 64))
    assert rep.resources.dsp == 128
    assert rep.resources.lut == 256 * 5 + 256 * 35


def test_balanced_split_by_hand():
    # XC7Z020: 220 DSP48E1 x 2 four-bit lanes / 16 rows = 27 columns; DSP lanes 5 LUTs each
    # -> 2160 LUTs; SP2 lane 7 + 5 + 8 + 22 = 42 LUTs; (0.7 x 53200 - 2160) / (16 x 42) = 52.2
    s = balanced_split("XC7Z020", rows=16, w_bits=4, a_bits=4)
    assert (s.fixed_cols, s.sp2_cols) == (27, 52)
    assert s.sp2_fraction == pytest.approx(52 / 79)
    big = balanced_split("XC7Z045", rows=16)
    assert big.fixed_cols == 900 * 2 // 16 and big.sp2_cols > 0
