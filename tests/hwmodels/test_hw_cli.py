"""`dse hw list` and `dse hw eval`: output, JSON shape, one-line errors with exit 2."""

from __future__ import annotations

import json

import pytest

from dse.cli import main
from hwmodels import DesignPoint, get_model, read_topology

CONV_HEAD = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"


@pytest.fixture
def topo(tmp_path):
    p = tmp_path / "net.csv"
    p.write_text(CONV_HEAD + "conv1, 34, 34, 3, 3, 16, 32, 1,\nconv2_DP, 32, 32, 3, 3, 32, 1, 1,\n"
                 "down, 30, 30, 1, 1, 32, 64, 2,\n")
    return p


def test_list_shows_models_and_knobs(capsys):
    assert main(["hw", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("systolic:", "hetero:", "bitserial:", "termserial:"):
        assert name in out
    assert "pe_arith" in out and "sp2_cols" in out and "one of os, ws, is" in out
    assert main(["hw", "list", "--json"]) == 0
    models = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    knobs = {k["name"]: k for k in models["systolic"]["knobs"]}
    assert knobs["rows"] == {"name": "rows", "kind": "int", "default": 16, "unit": "", "doc": "array rows (R)",
                             "search": True, "low": 1, "high": 512, "log": True}
    assert "XC7Z020" in knobs["device"]["choices"]


def test_eval_json_matches_the_model(topo, capsys):
    assert main(["hw", "eval", "--topology", str(topo), "--hwmodel", "systolic", "-p", "rows=8", "-p", "cols=32",
                 "-p", "dataflow=ws", "--scheme", "fixed:4,a_bits=6", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert [l["name"] for l in rep["layers"]] == ["conv1", "conv2_DP", "down"]
    from hwmodels import QuantScheme
    want = get_model("systolic").evaluate(read_topology(topo), DesignPoint.make(
        knobs={"rows": 8, "cols": 32, "dataflow": "ws"}, default_scheme=QuantScheme("fixed", 4, 6)))
    assert [l["cycles"] for l in rep["layers"]] == [l.cycles for l in want.layers]
    assert rep["total"]["cycles"] == want.cycles and rep["total"]["fits"] is True
    for key in ("latency_s", "energy_j", "lut", "dsp", "bram18", "ff"):
        assert key in rep["total"]


def test_eval_text_table(topo, capsys):
    assert main(["hw", "eval", "--topology", str(topo), "--hwmodel", "hetero", "--scheme", "msq:4,a_bits=4",
                 "-p", "device=XC7Z020"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("hetero on XC7Z020 at 200 MHz: net, 3 layers")
    assert "conv2_DP" in out and "total" in out and "resources: lut " in out and "dsp " in out and "bram18 " in out
    assert "fits: yes" in out


def test_eval_plan_file(topo, tmp_path, capsys):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"layers": {"conv1": {"kind": "fixed", "w_bits": 2, "a_bits": 8}},
                                "hardware": {"rows": 4}}))
    assert main(["hw", "eval", "--topology", str(topo), "--hwmodel", "bitserial", "--plan", str(plan),
                 "-p", "cols=4", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    # conv1: M = 32*32 = 1024, K = 144, N = 32 on 4x4, 2 weight bits: 256 x 8 x (288 + 6) - 1
    assert rep["layers"][0]["compute_cycles"] == 256 * 8 * 294 - 1
    assert rep["layers"][0]["mac_bits"] == 1024 * 144 * 32 * 2


@pytest.mark.parametrize("argv, message", [
    (["-p", "nope=1"], "-p nope: unknown knob of hardware model 'systolic'; knobs: device, clock_hz"),
    (["-p", "rows=0"], "-p rows: got '0'; allowed: int in [1, 512] (log)"),
    (["-p", "rows"], "-p: expected KNOB=VALUE, got 'rows'"),
    (["-p", "dataflow=rs"], "-p dataflow: got 'rs'; allowed: one of os, ws, is"),
    (["--scheme", "float:8"], "--scheme: kind: must be one of fixed, pow2, sp2, term, msq; got 'float'"),
    (["-p", "pe_arith=shift"], "hardware model 'systolic' cannot price this point: shift-add PEs"),
])
def test_eval_errors_are_one_line_exit_2(topo, capsys, argv, message):
    rc = main(["hw", "eval", "--topology", str(topo), "--hwmodel", "systolic", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("dse: error: " + message)


def test_eval_input_errors(tmp_path, topo, capsys):
    assert main(["hw", "eval", "--topology", str(tmp_path / "missing.csv"), "--hwmodel", "systolic"]) == 2
    assert "--topology: " in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text(CONV_HEAD + "c, 8, 8, 3, three, 4, 4, 1,\n")
    assert main(["hw", "eval", "--topology", str(bad), "--hwmodel", "systolic"]) == 2
    assert capsys.readouterr().err.strip() == (f"dse: error: --topology: {bad}:2: field 'Filter Width' "
                                               "(column 5): expected a positive integer, got 'three'")
    assert main(["hw", "eval", "--topology", str(topo), "--hwmodel", "tpu"]) == 2
    assert "--hwmodel: hardware model: unknown name 'tpu'; known: bitserial, hetero, systolic, termserial" \
        in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # neither source given: argparse, one line, exit 2
        main(["hw", "eval", "--hwmodel", "systolic"])
    assert e.value.code == 2


@pytest.mark.slow  # builds the workload through dse.workloads (imports torch)
def test_eval_workload_by_name(capsys):
    pytest.importorskip("dse.workloads")
    from dse.workloads import get_workload_spec

    spec = get_workload_spec("resnet18")
    assert main(["hw", "eval", "--workload", "resnet18", "--hwmodel", "systolic", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert len(rep["layers"]) == len(spec.layers) and sum(l["macs"] for l in rep["layers"]) == spec.macs
    assert main(["hw", "eval", "--workload", "no_such_net", "--hwmodel", "systolic"]) == 2
    assert "no_such_net" in capsys.readouterr().err
