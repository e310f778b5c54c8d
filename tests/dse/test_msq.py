"""Row-wise mixed SP2/fixed (Mix and Match): row assignment, the device-balanced fraction,
the comparison against DSP-only, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from dse.msq import balanced_fraction, best_designs, compare, set_balanced_fractions
from dse.quant import assign_sp2_rows, row_kurtosis
from hwmodels import DesignPoint, LayerSpec, QuantScheme, Workload, get_model
from hwmodels.hetero import balanced_split


def test_row_statistic_prefers_bell_shaped_rows():
    g = torch.Generator().manual_seed(0)
    n = 16384
    gauss = torch.randn(3, n, generator=g)
    u = torch.rand(3, n, generator=g) - 0.5
    laplace = -u.sign() * torch.log1p(-2 * u.abs())  # inverse CDF of the Laplace distribution
    uniform = torch.rand(6, n, generator=g) * 2 - 1
    # interleave, and give the uniform rows the larger scale: the statistic must be scale-free
    w = torch.stack([gauss[0], 10 * uniform[0], laplace[0], 10 * uniform[1], gauss[1], 10 * uniform[2],
                     laplace[1], 10 * uniform[3], gauss[2], 10 * uniform[4], laplace[2], 10 * uniform[5]])
    k = row_kurtosis(w)
    assert k[1].item() == pytest.approx(-1.2, abs=0.1)   # uniform
    assert k[0].item() == pytest.approx(0.0, abs=0.3)    # Gaussian
    assert k[2].item() == pytest.approx(3.0, abs=1.0)    # Laplacian
    mask = assign_sp2_rows(w, 0.5)
    assert mask.tolist() == [True, False] * 6            # every bell-shaped row, no uniform one
    assert assign_sp2_rows(w, 0.25).nonzero().flatten().tolist() == [2, 6, 10]  # the heaviest tails first
    assert not assign_sp2_rows(w, 0.0).any() and assign_sp2_rows(w, 1.0).all()


@pytest.mark.parametrize("device", ["XC7Z020", "XC7Z045"])
@pytest.mark.parametrize("rows", [8, 16])
def test_balanced_fraction_matches_hetero_balanced_split(device, rows):
    split = balanced_split(device, rows=rows, w_bits=4, a_bits=4)
    assert balanced_fraction(device, 4, rows=rows) == split
    plan = DesignPoint.make({"a": QuantScheme("msq", 4, 4, sp2_fraction=0.25),
                             "b": QuantScheme("msq", 4, 4, sp2_fraction=1.0),
                             "c": QuantScheme("fixed", 8, 8)}, {"dataflow": "ws"})
    out = set_balanced_fractions(plan, device, rows)
    assert out.scheme_for("a").sp2_fraction == out.scheme_for("b").sp2_fraction == split.sp2_fraction
    assert out.scheme_for("c") == QuantScheme("fixed", 8, 8)
    assert out.knob_map == {"dataflow": "ws", "device": device, "rows": rows, "fixed_cols": split.fixed_cols,
                            "sp2_cols": split.sp2_cols}
    with pytest.raises(ValueError, match="no msq layer"):
        set_balanced_fractions(DesignPoint.make({"c": QuantScheme("fixed", 4)}), device)


def test_designs_compare_the_same_device():
    net = Workload.chain("n", [LayerSpec.conv("a", 18, 18, 3, 3, 64, 64), LayerSpec.linear("f", 256, 64)])
    het, point, dsp = best_designs(net, "XC7Z020", 4, 4, rows=16)
    split = balanced_split("XC7Z020", 16, 4, 4)
    assert het.cols == {"fixed_cols": split.fixed_cols, "sp2_cols": split.sp2_cols}
    assert dsp.cols == {"cols": split.fixed_cols}
    assert het.fits and dsp.fits
    # the DSP-only design spends the same DSP slices as the mixed design's DSP array
    assert dsp.resources["dsp"] == het.resources["dsp"]
    h = get_model("hetero").evaluate(net, point)
    assert h.latency_s == het.latency_s
    assert het.latency_s < dsp.latency_s   # the LUT array takes ~2/3 of the rows off the DSPs
    auto = best_designs(net, "XC7Z020", 4, 4)
    assert auto[0].latency_s <= het.latency_s and auto[2].latency_s <= dsp.latency_s


def test_compare_fine_tunes_three_plans(tmp_path, monkeypatch):
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "fixtures"))
    c = compare("tiny_workload:workload", "XC7Z020", 4, epochs=1, rows=16, cache_dir=tmp_path)
    assert set(c.accuracy) == {"fixed", "sp2", "mixed"}
    assert all(0.0 <= a <= 1.0 for a in c.accuracy.values())
    assert c.sp2_fraction == balanced_split("XC7Z020", 16, 4, 4).sp2_fraction
    assert c.speedup == c.dsp_only.latency_s / c.hetero.latency_s
    mixed = DesignPoint.from_dict(c.plans["mixed"])
    assert {s.kind for _, s in mixed.schemes} == {"msq"}
    d = c.to_dict()
    assert d["mixed"]["sp2_cols"] == balanced_split("XC7Z020", 16, 4, 4).sp2_cols and d["speedup"] == c.speedup


def _dse(args, env):
    return subprocess.run([sys.executable, "-m", "dse", *args], capture_output=True, text=True, env=env, timeout=600)


def test_cli_json(fixture_env):
    r = _dse(["msq", "tiny_workload:workload", "--fpga", "XC7Z045", "--epochs", "0", "--rows", "8", "--json",
              "--quiet"], fixture_env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["sp2_fraction"] == balanced_split("XC7Z045", 8, 4, 4).sp2_fraction
    assert set(out["accuracy"]) == {"fixed", "sp2", "mixed"}
    for key in ("latency_s", "throughput_per_s", "fits", "rows"):
        assert key in out["mixed"] and key in out["dsp_only"]
    assert out["speedup"] == pytest.approx(out["dsp_only"]["latency_s"] / out["mixed"]["latency_s"])
    hw = _dse(["msq", "resnet18", "--hw-only", "--fpga", "XC7Z020"], fixture_env)
    assert hw.returncode == 0, hw.stderr
    assert "speed-up mixed / DSP-only" in hw.stdout
    bad = _dse(["msq", "tiny_workload:workload", "--fpga", "XC1"], fixture_env)
    assert bad.returncode == 2 and "--fpga: unknown FPGA 'XC1'" in bad.stderr
