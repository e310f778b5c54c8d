"""Lane RTL generator: text from frozen configs, widths checked against its range."""

from __future__ import annotations

import pytest

from hwmodels.rtl.lanes import FAMILIES, LaneConfig, LaneRangeError, generate, min_acc_bits


@pytest.mark.parametrize("unit, kind", FAMILIES)
@pytest.mark.parametrize("w, a", [(2, 2), (3, 5), (4, 4), (6, 8)])
def test_every_family_generates_one_top_module(unit, kind, w, a):
    cfg = LaneConfig(unit, kind, w, a, min_acc_bits(unit, kind, w, a) + 6, "xc7")
    text = generate(cfg)
    assert text.count("module ") - text.count("endmodule") == 0
    assert f"module {cfg.top} (" in text and text.count("endmodule") == 1
    assert generate(cfg) == text  # deterministic: the RTL hash is provenance


def test_dsp_lane_packs_what_the_model_assumes():
    two = generate(LaneConfig("dsp", "fixed", 8, 8, 28, "xc7"))
    # two 8-bit weights 16 bits apart in a 25-bit packed word, two fabric accumulators
    assert "input signed [24:0] w_in" in two and "acc0 <=" in two and "acc1 <=" in two and "acc2 <=" not in two
    one = generate(LaneConfig("dsp", "fixed", 16, 16, 44, "xc7"))
    assert "acc0 <=" not in one and "output reg signed [43:0] acc" in one


@pytest.mark.parametrize("cfg, match", [
    (LaneConfig("lut", "fixed", 17, 4, 30), r"w_bits: 17 is outside the generator's range \[2, 16\]"),
    (LaneConfig("lut", "fixed", 4, 1, 30), r"a_bits: 1 is outside the generator's range \[2, 16\]"),
    (LaneConfig("shift", "pow2", 7, 4, 80), r"w_bits: 7 is outside the generator's range \[2, 6\]"),
    (LaneConfig("lut", "fixed", 8, 8, 12), r"acc_bits: 12 is outside the range \[16, 64\]"),
    (LaneConfig("lut", "float", 8, 8, 20), r"unknown family lut/float"),
    (LaneConfig("lut", "fixed", 8, 8, 20, "xc9"), r"family: must be one of xc7, xcup"),
])
def test_out_of_range_widths_name_the_range(cfg, match):
    with pytest.raises(LaneRangeError, match=match):
        generate(cfg)


def test_widest_lanes_still_fit_one_slice():
    """Every width in the range fits one multiplier (16 x 17 signed on 25 x 18): one lane."""
    text = generate(LaneConfig("dsp", "fixed", 16, 16, 48, "xc7"))
    assert "input signed [15:0] w_in" in text
