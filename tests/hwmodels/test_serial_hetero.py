"""Bit-serial, term-serial and heterogeneous models: cycle formulas by hand."""

from __future__ import annotations

import pytest

from hwmodels import DesignPoint, EnergyModel, LayerSpec, QuantScheme, Unsupported, Workload, get_device, get_model
from hwmodels.arith import (accumulator_bits, array_overhead, dsp_lanes, fixed_dsp, pe_cost, product_bits,
                            sp2_shift)
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
    # fixed 8-bit: every term, 7 weight x 8 activation terms per MAC (activations are
    # unsigned after ReLU: a_bits magnitude bits, issue 11 problem 6; was 7 x 7)
    assert cycles(m, QuantScheme("fixed", 8, 8)) == 16 * (64 * 56 + 30) - 1
    # msq 4-bit, half the 64 rows SP2 (2 terms) and half fixed (3 terms), activations 4 terms:
    # each class gets its own 2 column folds of 16: 4 row folds x 2 x ((64*2*4 + 30) + (64*3*4 + 30)) - 1
    msq = QuantScheme("msq", 4, 4, sp2_fraction=0.5)
    assert cycles(m, msq) == 4 * 2 * ((512 + 30) + (768 + 30)) - 1
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
    # all 64 rows on the 16-column DSP array; 8x8 bits pack 2 MACs per DSP48E1, so its
    # wavefront crosses 8 PE columns: each os fold fills in R + 16/2 - 2, not R + 16 - 2
    assert fixed.cycles == 4 * 4 * (64 + 16 + 8 - 2) - 1 == 1375


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
    """Both arrays' lanes (lane prices are the calibrated ones of hwmodels.arith), one
    sequencer and a requantisation unit per output column of either array."""
    m = get_model("hetero", device="XC7Z020")
    msq = QuantScheme("msq", 4, 4, sp2_fraction=0.5)
    rep = m.evaluate(W, DesignPoint.make(knobs={"fixed_cols": 16, "sp2_cols": 16}, default_scheme=msq))
    em = EnergyModel.for_device(get_device("XC7Z020"))
    fixed4, sp2_4 = QuantScheme("fixed", 4, 4, "per_row"), QuantScheme("sp2", 4, 4, "per_row")
    dsp_lane = pe_cost("dsp", fixed4, 64, "DSP48E1", em)
    sp2_lane = pe_cost("shift", sp2_4, 64, "DSP48E1", em)
    # DSP array: 16x16 4x4-bit lanes, three per DSP48E1 (dsp_packing) -> ceil(256 / 3) = 86 DSPs
    assert dsp_lanes("DSP48E1", 4, 4) == 3 and rep.resources.dsp == 86
    acc = max(accumulator_bits(product_bits(s), 64) for s in (fixed4, sp2_4))
    overhead = array_overhead(32, 4, acc, "DSP48E1").lut
    # os output path of each array: C x acc x ceil(R/3) LUT of one-hot row select
    out = sum(16 * accumulator_bits(product_bits(s), 64) * 6 for s in (fixed4, sp2_4))
    # the 64 KiB x 128-bit weight scratchpad (32 columns x 4 bits) stacks 2 RAMB18 deep: a
    # 2:1 read mux per bit and 2 write-enable LUTs (array_fabric.ram_read_mux)
    mux = 128 + 2
    assert rep.resources.lut == pytest.approx(256 * dsp_lane.lut + 256 * sp2_lane.lut + overhead + out + mux)


def test_balanced_split_by_hand():
    # XC7Z020: 220 DSP48E1 x 3 four-bit lanes / 16 rows = 41 columns; the SP2 array takes
    # what the DSP array leaves of 70 % of 53,200 LUTs, at the calibrated lane prices
    s = balanced_split("XC7Z020", rows=16, w_bits=4, a_bits=4)
    em = EnergyModel.for_device(get_device("XC7Z020"))
    acc = lambda k: accumulator_bits(product_bits(QuantScheme(k, 4, 4)), 4608)  # noqa: E731
    dsp_lane = fixed_dsp(4, 4, acc("fixed"), "DSP48E1", em)
    sp2_lane = sp2_shift(4, 4, acc("sp2"), em, "DSP48E1")
    assert s.fixed_cols == 220 * 3 // 16 == 41
    assert s.sp2_cols == int((0.7 * 53_200 - 16 * 41 * dsp_lane.lut) // (16 * sp2_lane.lut)) > 0
    assert s.sp2_fraction == pytest.approx(s.sp2_cols / (s.sp2_cols + 41))
    big = balanced_split("XC7Z045", rows=16)
    assert big.fixed_cols == 900 * 3 // 16 and big.sp2_cols > 0
