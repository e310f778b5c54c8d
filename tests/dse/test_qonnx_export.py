"""QONNX export: every number format as Quant / MultiThreshold nodes that qonnx itself
shape-infers and executes, with outputs equal to the tool's own fake-quantized model;
the ``dse export --qonnx`` and ``dse finetune --qonnx`` commands and their bad inputs."""

import json
import os

import numpy as np
import onnx
import pytest
import torch
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.infer_shapes import InferShapes
from torch import nn

from dse.qonnx_export import ExportError, activation_staircase, export_qonnx, weight_grid
from dse.quant import QuantScheme, quantize_model
from dse.quant.terms import term_quantize
from dse.workloads.digits import DigitsCNN
from hwmodels.formats import levels


def _seeded():
    torch.manual_seed(0)
    torch.set_num_threads(1)


def _export_and_run(model, x, path):
    """Export ``model`` (calibrated on ``x``), shape-infer and run it in qonnx on each
    sample of ``x``; returns (onnx model, qonnx outputs, torch outputs)."""
    model.eval()
    with torch.no_grad():
        model(x)  # calibration: activation quantizers fix their clip and sign
    summary = export_qonnx(model, x[:1], path)
    assert set(summary.layers) == {n for n, _ in model.named_modules() if type(_).__name__ == "QuantLayer"}
    wrapped = ModelWrapper(str(path)).transform(InferShapes())
    outs, refs = [], []
    for i in range(len(x)):
        outs.append(execute_onnx(wrapped, {"global_in": x[i:i + 1].numpy()})["global_out"])
        with torch.no_grad():
            refs.append(model(x[i:i + 1]).numpy())
    return wrapped, np.concatenate(outs), np.concatenate(refs)


def _quant_nodes(wrapped, suffix):
    return {n.name.rsplit(".", 2)[0]: n for n in wrapped.graph.node
            if n.op_type in ("Quant", "MultiThreshold") and n.name.endswith(suffix)}


def _attr(node, name):
    return next(onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name)


PLAN = {
    "conv1": QuantScheme("fixed", 4, 8, "per_row"),
    "conv2": QuantScheme("sp2", 4, 4),
    "conv3": QuantScheme("msq", 4, 6, sp2_fraction=0.5),
    "fc": QuantScheme("term", 6, 5, "per_tensor", term_budget=2, a_term_budget=2),
}


def test_every_format_executes_in_qonnx_and_matches_the_fake_quantized_model(tmp_path):
    _seeded()
    model = quantize_model(DigitsCNN(), PLAN)
    x = torch.randn(6, 1, 8, 8)
    wrapped, out, ref = _export_and_run(model, x, tmp_path / "d.onnx")
    assert out.shape == ref.shape == (6, 10)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6 * float(np.abs(ref).max()))

    w = _quant_nodes(wrapped, "weight_quant.node")
    bits = {k: int(wrapped.get_initializer(n.input[3])) for k, n in w.items()}
    # fixed: native width; sp2 4-bit: levels on a 1/8 grid -> 5-bit integers; msq: the wider of the two;
    # term: the 6-bit grid its terms come from
    assert bits == {"conv1": 4, "conv2": 5, "conv3": 5, "fc": 6}
    for name, node in w.items():
        assert _attr(node, "signed") == 1 and _attr(node, "narrow") == 1
        assert _attr(node, "rounding_mode") == b"ROUND"
        scale = wrapped.get_initializer(node.input[1])
        weight = wrapped.get_initializer(node.input[0])
        ints = weight / scale
        np.testing.assert_allclose(ints, np.round(ints), atol=1e-3)  # weights sit on the integer grid
        if name == "conv2":  # every SP2 level, nothing else
            allowed = set(np.round(levels("sp2", 4) * 8).astype(int))
            assert set(np.unique(np.round(ints).astype(int))) <= allowed
    assert wrapped.get_initializer(w["conv1"].input[1]).shape == (16, 1, 1, 1)  # per row
    assert wrapped.get_initializer(w["fc"].input[1]).shape == ()  # per tensor

    a = _quant_nodes(wrapped, "act_quant.node")
    assert a["conv1"].op_type == "Quant" and _attr(a["conv1"], "signed") == 1  # randn input: signed
    assert int(wrapped.get_initializer(a["conv2"].input[3])) == 4 and _attr(a["conv2"], "signed") == 0  # after ReLU
    assert a["fc"].op_type == "MultiThreshold"  # 2 terms per activation: an exact staircase
    meta = {p.key: p.value for p in wrapped.model.metadata_props}
    conv3 = json.loads(meta["dse.layer.conv3"])
    assert conv3["scheme"]["kind"] == "msq" and len(conv3["weight"]["sp2_rows"]) == 16  # half of 32 rows
    assert "SP2" in w["conv3"].doc_string


def test_wrong_width_in_the_file_would_show(tmp_path):
    """The comparison above can fail: the same model exported with its conv2 weights
    Quant node narrowed by one bit no longer matches."""
    _seeded()
    model = quantize_model(DigitsCNN(), {"conv2": QuantScheme("fixed", 4, 8)})
    x = torch.randn(3, 1, 8, 8)
    path = tmp_path / "d.onnx"
    wrapped, out, ref = _export_and_run(model, x, path)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6 * float(np.abs(ref).max()))
    node = _quant_nodes(wrapped, "weight_quant.node")["conv2"]
    wrapped.set_initializer(node.input[3], np.array(3.0, dtype=np.float32))
    bad = execute_onnx(wrapped, {"global_in": x[:1].numpy()})["global_out"]
    assert np.abs(bad - ref[:1]).max() > 1e-3 * np.abs(ref).max()


class _Grouped(nn.Module):
    """Depthwise + grouped convs, ReLU6, residual add, strided slice, pad, pooling."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, (3, 2), padding="same", groups=8)  # asymmetric padding
        self.gc = nn.Conv2d(8, 16, 1, groups=4)
        self.act = nn.ReLU6()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        y = self.act(self.bn(self.stem(x)))
        y = y + self.act(self.dw(y))
        y = self.gc(y)
        y = y + torch.nn.functional.pad(x[:, :1, :, :], (0, 0, 0, 0, 0, 15))
        return self.fc(torch.flatten(self.pool(y[:, :, ::2, ::2]), 1))


def test_grouped_depthwise_residual_graph_and_pow2_row_bits(tmp_path):
    _seeded()
    m = _Grouped()
    with torch.no_grad():  # non-trivial BN statistics
        m.bn.running_mean.uniform_(-0.2, 0.2)
        m.bn.running_var.uniform_(0.5, 2.0)
    plan = {"stem": QuantScheme("pow2", 4, 8), "dw": QuantScheme.with_row_bits([3, 4, 5, 6] * 2, 6),
            "gc": QuantScheme("term", 8, 8, term_budget=3, group_size=2, term_encoding="csd"),
            "fc": QuantScheme("fixed", 3, 3, "per_tensor")}
    model = quantize_model(m, plan)
    x = torch.randn(3, 3, 12, 12)
    wrapped, out, ref = _export_and_run(model, x, tmp_path / "g.onnx")
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-5 * float(np.abs(ref).max()))
    ops = [n.op_type for n in wrapped.graph.node]
    assert {"Slice", "Pad", "Clip", "GlobalAveragePool", "Flatten", "BatchNormalization"} <= set(ops)
    convs = {n.name: _attr(n, "group") for n in wrapped.graph.node if n.op_type == "Conv"}
    assert convs == {"stem.conv.node": 1, "dw.conv.node": 8, "gc.conv.node": 4}
    w = _quant_nodes(wrapped, "weight_quant.node")
    assert int(wrapped.get_initializer(w["stem"].input[3])) == 8  # pow2 4-bit: powers of two up to 2^6
    ints = np.abs(wrapped.get_initializer(w["stem"].input[0]) / wrapped.get_initializer(w["stem"].input[1]))
    nz = np.round(ints[ints > 0.5]).astype(int)
    assert nz.size and np.all(nz & (nz - 1) == 0)
    assert int(wrapped.get_initializer(w["dw"].input[3])) == 6  # row_bits: the widest row
    meta = json.loads({p.key: p.value for p in wrapped.model.metadata_props}["dse.layer.dw"])
    assert meta["weight"]["row_bits"] == [3, 4, 5, 6] * 2


@pytest.mark.parametrize("bits,budget,signed", [(8, 2, False), (6, 1, True), (4, 3, True)])
def test_activation_staircase_is_the_term_quantizer(bits, budget, signed):
    scheme = QuantScheme("term", 8, bits, term_budget=4, a_term_budget=budget)
    thr, low, n = activation_staircase(scheme, signed)
    grid = np.arange(-n if signed else 0, n + 1, dtype=np.float64)
    x = np.concatenate([grid, grid + 0.3, grid - 0.3, [-1e3, 1e3]])
    staircase = low + (x[:, None] >= thr[None, :]).sum(1)
    q = np.clip(np.round(x), -n if signed else 0, n)
    assert np.array_equal(staircase, term_quantize(q, budget, 1))


def test_weight_grids_hold_every_level():
    for kind, bits in [("pow2", 2), ("pow2", 3), ("pow2", 5), ("sp2", 3), ("sp2", 4), ("sp2", 6)]:
        den, bw, _ = weight_grid(QuantScheme(kind, bits), 1)
        ints = levels(kind, bits) * den[0]
        assert np.array_equal(ints, np.round(ints)) and np.abs(ints).max() <= 2 ** (bw - 1) - 1


def test_uncalibrated_or_unknown_operations_raise(tmp_path):
    _seeded()
    model = quantize_model(DigitsCNN(), {"conv1": QuantScheme("fixed", 4)})
    with pytest.raises(ExportError, match="has not seen data"):
        export_qonnx(model, torch.zeros(1, 1, 8, 8), tmp_path / "a.onnx")

    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return torch.cumsum(self.fc(x), 1)

    with pytest.raises(ExportError, match="cumsum"):
        export_qonnx(Odd(), torch.zeros(1, 4), tmp_path / "b.onnx")
    assert not list(tmp_path.iterdir())


# --- the commands ---------------------------------------------------------------------------------

STUDY = """
[study]
name = "q"
objectives = ["latency_s", "lut"]
fidelity = "none"
trials = 4
seed = 0
[workload]
name = "digits"
[space]
kinds = ["fixed", "pow2", "sp2", "term", "msq"]
w_bits = [3, 4]
a_bits = [4, 8]
[hardware]
model = "systolic"
device = "XC7Z045"
[finetune]
pretrain_epochs = 1
"""


class _Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def _dse(*args, cwd, env):
    """``dse ARGS`` in this process (the CLI's own main: exit code, stdout, stderr), in
    ``cwd`` with ``env``'s DSE_CACHE_DIR: a subprocess per case would spend its time importing."""
    import contextlib
    import io

    from dse.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_cwd, old_cache = os.getcwd(), os.environ.get("DSE_CACHE_DIR")
    os.chdir(cwd)
    os.environ["DSE_CACHE_DIR"] = env["DSE_CACHE_DIR"]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(list(args))
            except SystemExit as e:  # argparse
                rc = e.code
    finally:
        os.chdir(old_cwd)
        if old_cache is None:
            os.environ.pop("DSE_CACHE_DIR", None)
        else:
            os.environ["DSE_CACHE_DIR"] = old_cache
    return _Result(rc, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("qonnx-study")
    env = {"DSE_CACHE_DIR": str(d / "cache")}
    (d / "s.toml").write_text(STUDY)
    r = _dse("search", "s.toml", "--storage", "s.journal", "--quiet", "--no-report", cwd=d, env=env)
    assert r.returncode == 0, r.stderr
    return d, env


def _trials(d):
    import optuna

    from dse.storage import open_storage

    study = optuna.load_study(study_name="q", storage=open_storage(str(d / "s.journal")).storage)
    return study, study.get_trials()


@pytest.mark.slow
def test_export_trial_qonnx_runs_with_the_plans_widths(study_dir):
    d, env = study_dir
    study, trials = _trials(d)
    done = next(t for t in trials if t.state.name == "COMPLETE")
    r = _dse("export", "--storage", "s.journal", "--study", "q", "--trial", str(done.number), "--qonnx", "t.onnx",
             cwd=d, env=env)
    assert r.returncode == 0, r.stderr
    assert "QONNX -> t.onnx" in r.stdout
    wrapped = ModelWrapper(str(d / "t.onnx")).transform(InferShapes())
    point = done.user_attrs["point"]["layers"]
    w = _quant_nodes(wrapped, "weight_quant.node")
    a = _quant_nodes(wrapped, "act_quant.node")
    assert set(w) == set(point)
    for name, s in point.items():
        grid = weight_grid(QuantScheme.from_dict(s), 1, np.ones(1, bool))[1] if s["kind"] != "fixed" else s["w_bits"]
        assert int(wrapped.get_initializer(w[name].input[3])) >= s["w_bits"]
        if s["kind"] == "fixed":
            assert int(wrapped.get_initializer(w[name].input[3])) == grid
        assert int(wrapped.get_initializer(a[name].input[3])) == s["a_bits"]
    # the file computes what the tool's own model of that plan computes
    from dse.qonnx_export import plan_model
    from dse.workloads import get_workload

    model, _ = plan_model(get_workload("digits"), done.user_attrs["point"], seed=0, pretrain_epochs=1,
                          cache_dir=env["DSE_CACHE_DIR"])
    x = get_workload("digits").example_input
    out = execute_onnx(wrapped, {"global_in": x.numpy()})["global_out"]
    with torch.no_grad():
        ref = model(x).numpy()
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-5 * float(np.abs(ref).max()))
    # qonnx's own cost tool reads the formats and counts the workload's MACs
    from qonnx.util.inference_cost import inference_cost

    cost = inference_cost(str(d / "t.onnx"), discount_sparsity=False)["total_cost"]
    assert cost["total_macs"] == get_workload("digits").spec.macs


def test_export_qonnx_bad_input_one_line_exit_2_nothing_written(study_dir):
    d, env = study_dir
    _, trials = _trials(d)
    infeasible = next(t for t in trials if t.state.name == "PRUNED")
    cases = [
        (["--trial", str(infeasible.number), "--qonnx", "x.onnx"], f"--trial: trial {infeasible.number} is infeasible"),
        (["--trial", "99", "--qonnx", "x.onnx"], "--trial: study 'q' has no trial 99"),
        (["--trial", "0", "--qonnx", "nodir/x.onnx"], "--qonnx: folder 'nodir' does not exist"),
        (["--trial", "0", "--qonnx", "x.txt"], "--qonnx: the file name must end in .onnx"),
        (["--qonnx", "x.onnx", "-o", "p.csv"], "--qonnx: give the trial to export with --trial N"),
    ]
    # a complete, feasible trial whose plan names a layer the workload does not have
    import optuna

    study, _ = _trials(d)
    wrong = {"layers": {"conv9": {"kind": "fixed", "w_bits": 4}}, "hardware": {}}
    study.add_trial(optuna.trial.create_trial(values=[1.0, 1.0], user_attrs={"point": wrong, "status": "complete"}))
    n = len(trials)
    cases.append((["--trial", str(n), "--qonnx", "x.onnx"],
                  f"--trial: the plan of trial {n} does not fit workload 'digits': layer 'conv9'"))
    for extra, msg in cases:
        r = _dse("export", "--storage", "s.journal", "--study", "q", *extra, cwd=d, env=env)
        assert r.returncode == 2, (extra, r.stderr)
        line = r.stderr.strip()
        assert line.startswith(f"dse: error: {msg}") and len(line.splitlines()) == 1, line
        assert not any(p.name.startswith(("x.", ".x.", "p.")) for p in d.iterdir()), extra


@pytest.mark.slow
def test_finetune_writes_the_finetuned_network(study_dir, tmp_path):
    d, env = study_dir
    r = _dse("finetune", "digits", "--scheme", "sp2:4,a_bits=4", "--epochs", "1", "--pretrain-epochs", "1",
             "--qonnx", str(tmp_path / "ft.onnx"), "--json", cwd=d, env=env)
    assert r.returncode == 0, r.stderr
    acc = json.loads(r.stdout)["accuracy"]
    wrapped = ModelWrapper(str(tmp_path / "ft.onnx")).transform(InferShapes())
    assert {int(wrapped.get_initializer(n.input[3])) for n in _quant_nodes(wrapped, "weight_quant.node").values()} == {5}
    from dse.workloads import get_workload

    val = get_workload("digits").val
    xs, ys = val.x[:60], val.y[:60]
    if val.prepare is not None:
        xs = val.prepare(xs, None)
    pred = [int(execute_onnx(wrapped, {"global_in": xs[i:i + 1].numpy()})["global_out"].argmax()) for i in range(60)]
    onnx_acc = float(np.mean(np.array(pred) == ys.numpy()))
    assert abs(onnx_acc - acc) < 0.1 and onnx_acc > 0.5  # the fine-tuned weights, not random ones
    r = _dse("finetune", "digits", "--scheme", "fixed:4", "--epochs", "0", "--qonnx", "nodir/ft.onnx", cwd=d, env=env)
    assert r.returncode == 2 and r.stderr.strip() == ("dse: error: --qonnx: folder 'nodir' does not exist; create it "
                                                      "or pick another path")


def test_missing_onnx_is_one_line_naming_the_extra(monkeypatch, tmp_path):
    import sys

    from dse.qonnx_export import check_target

    monkeypatch.setitem(sys.modules, "onnx", None)  # as if the qonnx extra were not installed
    with pytest.raises(ExportError, match=r"--qonnx: QONNX export needs the 'onnx' package: "
                                          r"pip install 'termfront-dse\[qonnx\]'"):
        check_target(tmp_path / "x.onnx")
