"""Unit costs (arith) and per-operation energies (energy): numbers computed by hand."""

from __future__ import annotations

import math

import pytest

from hwmodels import QuantScheme, Unsupported
from hwmodels.arith import (accumulator_bits, bitserial, dot_cycles, dsp_lanes, exact_fixed_bits,
                            fixed_dsp, fixed_lut, lut_multiplier_luts, pe_cost, pow2_shift, row_classes,
                            shifter_luts, sp2_shift, termserial)
from hwmodels.energy import (EnergyModel, add_j_45nm, dram_j_per_bit, mult_j_45nm, sram_j_per_bit,
                             tech_scale)

EM45 = EnergyModel()  # 45 nm, 0.9 V, factors 14 (LUT) / 7 (hard)
PJ = 1e-12


def test_primitive_lut_counts():
    assert lut_multiplier_luts(8, 8) == 63   # 7 rows x 9 bits
    assert lut_multiplier_luts(4, 4) == 15   # 3 x 5
    assert lut_multiplier_luts(2, 8) == lut_multiplier_luts(8, 2) == 9  # 1 x 9
    assert shifter_luts(8, 7) == 28          # ceil(log4 7) = 2 levels x (8 + 6) bits
    assert shifter_luts(4, 2) == 5           # 1 level x (4 + 1)
    assert shifter_luts(4, 1) == 0
    assert accumulator_bits(16, 144) == 24   # 16 + ceil(log2 144) = 16 + 8
    assert accumulator_bits(16, 1) == 16


@pytest.mark.parametrize("gen, w, a, lanes", [
    ("DSP48E2", 8, 8, 2), ("DSP48E2", 4, 4, 4), ("DSP48E2", 4, 8, 2), ("DSP48E2", 16, 8, 1),
    ("DSP48E1", 8, 8, 1), ("DSP48E1", 4, 4, 2), ("DSP48E1", 3, 2, 2), ("DSP48E1", 16, 16, 1),
])
def test_dsp_packing(gen, w, a, lanes):
    assert dsp_lanes(gen, w, a) == lanes


def test_dsp_port_limits():
    assert dsp_lanes("DSP48E2", 27, 16) == 1
    with pytest.raises(Unsupported, match="does not fit one DSP48E1 multiplier"):
        dsp_lanes("DSP48E1", 26, 8)
    with pytest.raises(Unsupported):  # pow2 at 6 bits needs 32-bit fixed point
        pe_cost("dsp", QuantScheme("pow2", 6, 8), 9, "DSP48E2", EM45)


@pytest.mark.parametrize("bits", range(2, 9))
def test_exact_fixed_bits_closed_forms(bits):
    assert exact_fixed_bits("fixed", bits) == bits
    assert exact_fixed_bits("sp2", bits) == (2 ** math.ceil((bits - 1) / 2) + 1 if bits >= 3 else 2)
    if bits <= 6:
        assert exact_fixed_bits("pow2", bits) == 2 ** (bits - 1)
    assert exact_fixed_bits("msq", bits) == max(bits, exact_fixed_bits("sp2", bits))


def test_lane_costs():
    d = fixed_dsp(8, 8, 24, "DSP48E2", EM45)
    # (2-1)*(8+8+2)/2 correction LUTs, one 8-bit activation register shared by 2 lanes
    assert (d.dsp, d.lut, d.ff, d.hard, d.lanes_per_dsp) == (0.5, 9.0, 4.0, True, 2)
    assert d.energy_per_mac_j == pytest.approx((0.2 + 0.03 * 3 ** math.log(0.1 / 0.03, 4)) * 7 * PJ)
    lut = fixed_lut(8, 8, 24, EM45)
    assert (lut.lut, lut.ff, lut.dsp) == (63 + 24, 8 + 8 + 24, 0.0)
    p2 = pow2_shift(4, 8, 20, EM45)              # 7 exponents: 2 levels x 14 bits + 20-bit add
    assert (p2.lut, p2.ff) == (28 + 20, 4 + 8 + 20)
    s2 = sp2_shift(4, 4, 22, EM45)               # m1=2, m2=1: 7 + 5 + 8 + 22
    assert s2.lut == 42
    b = bitserial(8, 8, 24, "weight", EM45)
    assert (b.cycles_per_mac, b.lut, b.ff) == (8.0, 24, 24 + 8 + 1)
    assert bitserial(4, 8, 24, "both", EM45).cycles_per_mac == 32.0
    t = termserial(2.0, 3.0, 8, 8, 24, EM45)     # 6 pairs; 7-bit exponent adder + 2 x 24
    assert (t.cycles_per_mac, t.lut, t.ff) == (6.0, 7 + 48, 24 + 4 + 4)


def test_unit_support():
    fixed = QuantScheme("fixed", 8, 8)
    with pytest.raises(Unsupported, match="shift-add PEs"):
        pe_cost("shift", fixed, 16, "DSP48E1", EM45)
    with pytest.raises(Unsupported, match="'sp2' levels need 5-bit fixed point"):
        pe_cost("bitserial", QuantScheme("sp2", 4, 4), 16, "DSP48E1", EM45)
    # pow2 on a DSP runs as an exact 8-bit word for 4-bit codes
    assert pe_cost("dsp", QuantScheme("pow2", 4, 8), 16, "DSP48E2", EM45).dsp == 0.5
    with pytest.raises(ValueError, match="unit: must be one of"):
        pe_cost("gpu", fixed, 16, "DSP48E1", EM45)


def test_dot_cycles():
    term = QuantScheme("term", 8, 8, term_budget=5, group_size=4)
    # K = 10: two full groups of 4 at min(5, 4*7) terms + one group of 2 at min(5, 2*7); x 7 act terms
    assert dot_cycles("termserial", term, 10) == (2 * 5 + 5) * 7 == 105
    tight = QuantScheme("term", 3, 3, term_budget=8, group_size=2)  # budget > 2 values x 2 terms
    assert dot_cycles("termserial", tight, 4) == 2 * 4 * 2
    assert dot_cycles("termserial", QuantScheme("sp2", 4, 4), 10) == 10 * 2 * 3
    assert dot_cycles("bitserial", QuantScheme("fixed", 6, 4), 10) == 60
    assert dot_cycles("bitserial", QuantScheme("fixed", 6, 4), 10, "both") == 240
    assert dot_cycles("dsp", term, 10) == 10
    with pytest.raises(ValueError, match="row classes"):
        dot_cycles("termserial", QuantScheme("msq", 4, 4, sp2_fraction=0.5), 10)


def test_row_classes():
    msq = QuantScheme("msq", 4, 4, sp2_fraction=0.5)
    (n1, s1), (n2, s2) = row_classes(msq, 3)   # floor(1.5 + 0.5) = 2 SP2 rows
    assert (n1, s1.kind, n2, s2.kind) == (2, "sp2", 1, "fixed")
    assert row_classes(QuantScheme("msq", 4, 4, sp2_fraction=0.0), 5) == ((5, QuantScheme("fixed", 4, 4)),)
    assert row_classes(QuantScheme(), 7) == ((7, QuantScheme()),)


def test_horowitz_anchors():
    assert add_j_45nm(8) == pytest.approx(0.03 * PJ)
    assert add_j_45nm(32) == pytest.approx(0.1 * PJ)
    assert mult_j_45nm(8, 8) == pytest.approx(0.2 * PJ)
    assert mult_j_45nm(32, 32) == pytest.approx(3.1 * PJ)
    assert sram_j_per_bit(8 * 1024) == pytest.approx(10 / 64 * PJ)
    assert sram_j_per_bit(32 * 1024) == pytest.approx(20 / 64 * PJ)
    assert sram_j_per_bit(1024 * 1024) == pytest.approx(100 / 64 * PJ)
    assert sram_j_per_bit(2304) == pytest.approx(10 / 64 * (2304 / 8192) ** 0.5 * PJ)  # 8->32 KB slope 1/2
    assert dram_j_per_bit() == pytest.approx(1950 / 64 * PJ)


def test_technology_scaling():
    assert tech_scale(45, 0.9) == 1.0
    assert tech_scale(28, 1.0) == pytest.approx(28 / 45 / 0.81)
    z7 = EnergyModel(node_nm=28, vdd_v=1.0)
    assert z7.add_j(8) == pytest.approx(0.03 * PJ * 28 / 45 / 0.81 * 14)
    assert z7.mult_j(8, 8, hard=True) == pytest.approx(0.2 * PJ * 28 / 45 / 0.81 * 7)
    assert z7.dram_j_per_bit() == EM45.dram_j_per_bit()  # off-chip energy does not scale
    from hwmodels import get_device
    assert EnergyModel.for_device(get_device("XCZU9EG")) == EnergyModel(node_nm=16, vdd_v=0.85)
    assert EnergyModel.for_device(get_device("XCZU9EG"), node_nm=7).node_nm == 7
