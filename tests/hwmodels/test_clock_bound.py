import pytest

from hwmodels import DesignPoint, LayerSpec, Workload
from hwmodels.devices import Device, get_device, register_device
from hwmodels.registry import get_model

WL = Workload.chain("one", [LayerSpec.gemm("g", 64, 64, 64)])


@pytest.mark.parametrize("model", ["systolic", "hetero", "bitserial", "termserial"])
def test_clock_above_device_fmax_does_not_fit(model):
    m = get_model(model)
    ok = m.evaluate(WL, DesignPoint.make(knobs={"device": "XC7Z045", "clock_hz": 200e6}))
    assert not any(v.startswith("clock_hz") for v in ok.violations)
    bad = m.evaluate(WL, DesignPoint.make(knobs={"device": "XC7Z045", "clock_hz": 400e6}))
    assert "clock_hz: 400 MHz > 388 MHz (Fmax bound of XC7Z045, -1 speed grade)" in bad.violations
    assert not bad.fits
    # UltraScale+ parts clock faster
    assert m.evaluate(WL, DesignPoint.make(knobs={"device": "XCZU9EG", "clock_hz": 400e6})).fits


def test_fmax_zero_is_unchecked():
    base = get_device("XC7Z045")
    register_device(Device("TEST-NOFMAX", "test", lut=base.lut, ff=base.ff, dsp=base.dsp, bram18=base.bram18,
                           uram=0, dsp_gen="DSP48E1", process_nm=28, vccint_v=1.0), replace=True)
    r = get_model("systolic").evaluate(WL, DesignPoint.make(knobs={"device": "TEST-NOFMAX", "clock_hz": 900e6}))
    assert not any(v.startswith("clock_hz") for v in r.violations)
