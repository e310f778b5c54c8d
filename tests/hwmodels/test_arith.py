"""Unit costs (arith) and per-operation energies (energy): numbers computed by hand."""

from __future__ import annotations

import math

import pytest

from hwmodels import QuantScheme, Unsupported
from hwmodels.arith import (accumulator_bits, bitserial, dot_cycles, dsp_lanes, dsp_packing, exact_fixed_bits,
                            fixed_dsp, fixed_lut, lane_cost, lut_multiplier_luts, pe_cost, pow2_shift, row_classes,
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
    ("DSP48E2", 8, 8, 2), ("DSP48E2", 4, 4, 3), ("DSP48E2", 4, 8, 2), ("DSP48E2", 16, 8, 1),
    ("DSP48E1", 8, 8, 2), ("DSP48E1", 4, 4, 3), ("DSP48E1", 3, 2, 4), ("DSP48E1", 16, 16, 1),
    ("DSP48E1", 2, 2, 4), ("DSP48E2", 6, 6, 2),
])
def test_dsp_packing(gen, w, a, lanes):
    """Weights w + a bits apart, the packed word (one bit above the top weight) within the
    pre-adder (25 / 27 bits), the shared unsigned activation on the 18-bit B port."""
    assert dsp_lanes(gen, w, a) == lanes
    n, spacing = dsp_packing(gen, w, a)
    assert spacing == w + a and (n == 1 or (n - 1) * spacing + w + 1 <= {"DSP48E1": 25, "DSP48E2": 27}[gen])


def test_problem3_dsp48e1_packs_two_8bit_products():
    """FINN's mvu_8sx8u_dsp48 packs two 8-bit signed x 8-bit unsigned products per DSP48E1
    (lanes 16 bits apart); the old model said one."""
    assert dsp_lanes("DSP48E1", 8, 8) == 2
    assert pe_cost("dsp", QuantScheme("fixed", 8, 8), 576, "DSP48E1", EM45).dsp == 0.5


def test_dsp_port_limits():
    assert dsp_lanes("DSP48E2", 27, 16) == 1
    with pytest.raises(Unsupported, match="does not fit one DSP48E1 multiplier"):
        dsp_lanes("DSP48E1", 26, 8)
    with pytest.raises(Unsupported, match="does not fit one DSP48E1 multiplier"):
        dsp_lanes("DSP48E1", 20, 18)   # an unsigned 18-bit activation needs 19 signed bits
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
    """Lane prices are the calibration rows (Yosys 0.23, xc7), per lane; packed DSP lanes
    share their slice and the module's fabric."""
    # row dsp/fixed w8 a8 acc28: module 57 LUT, 90 FF; in an array 57 LUT, 57 FF (the 25-bit
    # packed weight and 8-bit activation forwarded through the slice's A/B registers), 2 lanes
    d = fixed_dsp(8, 8, 28, "DSP48E1", EM45)
    assert (d.dsp, d.lanes_per_dsp, d.lut, d.ff, d.hard) == (0.5, 2, 28.5, 28.5, True)
    assert d.source.startswith("synthesis (Yosys 0.23") and "dsp/fixed w8 a8 acc28 in an array" in d.source
    assert d.fwd_in_slice == 1.0                     # (90 - 57) FF = 25 + 8 operand bits
    m = lane_cost("dsp", "fixed", 8, 8, 28, "DSP48E1")   # the module (dse hw lanes, --check)
    assert (m.lut, m.ff) == (28.5, 45.0)
    # DSP48E2 (xcup): Yosys 0.23 packs no fabric register into the slice, in an array or not
    e2 = fixed_dsp(8, 8, 28, "DSP48E2", EM45)
    assert (e2.ff, e2.fwd_in_slice) == (62.0, 0.0)
    assert d.energy_per_mac_j == pytest.approx(EM45.dsp_mac_j(8, 8, 2, "DSP48E1") + EM45.add_j(28))
    one = fixed_dsp(16, 16, 44, "DSP48E1", EM45)  # one lane: Yosys puts the accumulator in the slice
    assert (one.dsp, one.lut, one.ff, one.fwd_in_slice) == (1.0, 0.0, 1.0, 1.0)  # and, in an array, w_q/a_q
    assert lane_cost("dsp", "fixed", 16, 16, 44, "DSP48E1").ff == 33.0          # the module: 16 + 16 + 1
    lut = fixed_lut(8, 8, 28, EM45)
    assert (lut.lut, lut.ff, lut.dsp) == (199.0, 44.0, 0.0)
    # 4 accumulator bits fewer: the measured 2 LUT + 1 FF per accumulator bit (w4 a4 acc 12..28)
    assert (fixed_lut(8, 8, 24, EM45).lut, fixed_lut(8, 8, 24, EM45).ff) == (191.0, 40.0)
    p2 = pow2_shift(4, 4, 24, EM45)
    s2 = sp2_shift(4, 4, 21, EM45)
    assert (p2.lut, p2.ff, s2.lut, s2.ff) == (43.0, 32.0, 37.0, 29.0)
    b = bitserial(8, 8, 28, "weight", EM45)
    assert (b.cycles_per_mac, b.lut, b.ff) == (8.0, 44.0, 37.0)
    assert bitserial(4, 8, 24, "both", EM45).cycles_per_mac == 32.0
    t = termserial(2.0, 3.0, 8, 8, 28, EM45)
    assert (t.cycles_per_mac, t.lut, t.ff) == (6.0, 102.0, 68.0)
    assert fixed_lut(5, 3, 20, EM45).lut == 130.0   # Yosys's LUT multipliers are irregular: 5x3 > 6x4 (122)
    fit = fixed_lut(10, 6, 28, EM45)                # widths never synthesized: a flagged fit
    assert fit.source.startswith("fit:") and "lut/fixed w8 a6" in fit.source
    assert fixed_lut(8, 6, 28, EM45).lut < fit.lut < fixed_lut(12, 8, 32, EM45).lut


def test_problem1_fixed_lut_lane_costs_more_than_shift_add_at_4_bits():
    """W4A4: a 4x4 multiplier is dearer than two shifts and an add (SP2) or one shift
    (pow2). The old model priced fixed 2,944 < SP2 3,584 < pow2 5,504 LUTs on an 8x8
    array. Synthesis (Yosys 0.23, xc7) puts pow2 above SP2: a 4-bit pow2 weight has 7
    exponents (one 7-position shifter), SP2 two 3- and 1-position ones."""
    K = 576
    fixed = pe_cost("lut", QuantScheme("fixed", 4, 4), K, "DSP48E1", EM45)
    sp2 = pe_cost("shift", QuantScheme("sp2", 4, 4), K, "DSP48E1", EM45)
    pow2 = pe_cost("shift", QuantScheme("pow2", 4, 4), K, "DSP48E1", EM45)
    assert fixed.lut > pow2.lut > sp2.lut
    from hwmodels import DesignPoint, LayerSpec, Workload
    from hwmodels.systolic import SystolicModel
    w = Workload.chain("w", [LayerSpec.conv("c", 16, 16, 3, 3, 64, 64)])
    m = SystolicModel(rows=8, cols=8)
    luts = {k: m.evaluate(w, DesignPoint.make(knobs={"pe_arith": u}, default_scheme=QuantScheme(k, 4, 4))).resources.lut
            for k, u in (("fixed", "lut"), ("sp2", "shift"), ("pow2", "shift"))}
    assert luts["fixed"] > luts["pow2"] > luts["sp2"]
    assert luts["fixed"] > 1.4 * luts["sp2"]


def test_problem2_packed_dsp_accumulators_are_priced_in_fabric():
    """Two 8-bit lanes per slice cannot share the 48-bit P register as accumulators of
    8 + 8 + clog2(4608) = 29 bits each: each lane's accumulator is fabric FFs (old: a/L = 4 FF)."""
    acc = accumulator_bits(16, 4608)
    pe = pe_cost("dsp", QuantScheme("fixed", 8, 8), 4608, "DSP48E1", EM45)
    assert pe.lanes_per_dsp == 2 and acc == 29
    assert pe.ff >= acc and pe.lut >= acc


def test_problem4_dsp_only_array_prices_its_fabric():
    """16-bit lanes: one MAC per slice, accumulator inside it (0 LUT per lane), yet the
    array still has a sequencer and one requantisation unit per column (old model: 0 LUT)."""
    from hwmodels import DesignPoint, LayerSpec, Workload
    from hwmodels.arith import array_overhead
    from hwmodels.systolic import SystolicModel
    w = Workload.chain("w", [LayerSpec.gemm("g", 64, 64, 64)])
    r = SystolicModel().evaluate(w, DesignPoint.make(default_scheme=QuantScheme("fixed", 16, 16))).resources
    ov = array_overhead(16, 16, 38, "DSP48E1")
    assert pe_cost("dsp", QuantScheme("fixed", 16, 16), 64, "DSP48E1", EM45).lut == 0.0
    row_select = 16 * 38 * 6   # os output path: C x acc bits x ceil(R/3) LUT (one-hot 16:1 select)
    assert r.dsp == 256 and r.lut == pytest.approx(ov.lut + row_select) and ov.lut > 16 * 50
    assert "requant x 16" in ov.source and ov.source.startswith("control: synthesis")


def test_problem5_termserial_lane_has_its_registers():
    """Activation-term buffer (a entries of exponent + valid), weight term, index and the
    accumulator: 68 FF at 8x8 with a 28-bit accumulator (old model: 32)."""
    t = pe_cost("termserial", QuantScheme("term", 8, 8, term_budget=7), 4096, "DSP48E1", EM45)
    acc = accumulator_bits(16, 4096)
    assert t.ff >= 8 * (3 + 1) + acc and t.ff == 68.0


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
    # K = 10: two full groups of 4 at min(5, 4*7) terms + one group of 2 at min(5, 2*7);
    # x 8 activation terms (unsigned 8-bit activations: 8 magnitude bits; was 7, problem 6)
    assert dot_cycles("termserial", term, 10) == (2 * 5 + 5) * 8 == 120
    tight = QuantScheme("term", 3, 3, term_budget=8, group_size=2)  # budget > 2 values x 2 terms
    assert dot_cycles("termserial", tight, 4) == 2 * 4 * 3
    assert dot_cycles("termserial", QuantScheme("sp2", 4, 4), 10) == 10 * 2 * 4
    assert dot_cycles("bitserial", QuantScheme("fixed", 6, 4), 10) == 60
    assert dot_cycles("bitserial", QuantScheme("fixed", 6, 4), 10, "both") == 240
    assert dot_cycles("dsp", term, 10) == 10
    with pytest.raises(ValueError, match="row classes"):
        dot_cycles("termserial", QuantScheme("msq", 4, 4, sp2_fraction=0.5), 10)


def test_problem6_unsigned_activations_have_a_bits_terms():
    """The activation quantizer gives unsigned (post-ReLU) activations a_bits magnitude
    bits (2^a - 1 levels); the old model priced a_bits - 1 terms."""
    s = QuantScheme("fixed", 4, 4)
    assert s.act_terms_per_value == 4.0
    assert QuantScheme("term", 8, 6, term_budget=3, a_term_budget=2).act_terms_per_value == 2.0
    assert pe_cost("termserial", s, 16, "DSP48E1", EM45).cycles_per_mac == 3 * 4


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
