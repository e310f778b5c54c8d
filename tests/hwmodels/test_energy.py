"""FPGA energy: DSP slices as whole hard blocks (UG440 width scaling), per-device static
power over the latency, DRAM at its sustained bandwidth (issue 11, problem 7)."""

from __future__ import annotations

import math

import pytest

from hwmodels import DesignPoint, LayerSpec, Workload, get_device, get_model, list_devices
from hwmodels.energy import DSP_SLICE_SOURCE, EnergyModel, dsp_width_factor, tech_scale

PJ = 1e-12
G = Workload.chain("w", [LayerSpec.gemm("g", 64, 64, 64)])


def test_dsp_width_factor_is_ug440s_table():
    assert dsp_width_factor(12 * 12) == 0.8
    assert dsp_width_factor(18 * 18) == 0.86
    assert dsp_width_factor(27 * 18) == 1.0
    assert dsp_width_factor(4 * 4) == 0.8                  # floor below 12x12
    assert dsp_width_factor((144 + 324) / 2) == pytest.approx(0.83)


def test_dsp_slice_energy_by_hand():
    """Full-width slice (multiplier ports + 48-bit ALU) from Horowitz at the device's node,
    x hard_block_factor 7: 8.2 pJ on XC7Z045 (28 nm, 1.0 V), 3.6 pJ on XCZU9EG."""
    z7 = EnergyModel.for_device(get_device("XC7Z045"))
    mult = 0.2 * (25 * 18 / 64) ** (math.log(3.1 / 0.2) / math.log(16))
    add = 0.03 * (48 / 8) ** (math.log(0.1 / 0.03) / math.log(4))
    assert z7.dsp_slice_j("DSP48E1") == pytest.approx((mult + add) * PJ * tech_scale(28, 1.0) * 7)
    assert z7.dsp_slice_j("DSP48E1") == pytest.approx(8.16 * PJ, rel=1e-3)
    zu = EnergyModel.for_device(get_device("XCZU9EG"))
    assert zu.dsp_slice_j("DSP48E2") == pytest.approx(3.61 * PJ, rel=1e-3)
    assert EnergyModel(dsp_slice_pj=5.0).dsp_slice_j("DSP48E2") == 5.0 * PJ   # user override
    assert "no vendor per-slice energy figure" in DSP_SLICE_SOURCE          # said plainly
    with pytest.raises(ValueError, match="dsp_gen: must be one of DSP48E1, DSP48E2"):
        z7.dsp_slice_j("DSP58")


def test_dsp_mac_energy_is_the_slice_shared_by_its_lanes():
    """A DSP MAC is not an ASIC multiplier of its operand width: a 4x4 product alone still
    burns 80 % of the full slice; packed lanes share one slice cycle."""
    em = EnergyModel.for_device(get_device("XCZU9EG"))
    full = em.dsp_slice_j("DSP48E2")
    assert em.dsp_mac_j(27, 18, 1, "DSP48E2") == pytest.approx(full)
    assert em.dsp_mac_j(4, 4, 1, "DSP48E2") == pytest.approx(0.8 * full)
    assert em.dsp_mac_j(4, 4, 4, "DSP48E2") == pytest.approx(0.8 * full / 4)
    # two 8x8 lanes occupy 128 bits of multiplier area -> 0.8, halved per lane
    assert em.dsp_mac_j(8, 8, 2, "DSP48E2") == pytest.approx(0.8 * full / 2)
    # an ASIC 4x4 multiply would be 20x cheaper than 18x18; the slice is not
    assert em.dsp_mac_j(4, 4, 1, "DSP48E2") / em.dsp_mac_j(18, 18, 1, "DSP48E2") > 0.9
    # DSP48E1 is priced relative to its own 25x18 port
    e1 = EnergyModel.for_device(get_device("XC7Z045"))
    assert e1.dsp_mac_j(25, 18, 1, "DSP48E1") == pytest.approx(e1.dsp_slice_j("DSP48E1"))


BUILT_IN = ("XC7Z010", "XC7Z020", "XC7Z045", "XCZU3EG", "XCZU9EG", "XCVU9P", "U250")


def test_every_device_has_a_sourced_static_power():
    assert set(BUILT_IN) <= set(list_devices())
    for name in BUILT_IN:
        d = get_device(name)
        assert d.static_power_w > 0 and d.static_source, name
    assert get_device("XC7Z045").static_power_w == 0.219
    assert get_device("XC7Z020").static_power_w == pytest.approx(0.147, abs=1e-3)
    assert get_device("XCZU9EG").static_power_w == pytest.approx(0.826, abs=1e-3)


@pytest.mark.parametrize("model", ["systolic", "hetero", "bitserial", "termserial"])
@pytest.mark.parametrize("device", ["XC7Z020", "XCZU9EG"])
def test_static_power_is_charged_over_the_latency(model, device):
    m = get_model(model)
    base = {"device": device}
    cold = m.evaluate(G, DesignPoint.make(knobs={**base, "static_power_w": 0.0}))
    warm = m.evaluate(G, DesignPoint.make(knobs=base))           # default: the device's figure
    assert warm.energy_j - cold.energy_j == pytest.approx(get_device(device).static_power_w * warm.latency_s)
    mine = m.evaluate(G, DesignPoint.make(knobs={**base, "static_power_w": 1.5}))
    assert mine.energy_j - cold.energy_j == pytest.approx(1.5 * warm.latency_s)


def test_dram_runs_at_its_sustained_efficiency():
    m = get_model("systolic")
    slow = {"dram_bandwidth_bytes_per_s": 2e8}                  # 1 B/cycle peak at 200 MHz
    default = m.evaluate(G, DesignPoint.make(knobs=slow)).layers[0]
    peak = m.evaluate(G, DesignPoint.make(knobs={**slow, "dram_efficiency": 1.0})).layers[0]
    assert peak.memory_cycles == default.bytes_offchip == 3 * 4096
    assert default.memory_cycles == pytest.approx(3 * 4096 / 0.75)
    assert {k.name: k for k in m.knobs()}["dram_efficiency"].default == 0.75
    with pytest.raises(ValueError, match="dram_efficiency"):
        m.evaluate(G, DesignPoint.make(knobs={"dram_efficiency": 0.0}))
