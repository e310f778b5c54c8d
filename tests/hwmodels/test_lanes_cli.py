"""`dse hw lanes` and `dse hw calibrate`: JSON shape, sources, one-line errors, exit 2,
nothing (half-)written; the model against a fresh Yosys synthesis."""

from __future__ import annotations

import json
import os

import pytest

from dse.cli import main

KEYS = {"unit", "kind", "w_bits", "a_bits", "lut", "ff", "dsp", "lanes_per_dsp", "source"}


@pytest.mark.parametrize("family", ["xc7", "xcup"])
def test_lanes_json_shape_and_sources(family, capsys):
    assert main(["hw", "lanes", "--family", family, "--json"]) == 0
    lanes = json.loads(capsys.readouterr().out)["lanes"]
    assert {l["unit"] for l in lanes} == {"lut", "dsp", "shift", "term", "bit"}
    for l in lanes:
        assert set(l) == KEYS and l["source"].strip()
        assert isinstance(l["w_bits"], int) and isinstance(l["lut"], float)
    dsp88 = next(l for l in lanes if (l["unit"], l["w_bits"], l["a_bits"]) == ("dsp", 8, 8))
    assert dsp88["lanes_per_dsp"] == 2.0 and dsp88["dsp"] == 0.5 and dsp88["source"].startswith("synthesis")
    fits = [l for l in lanes if l["source"].startswith("fit:")]
    assert fits and all("synthesis/formula" in l["source"] for l in fits)   # widths off the grid say so
    assert main(["hw", "lanes", "--family", family]) == 0
    out = capsys.readouterr().out
    assert "lanes/dsp" in out and "synthesis by Yosys" in out and "fit from" in out


def _one_line_error(capsys, argv, match):
    assert main(argv) == 2
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and match in lines[0] and "Traceback" not in cap.err, cap.err
    assert cap.out == ""


def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _one_line_error(capsys, ["hw", "lanes", "--family", "xc9"], "--family: unknown FPGA family 'xc9'; use one of xc7, xcup")
    _one_line_error(capsys, ["hw", "calibrate", "--family", "virtex"], "--family: unknown FPGA family")
    _one_line_error(capsys, ["hw", "calibrate", "--family", "xc7", "--check", "0"], "--check: expected an integer in [1, 22]")
    _one_line_error(capsys, ["hw", "calibrate", "--family", "xc7", "--check", "many"], "--check: expected an integer")
    _one_line_error(capsys, ["hw", "calibrate", "--family", "xc7", "-o", str(tmp_path / "no" / "t.json")],
                    "-o: directory")
    monkeypatch.setenv("DSE_YOSYS", str(tmp_path / "no-yosys"))
    _one_line_error(capsys, ["hw", "calibrate", "--family", "xc7", "-o", str(tmp_path / "t.json")],
                    "yosys not found: apt-get install yosys")
    _one_line_error(capsys, ["hw", "calibrate", "--family", "xc7", "--check", "2"],
                    "yosys not found: apt-get install yosys")
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_check_against_fresh_synthesis_within_20_percent(capsys):
    """Three lanes off the calibration grid (other widths: the fits) re-synthesized with
    Yosys; model and synthesis agree within 20 % for every resource."""
    assert main(["hw", "calibrate", "--family", "xc7", "--check", "3", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert len(rep["rows"]) == 9 and rep["worst_rel_error"] <= 0.20
    assert {r["resource"] for r in rep["rows"]} == {"lut", "ff", "dsp"}
    for r in rep["rows"]:
        assert r["synth"] >= 0 and r["rel_error"] == pytest.approx(
            abs(r["model"] - r["synth"]) / r["synth"] if r["synth"] else abs(r["model"]))
