"""Device catalog: data-sheet numbers, registration, and the models' device knob."""

from __future__ import annotations

import pytest

from hwmodels import DesignPoint, LayerSpec, Workload, get_device, get_model, list_devices
from hwmodels.devices import _CATALOG, Device, register_device

# (LUT, FF, DSP, BRAM18, URAM, DSP generation) from DS190 / DS891 / DS890 / DS962
EXPECTED = {
    "XC7Z020": (53_200, 106_400, 220, 280, 0, "DSP48E1"),    # 140 x 36 Kb BRAM
    "XC7Z045": (218_600, 437_200, 900, 1_090, 0, "DSP48E1"),  # 545 x 36 Kb
    "XCZU3EG": (70_560, 141_120, 360, 432, 0, "DSP48E2"),     # 216 x 36 Kb
    "XCZU9EG": (274_080, 548_160, 2_520, 1_824, 0, "DSP48E2"),  # 912 x 36 Kb
    "XCVU9P": (1_182_240, 2_364_480, 6_840, 4_320, 960, "DSP48E2"),  # 2,160 x 36 Kb
    "U250": (1_728_000, 3_456_000, 12_288, 5_376, 1_280, "DSP48E2"),  # 2,688 x 36 Kb
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_catalog_numbers(name):
    d = get_device(name)
    assert (d.lut, d.ff, d.dsp, d.bram18, d.uram, d.dsp_gen) == EXPECTED[name]
    assert d.source and d.process_nm in (28, 16)
    assert d.capacity.dsp == float(EXPECTED[name][2])


def test_lookup_is_case_insensitive_and_unknown_lists_known():
    assert get_device("xc7z020").name == "XC7Z020"
    with pytest.raises(ValueError, match=r"unknown device 'XC9999'; known: XC7Z010, XC7Z020"):
        get_device("XC9999")


@pytest.fixture
def extra_device():
    dev = Device("TESTPART", "Artix-7", lut=63_400, ff=126_800, dsp=240, bram18=270, uram=0,
                 dsp_gen="DSP48E1", process_nm=28, vccint_v=1.0, source="DS180")
    register_device(dev)
    yield dev
    _CATALOG.pop("TESTPART", None)


def test_user_device_is_usable_by_models(extra_device):
    assert "TESTPART" in list_devices()
    with pytest.raises(ValueError, match="already registered"):
        register_device(extra_device)
    register_device(extra_device, replace=True)
    model = get_model("systolic")
    assert "TESTPART" in {k.name: k for k in model.knobs()}["device"].choices
    w = Workload.chain("w", [LayerSpec.gemm("g", 64, 64, 64)])
    # 16 x 32 lanes of 8x8, two per DSP48E1 (FINN's packing) = 256 slices > 240
    report = model.evaluate(w, DesignPoint.make(knobs={"device": "TESTPART", "rows": 16, "cols": 32}))
    assert report.device == "TESTPART" and report.capacity.dsp == 240.0
    assert report.resources.dsp == 256.0 and report.violations == ("dsp: 256 > 240 (+16, 106.7%)",)


@pytest.mark.parametrize("field, value, msg", [
    ("lut", -1, "lut: must be a non-negative integer"),
    ("dsp_gen", "DSP58", "dsp_gen: must be one of DSP48E1, DSP48E2"),
    ("process_nm", 0, "process_nm: must be a positive number"),
    ("static_power_w", -0.1, "static_power_w: must be a non-negative number of watts"),
])
def test_device_validation(field, value, msg):
    kw = dict(name="X", family="f", lut=1, ff=1, dsp=1, bram18=1, uram=0, dsp_gen="DSP48E1",
              process_nm=28, vccint_v=1.0)
    kw[field] = value
    with pytest.raises(ValueError, match=msg):
        Device(**kw)
