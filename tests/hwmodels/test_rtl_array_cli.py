"""`dse hw rtl | verify | synth`: files, JSON, and bad input (one line, exit 2, nothing written)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from dse.cli import main


@pytest.fixture(autouse=True)
def _tools():
    for tool in ('iverilog',):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not installed: apt-get install {tool} (.ci/run does this)")


GEMM_HEAD = "Layer, M, N, K,\n"
CONV_HEAD = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
ARGS = ["--hwmodel", "systolic", "-p", "rows=2", "-p", "cols=2", "-p", "pe_arith=lut", "--scheme", "fixed:4"]


@pytest.fixture
def topo(tmp_path, monkeypatch):
    monkeypatch.setenv("DSE_CACHE_DIR", str(tmp_path / "cache"))
    p = tmp_path / "net.csv"
    p.write_text(CONV_HEAD + "c1, 6, 6, 3, 3, 2, 3, 2,\nc2, 5, 5, 1, 1, 3, 4, 1,\nhuge, 224, 224, 3, 3, 64, 64, 1,\n")
    return p


def _err_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_rtl_writes_verilog_testbench_readme(topo, tmp_path, capsys):
    out = tmp_path / "rtl"
    assert main(["hw", "rtl", "--topology", str(topo), *ARGS, "-p", "dataflow=is", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "array.v", "array_sim.v", "tb.v"]
    assert "module dse_array_top" in (out / "array.v").read_text()
    assert "mon_d" not in (out / "array.v").read_text() and "mon_d" in (out / "array_sim.v").read_text()
    assert "2 x 2 systolic array, dataflow is" in (out / "README.md").read_text()
    # the written testbench and array compile as they are
    r = subprocess.run(["iverilog", "-g2005", "-DDSE_SIM", "-s", "tb", "-o", str(tmp_path / "x.vvp"),
                        str(out / "tb.v"), str(out / "array_sim.v")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "written to" in capsys.readouterr().out


def test_verify_json(topo, capsys):
    rc = main(["hw", "verify", "--topology", str(topo), *ARGS, "-p", "dataflow=ws", "--layers", "c1,c2",
               "--simulator", "iverilog", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert [l["name"] for l in res["layers"]] == ["c1", "c2"]
    for l in res["layers"]:
        assert set(l) >= {"name", "model_cycles", "simulated_cycles", "outputs_match"}
        assert l["model_cycles"] == l["simulated_cycles"] and l["outputs_match"] is True
    assert res["total"]["model_cycles"] == sum(l["model_cycles"] for l in res["layers"])
    assert res["total"]["outputs_match"] is True


@pytest.mark.parametrize("argv,needle", [
    (["-p", "bogus=1"], "-p bogus: unknown knob"),
    (["-p", "pe_arith=shift"], "not supported by the RTL generator"),
    (["--layers", "nope"], "--layers: nope not in workload"),
    (["--layers", "huge"], "simulation bound of 2,000,000 cycles"),
])
def test_verify_bad_input(topo, capsys, argv, needle):
    assert main(["hw", "verify", "--topology", str(topo), *ARGS, *argv, "--simulator", "iverilog"]) == 2
    assert needle in _err_line(capsys)


def test_rtl_bad_input_leaves_no_directory(topo, tmp_path, capsys):
    out = tmp_path / "nope"
    assert main(["hw", "rtl", "--topology", str(topo), *ARGS, "-p", "pe_arith=dsp", "-p", "dataflow=ws",
                 "--scheme", "fixed:8", "-o", str(out)]) == 2
    assert "os dataflow only" in _err_line(capsys)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".nope")] == []
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep")
    assert main(["hw", "rtl", "--topology", str(topo), *ARGS, "-o", str(tmp_path / "full")]) == 2
    assert "not an empty directory" in _err_line(capsys)
    assert main(["hw", "rtl", "--topology", str(topo), "--hwmodel", "bitserial", "-o", str(out)]) == 2
    assert "'systolic' model only" in _err_line(capsys)
    assert not out.exists()


def test_missing_tools_are_one_line(topo, tmp_path):
    env = dict(os.environ, PATH="/nonexistent", DSE_YOSYS="/nonexistent/yosys")
    base = [sys.executable, "-m", "dse", "hw"]
    r = subprocess.run(base + ["verify", "--topology", str(topo), *ARGS, "--layers", "c2"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and r.stderr == "dse: error: no Verilog simulator found: apt-get install verilator " \
                                             "(5.x; or iverilog)\n"
    r = subprocess.run(base + ["synth", "--topology", str(topo), *ARGS], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and r.stderr == "dse: error: yosys not found: apt-get install yosys\n"


@pytest.mark.slow
def test_synth_tiny_array_against_the_model(topo, capsys):
    """A 2x2 ws array synthesizes; block RAM equals the model's count exactly (the scratchpads
    are as wide and deep as the model's buffers) and LUT/FF come close to it."""
    assert main(["hw", "synth", "--topology", str(topo), *ARGS, "-p", "dataflow=ws", "-p", "ifmap_buffer_bytes=1024",
                 "-p", "weight_buffer_bytes=2048", "-p", "ofmap_buffer_bytes=1024", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    m, s, e = res["model"], res["synth"], res["error"]
    assert s["dsp"] == 0 and m["dsp"] == 0 and e["dsp"] == 0.0
    assert s["bram18"] == m["bram18"] > 0 and e["bram18"] == 0.0
    for r in ("lut", "ff"):
        assert s[r] > 0 and e[r] == pytest.approx((m[r] - s[r]) / s[r])
        assert abs(e[r]) <= 0.15, (r, m[r], s[r])
    assert res["tool"].startswith("Yosys") and "synth_xilinx -family xc7" in res["command"] and "-nodsp" in res["command"]


def test_verify_packed_dsp_matches_the_model(topo, capsys):
    """8-bit fixed on DSP48E1 packs 2 MACs per slice: 4 columns on 2 PE columns; the model
    counts the packed array's fill (R + C/2 - 2 per fold), so simulation equals it."""
    rc = main(["hw", "verify", "--topology", str(topo), "--hwmodel", "systolic", "-p", "rows=2", "-p", "cols=4",
               "-p", "pe_arith=dsp", "--scheme", "fixed:8", "--layers", "c2", "--simulator", "iverilog", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert rc == 0
    (l,) = res["layers"]
    assert l["outputs_match"] is True
    assert l["simulated_cycles"] == l["array_cycles"] == l["model_cycles"]
    assert res["total"]["cycles_match"] is True and "packed DSP lanes" in res["notes"][0]
