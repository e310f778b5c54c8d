"""Generated systolic arrays in a real simulator: simulated cycles equal the model's
(SCALE-Sim's) count and results equal an integer reference, for every dataflow, two
array shapes, folding in both dimensions and a stride-2 convolution.

The dataflow matrix runs on Icarus Verilog (builds in a fraction of a second); one test
runs the same path on Verilator (the default simulator) and checks its build cache."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from hwmodels import DesignPoint, LayerSpec, QuantScheme, Workload, get_model
from hwmodels.array_core import fold_cycles
from hwmodels.base import Unsupported
from hwmodels.rtl import array as rtl_array
from hwmodels.rtl import sim as rtl_sim


@pytest.fixture(autouse=True)
def _tools():
    for tool in ('iverilog',):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not installed: apt-get install {tool} (.ci/run does this)")


# conv: 8x7 input, 3x3 filters, stride 2 -> SCALE-Sim's ceil output 4 x 3 (the last window
# runs one pixel past the input: zero padded); M = 12, K = 27, N = 5 -> on a 2x3 / 3x2 array
# every dataflow folds both array dimensions (os: M and N, ws: K and N, is: K and M)
CONV = LayerSpec(name="conv_s2", kind="conv", M=12, K=27, N=5, ifmap_h=8, ifmap_w=7, filt_h=3, filt_w=3,
                 channels=3, stride=2, out_h=4, out_w=3)
FC = LayerSpec.gemm("fc", M=4, K=5, N=7)
WORKLOAD = Workload("tiny", (CONV, FC))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    old = os.environ.get("DSE_CACHE_DIR")
    os.environ["DSE_CACHE_DIR"] = str(tmp_path_factory.mktemp("rtl-cache"))
    yield os.environ["DSE_CACHE_DIR"]
    if old is None:
        del os.environ["DSE_CACHE_DIR"]
    else:
        os.environ["DSE_CACHE_DIR"] = old


def _point(rows, cols, dataflow, pe_arith="lut", scheme="fixed:4", **knobs):
    return DesignPoint.make({}, dict(rows=rows, cols=cols, dataflow=dataflow, pe_arith=pe_arith, **knobs),
                            QuantScheme.parse(scheme))


@pytest.mark.parametrize("shape", [(2, 3), (3, 2)])
@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_cycles_and_outputs_match(cache, dataflow, shape):
    model = get_model("systolic")
    point = _point(*shape, dataflow)
    spec, checks = rtl_sim.verify_layers(model, WORKLOAD, point, seed=3,
                                         simulator=rtl_sim.find_simulator("iverilog"))
    assert [c.name for c in checks] == ["conv_s2", "fc"]
    for layer, c in zip(WORKLOAD.layers, checks):
        scalesim = fold_cycles(dataflow, layer.M, layer.K, layer.N, *shape)
        assert c.model_cycles == scalesim
        assert c.simulated_cycles == scalesim, (layer.name, c)
        assert c.outputs_match, (layer.name, c)
    # folding in both dimensions, as the test layer was chosen for
    R, C = shape
    sr, sc, _ = {"os": (12, 5, 0), "ws": (27, 5, 0), "is": (27, 12, 0)}[dataflow]
    assert sr > R and sc > C


def test_a_wrong_result_is_detected(cache):
    """The comparison can fail: a corrupted expectation does not match the simulation."""
    spec = rtl_array.ArraySpec(2, 2, "ws", "lut", "fixed", 4, 4, 12)
    A, B = rtl_array.random_operands(spec, 3, 5, 3, np.random.default_rng(0))
    run = rtl_array.layout(spec, A, B)
    got = rtl_sim.simulate(spec, run, rtl_sim.find_simulator("iverilog"))
    assert got.acc == run.expect_acc and got.out == run.expect_out
    B2 = B.copy()
    B2[4, 2] += 1
    assert rtl_array.layout(spec, A, B2).expect_acc != got.acc


@pytest.mark.parametrize("kind,scheme", [("pow2", "pow2:3"), ("sp2", "sp2:4")])
def test_shift_pes(cache, kind, scheme):
    model = get_model("systolic")
    point = _point(2, 2, "os", pe_arith="shift", scheme=scheme)
    spec, checks = rtl_sim.verify_layers(model, Workload("g", (FC,)), point, seed=1,
                                         simulator=rtl_sim.find_simulator("iverilog"))
    assert spec.kind == kind
    assert checks[0].simulated_cycles == checks[0].model_cycles == fold_cycles("os", 4, 5, 7, 2, 2)
    assert checks[0].outputs_match


def test_grouped_layer_sums_group_gemms(cache):
    dw = LayerSpec.conv("dw", 5, 5, 3, 3, 4, 4, stride=1, groups=4)
    model = get_model("systolic")
    spec, (c,) = rtl_sim.verify_layers(model, Workload("dw", (dw,)), _point(2, 2, "ws"),
                                       simulator=rtl_sim.find_simulator("iverilog"))
    assert c.gemms == 4 and c.outputs_match
    assert c.simulated_cycles == c.model_cycles == 4 * fold_cycles("ws", dw.M, dw.K, 1, 2, 2)


def test_spec_follows_the_point():
    model = get_model("systolic")
    wl = Workload("w", (FC, LayerSpec.gemm("big_k", M=2, K=300, N=3)))
    spec = rtl_array.spec_for_point(model, wl, _point(4, 8, "is", scheme="fixed:6,a_bits=5",
                                                      ifmap_buffer_bytes=2048))
    assert (spec.rows, spec.cols, spec.dataflow, spec.unit, spec.w_bits, spec.a_bits) == (4, 8, "is", "lut", 6, 5)
    assert spec.acc_bits == 6 + 5 + 9               # product bits + clog2(300)
    assert spec.top_word == 8 * 5 and spec.depth("top") == 2048 * 8 // 40   # is: ifmap on the top edge


def test_packed_dsp_lanes_fill_as_the_model_counts(cache):
    """Two 8-bit MACs per DSP48E1 (FINN's packing): 4 columns on 2 PE columns. Results are
    exact; each fold fills in R + C/2 - 2 cycles, and so does the model's count (fold_cycles
    with pack=2), which is (C - C/2) cycles per fold below SCALE-Sim's 4-column logical array."""
    model = get_model("systolic")
    spec, checks = rtl_sim.verify_layers(model, WORKLOAD, _point(2, 4, "os", pe_arith="dsp", scheme="fixed:8"),
                                         simulator=rtl_sim.find_simulator("iverilog"))
    assert (spec.pack, spec.pcols) == (2, 2)
    for layer, c in zip(WORKLOAD.layers, checks):
        folds = -(-layer.M // 2) * -(-layer.N // 4)
        assert c.outputs_match
        assert c.model_cycles == fold_cycles("os", layer.M, layer.K, layer.N, 2, 4, pack=2)
        assert c.simulated_cycles == c.array_cycles == c.model_cycles
        assert c.model_cycles == fold_cycles("os", layer.M, layer.K, layer.N, 2, 4) - folds * (4 - 2)


# a mixed-width plan on pe_arith=dsp (DSP48E1): the 8x8-bit first layer packs 2 MACs per slice,
# the 4x4-bit ones alone would pack 3; the array is one piece of hardware, packed at its widest
# layer's factor (2: 6 columns on 3 PE columns), and the model counts every layer's fill on it
MIXED = Workload("mixed", (LayerSpec.gemm("first8", M=4, K=5, N=7), LayerSpec.gemm("rest4", M=3, K=6, N=6)))


def _mixed_point():
    return DesignPoint.make({"first8": QuantScheme.parse("fixed:8")},
                            dict(rows=2, cols=6, dataflow="os", pe_arith="dsp"), QuantScheme.parse("fixed:4,a_bits=4"))


def test_mixed_widths_are_priced_at_the_arrays_packing():
    """Cycles of a 4-bit layer on an array packed for 8 bits: R + ceil(C/2) - 2 per fold (3 PE
    columns), not its own packing's R + ceil(C/3) - 2 (2 PE columns): one cycle more per fold."""
    model = get_model("systolic")
    rep = model.evaluate(MIXED, _mixed_point())
    spec = rtl_array.spec_for_point(model, MIXED, _mixed_point())
    assert (spec.pack, spec.pcols) == (2, 3)
    first, rest = rep.layers
    assert first.compute_cycles == fold_cycles("os", 4, 5, 7, 2, 6, pack=2) == 2 * 2 * (5 + 2 + 3 - 2) - 1
    assert rest.compute_cycles == fold_cycles("os", 3, 6, 6, 2, 6, pack=2) == 2 * 1 * (6 + 2 + 3 - 2) - 1
    assert fold_cycles("os", 3, 6, 6, 2, 6, pack=3) == rest.compute_cycles - 2   # its own packing
    assert rest.compute_cycles == rtl_array.array_cycles(spec, 3, 6, 6)
    assert rep.resources.dsp == 2 * 3                                           # 12 lanes / 2 per slice
    alone = model.evaluate(Workload("alone", (MIXED.layers[1],)),
                           DesignPoint.make({}, _mixed_point().knob_map, QuantScheme.parse("fixed:4,a_bits=4")))
    assert alone.layers[0].compute_cycles == fold_cycles("os", 3, 6, 6, 2, 6, pack=3)


@pytest.mark.slow
def test_mixed_widths_verify_equal_on_verilator(tmp_path, monkeypatch):
    monkeypatch.setenv("DSE_CACHE_DIR", str(tmp_path))   # its own build cache (the module's counts builds)
    model = get_model("systolic")
    spec, checks = rtl_sim.verify_layers(model, MIXED, _mixed_point(), seed=2,
                                         simulator=rtl_sim.find_simulator("verilator"))
    assert (spec.pack, spec.w_bits, spec.a_bits) == (2, 8, 8)
    assert [c.name for c in checks] == ["first8", "rest4"]
    for c in checks:
        assert c.outputs_match, c
        assert c.simulated_cycles == c.array_cycles == c.model_cycles, c


def test_unsupported_points_raise():
    model = get_model("systolic")
    with pytest.raises(Unsupported, match="os dataflow only"):
        rtl_array.spec_for_point(model, WORKLOAD, _point(2, 2, "ws", pe_arith="dsp", scheme="fixed:8"))
    with pytest.raises(Unsupported, match="multiple of 2"):
        rtl_array.spec_for_point(model, WORKLOAD, _point(2, 3, "os", pe_arith="dsp", scheme="fixed:8"))
    with pytest.raises(Unsupported, match="os dataflow only"):
        rtl_array.spec_for_point(model, WORKLOAD, _point(2, 2, "ws", pe_arith="shift", scheme="pow2:3"))


def test_layer_beyond_the_bound_is_refused():
    model = get_model("systolic")
    with pytest.raises(rtl_sim.SimBoundError, match="simulation bound of 100 cycles"):
        rtl_sim.verify_layers(model, WORKLOAD, _point(2, 3, "os"), max_cycles=100)
    with pytest.raises(rtl_sim.SimBoundError, match="scratchpad"):
        rtl_sim.verify_layers(model, Workload("w", (LayerSpec.gemm("g", 64, 512, 8),)),
                              _point(2, 2, "os", ifmap_buffer_bytes=1024))


def test_missing_simulator_is_one_line(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(rtl_sim.SimError) as e:
        rtl_sim.find_simulator()
    assert str(e.value) == "no Verilog simulator found: apt-get install verilator (5.x; or iverilog)"


@pytest.mark.slow
def test_verilator_matches_and_caches_its_build(cache):
    model = get_model("systolic")
    sim = rtl_sim.find_simulator("verilator")
    point = _point(2, 3, "os")
    spec, checks = rtl_sim.verify_layers(model, WORKLOAD, point, seed=5, simulator=sim)
    for layer, c in zip(WORKLOAD.layers, checks):
        assert c.simulated_cycles == c.model_cycles == fold_cycles("os", layer.M, layer.K, layer.N, 2, 3)
        assert c.outputs_match
    _, bdir = rtl_sim.build(spec, sim)
    stamp = (bdir / "ok").stat().st_mtime_ns
    _, again = rtl_sim.build(spec, sim)                  # same configuration: the cached build
    assert again == bdir and (bdir / "ok").stat().st_mtime_ns == stamp
    assert len([p for p in bdir.parent.iterdir() if p.name.startswith("verilator-")]) == 1


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_scratchpad_words_equal_the_layout(dataflow):
    spec = rtl_array.ArraySpec(3, 2, dataflow, "lut", "fixed", 4, 4, 12)
    A, B = rtl_array.random_operands(spec, 7, 5, 3, np.random.default_rng(0))
    run = rtl_array.layout(spec, A, B)
    assert rtl_sim.scratchpad_words(spec, 7, 5, 3) == {"left": len(run.left), "top": len(run.top),
                                                        "out": run.out_words}
