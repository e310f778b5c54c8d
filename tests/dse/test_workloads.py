"""Workload registry, built-in workloads, user workloads and the ``dse workload`` command."""

from __future__ import annotations

import json
import pickle
import random
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from dse.cli import main
from dse.errors import UserError
from dse.workloads import (BUILTINS, DEFAULT_WORKLOAD, TensorData, WorkloadBundle, get_workload,
                           get_workload_spec, list_workloads, registry)
from hwmodels import LayerSpec, Workload

DOCS = Path(__file__).resolve().parents[2] / "docs" / "workloads.md"


# --- registry ---------------------------------------------------------------------------------

def test_builtins_listed_and_default_is_digits():
    names = list_workloads()
    for n in ("digits", "mnist1d", "cifar10", "resnet18", "resnet50", "mobilenetv2"):
        assert n in names
    assert DEFAULT_WORKLOAD == "digits" and get_workload().name == "digits"


def test_builtins_are_registered_as_entry_points():
    # pyproject.toml lists every built-in under the entry-point group, with the same target
    eps = {name: target for name, target, _ in registry._entry_points()}
    for name, target in BUILTINS.items():
        assert eps.get(name) == target


def test_unknown_name_and_option_are_user_errors():
    with pytest.raises(UserError, match="unknown workload 'nope'.*digits"):
        get_workload("nope")
    with pytest.raises(UserError, match="does not take option.*colour.*split_seed"):
        get_workload("digits", colour="red")
    with pytest.raises(UserError, match="cannot import module"):
        get_workload("no_such_module_xyz:fn")
    with pytest.raises(UserError, match="has no attribute"):
        get_workload("dse.workloads.digits:nothing_here")


def test_plugin_entry_point_and_collision(monkeypatch):
    monkeypatch.setattr(registry, "_entry_points",
                        lambda: [("digits", BUILTINS["digits"], "termfront-dse"),
                                 ("tiny", "dse.workloads.shapes:resnet18", "someplugin")])
    assert "tiny" in list_workloads()
    assert registry.workload_entries()["tiny"].origin == "plug-in (someplugin)"
    assert get_workload("tiny").spec.macs == get_workload_spec("resnet18").macs
    monkeypatch.setattr(registry, "_entry_points", lambda: [("digits", "other.pkg:digits", "otherpkg")])
    with pytest.raises(UserError, match="registered twice"):
        list_workloads()


# --- built-ins --------------------------------------------------------------------------------

def test_digits_bundle_data_and_fixed_split():
    b = get_workload("digits")
    assert b.num_classes == 10 and b.has_data and b.has_model
    assert isinstance(b.train, TensorData) and (len(b.train), len(b.val)) == (1438, 359)
    assert tuple(b.train.x.shape[1:]) == (1, 8, 8) and b.train.y.dtype == torch.long
    again = get_workload("digits")
    assert torch.equal(again.val.y, b.val.y) and torch.equal(again.val.x, b.val.x)
    other = get_workload("digits", split_seed=1)
    assert not torch.equal(other.val.y, b.val.y)
    # train and val are disjoint views of the 1797 images
    assert len(b.train) + len(b.val) == 1797


def test_build_model_is_fresh_and_deterministic_given_torch_seed():
    b = get_workload("digits")
    torch.manual_seed(5)
    m1 = b.build_model()
    torch.manual_seed(5)
    m2 = b.build_model()
    assert m1 is not m2
    for (k, v1), v2 in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(v1, v2), k
    torch.manual_seed(6)
    m3 = b.build_model()
    assert not torch.equal(m3.conv1.weight, m1.conv1.weight)


def test_mnist1d_generated_offline_without_touching_global_rng(monkeypatch):
    import mnist1d.data

    def no_download(*a, **k):
        raise AssertionError("the download path must never be used")

    monkeypatch.setattr(mnist1d.data, "get_dataset", no_download)
    np.random.seed(123)
    random.seed(123)
    np_expected, py_expected = np.random.rand(), random.random()
    np.random.seed(123)
    random.seed(123)
    b = get_workload("mnist1d", num_samples=400)
    train, val = b.train, b.val
    assert np.random.rand() == np_expected and random.random() == py_expected
    assert tuple(train.x.shape) == (320, 1, 40) and tuple(val.x.shape) == (80, 1, 40)
    assert set(train.y.tolist()) <= set(range(10)) and len(set(train.y.tolist())) == 10
    again = get_workload("mnist1d", num_samples=400)
    assert torch.equal(again.train.x, train.x)


def test_shape_only_workloads_have_no_data():
    b = get_workload("resnet18")
    assert not b.has_data and b.train is None and b.val is None and b.num_classes == 1000
    assert tuple(b.example_input.shape) == (1, 3, 224, 224)
    small = get_workload_spec("resnet18", image_size=112)
    assert small.layer("conv1").M == 56 * 56


def _fake_cifar(folder: Path, n: int = 6) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, n))}
        with open(folder / name, "wb") as f:
            pickle.dump(d, f)


def test_cifar10_reads_local_batches_and_augments_deterministically(tmp_path):
    _fake_cifar(tmp_path / "cifar-10-batches-py")
    b = get_workload("cifar10", data_dir=str(tmp_path))  # the parent folder is accepted too
    assert (len(b.train), len(b.val)) == (30, 6)
    assert b.train.x.dtype == torch.uint8
    x_eval, _ = next(b.val.batches(6))
    assert x_eval.dtype == torch.float32 and tuple(x_eval.shape) == (6, 3, 32, 32)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    a1, _ = next(b.train.batches(8, g1))
    a2, _ = next(b.train.batches(8, g2))
    assert torch.equal(a1, a2) and tuple(a1.shape) == (8, 3, 32, 32)
    assert dict(b.options)["data_dir"] == str(tmp_path)


def test_cifar10_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match=r"data_batch_1\.\.5.*test_batch"):
        get_workload("cifar10", data_dir=str(tmp_path / "absent"))
    (tmp_path / "partial").mkdir()
    with pytest.raises(UserError, match="lacks data_batch_1"):
        get_workload("cifar10", data_dir=str(tmp_path / "partial"))
    b = get_workload("cifar10")  # no data_dir: the hardware view still works
    assert len(b.spec.layers) == 20 and abs(b.spec.macs - 40.55e6) / 40.55e6 < 0.01
    with pytest.raises(UserError, match="data_dir"):
        b.train


# --- user workloads ---------------------------------------------------------------------------

def _docs_example() -> str:
    text = DOCS.read_text()
    m = re.search(r"<!-- example: my_workloads\.py.*?-->\n```python\n(.*?)```", text, re.S)
    assert m, "docs/workloads.md lost its example block"
    return m.group(1)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """The docs example, importable as ``my_workloads``."""
    (tmp_path / "my_workloads.py").write_text(_docs_example())
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_workloads"


def test_docs_example_workloads(user_module):
    b = get_workload(f"{user_module}:channels", width=4)
    assert b.name == "my_workloads:channels" and b.has_data and b.num_classes == 2
    assert b.description.startswith("Which of two noisy channels")
    assert tuple(b.example_input.shape) == (1, 2, 16)
    spec = b.spec
    assert spec.layer_names == ("conv", "fc")
    assert (spec.layer("conv").M, spec.layer("conv").K, spec.layer("conv").N) == (16, 6, 4)
    assert (spec.layer("fc").K, spec.layer("fc").N) == (64, 2)
    hw = get_workload(f"{user_module}:tiny_shapes")
    assert not hw.has_data and hw.spec.layer("conv").N == 8
    with pytest.raises(UserError, match="does not take option"):
        get_workload(f"{user_module}:tiny_shapes", width=3)


def test_user_return_forms(tmp_path, monkeypatch):
    (tmp_path / "forms_mod.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn
        from hwmodels import LayerSpec

        def layers_only():
            return [LayerSpec.gemm("qkv", 128, 64, 192), LayerSpec.gemm("out", 128, 64, 64)]

        def bare_model():
            m = nn.Sequential(nn.Linear(3, 4))
            m.example_input = torch.zeros(1, 3)
            return m

        def model_no_input():
            return nn.Sequential(nn.Linear(3, 4))

        def triple():
            x, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
            return nn.Sequential(nn.Linear(3, 2)), (x, y), (x, y)

        def bad_key():
            return {"model": nn.Linear(2, 2), "colour": 1}

        def nonsense():
            return 42
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    lo = get_workload("forms_mod:layers_only")
    assert not lo.has_model and lo.spec.macs == 128 * 64 * 192 + 128 * 64 * 64
    assert get_workload_spec("forms_mod:layers_only").edges == (("qkv", "out"),)
    with pytest.raises(UserError, match="layers only"):
        lo.build_model()
    assert get_workload("forms_mod:bare_model").spec.layer("0").K == 3
    with pytest.raises(UserError, match="example_input"):
        get_workload("forms_mod:model_no_input")
    t = get_workload("forms_mod:triple")
    assert isinstance(t.train, TensorData) and tuple(t.example_input.shape) == (1, 3)
    with pytest.raises(UserError, match="unknown key.*colour"):
        get_workload("forms_mod:bad_key")
    with pytest.raises(UserError, match="returned int"):
        get_workload("forms_mod:nonsense")


def test_bundle_needs_model_or_layers():
    with pytest.raises(ValueError):
        WorkloadBundle("x", None)
    wl = Workload("x", (LayerSpec.gemm("g", 2, 3, 4),))
    assert WorkloadBundle("x", None, layers=wl).spec is wl


# --- dse workload list / show -----------------------------------------------------------------

def test_cli_workload_list(capsys):
    assert main(["workload", "list"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "resnet18" in out and "built-in" in out
    assert main(["workload", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} >= set(BUILTINS)


def test_cli_workload_show_table_and_json(capsys):
    assert main(["workload", "show", "resnet18"]) == 0
    out = capsys.readouterr().out
    assert "layer1.0.conv1" in out and "1.814 GMACs" in out
    header = next(line for line in out.splitlines() if line.startswith("layer"))
    assert header.split() == ["layer", "kind", "M", "K", "N", "groups", "MACs", "weights"]
    assert main(["workload", "show", "digits", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [l["name"] for l in data["layers"]] == ["conv1", "conv2", "conv3", "fc"]
    assert data["layers"][1]["M"] == 64 and data["layers"][1]["K"] == 144 and data["layers"][1]["macs"] == 294912
    assert data["total"]["macs"] == sum(l["macs"] for l in data["layers"])


def test_cli_workload_show_errors_are_one_line(capsys):
    assert main(["workload", "show", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown workload" in err
    assert main(["workload", "show", "cifar10", "-o", "data_dir=/definitely/absent"]) == 2
    assert "data_batch_1" in capsys.readouterr().err
    assert main(["workload", "show", "digits", "-o", "novalue"]) == 2


def test_cli_topology_csv_round_trips_through_scalesim_reader(tmp_path, capsys):
    from hwmodels.topology import read_topology

    out = tmp_path / "r18.csv"
    assert main(["workload", "show", "resnet18", "--topology-out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                        "Num Filter, Strides,")
    assert lines[1] == "conv1, 229, 229, 7, 7, 3, 64, 2,"  # padded extent SCALE-Sim's ceil maps to 112
    spec = get_workload_spec("resnet18")
    back = read_topology(out)  # SCALE-Sim's conventions: no padding, ceil output size
    assert [(l.name, l.M, l.K, l.N) for l in back.layers] == [(l.name, l.M, l.K, l.N) for l in spec.layers]
    mb = tmp_path / "mb.csv"
    assert main(["workload", "show", "mobilenetv2", "--topology-out", str(mb)]) == 0
    assert read_topology(mb).macs == get_workload_spec("mobilenetv2").macs  # depthwise: one DP row per layer
    assert len(mb.read_text().splitlines()) == 1 + 53
    assert main(["workload", "show", "digits", "--topology-out", str(tmp_path / "no" / "dir.csv")]) == 2
    assert "--topology-out" in capsys.readouterr().err


# --- PyTorch classes as they are ---------------------------------------------------------------

CLASSES = textwrap.dedent("""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self, width=8, num_classes=10):
            super().__init__()
            self.stem = nn.Conv2d(3, width, 3, padding=1)
            self.dw = nn.Conv2d(width, width, 3, padding=1, groups=width)
            self.grouped = nn.Conv2d(width, 2 * width, 1, groups=4)
            self.fc = nn.Linear(2 * width, num_classes)

        def forward(self, x):
            x = torch.relu(self.grouped(torch.relu(self.dw(torch.relu(self.stem(x))))))
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    class NeedsArgs(nn.Module):
        def __init__(self, channels, depth, bias=False):
            super().__init__()
            self.conv = nn.Conv2d(channels, channels, 3, bias=bias)

        def forward(self, x):
            return self.conv(x)

    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            if x.sum() > 0:
                return self.fc(x)
            return x
""")


@pytest.fixture
def class_module(tmp_path, monkeypatch):
    (tmp_path / "zoo_mod.py").write_text(CLASSES)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "zoo_mod"


def test_model_class_as_is_depthwise_and_grouped_are_one_row_each(class_module):
    b = get_workload(f"{class_module}:Net", input_shape=(3, 16, 16))
    assert not b.has_data and b.description.startswith("Net (zoo_mod), input (3, 16, 16)")
    spec = b.spec
    assert spec.layer_names == ("stem", "dw", "grouped", "fc")
    dw, g = spec.layer("dw"), spec.layer("grouped")
    # depthwise: one row, 8 groups of M x 9 x 1; grouped 1x1: 4 groups of M x 2 x 4
    assert (dw.groups, dw.M, dw.K, dw.N, dw.macs) == (8, 256, 9, 8, 256 * 9 * 8)
    assert (g.groups, g.K, g.N, g.n_per_group, g.macs) == (4, 2, 16, 4, 256 * 2 * 16)
    wider = get_workload(f"{class_module}:Net", input_shape=[3, 8, 8], width=16, num_classes=3).spec
    assert wider.layer("dw").groups == 16 and wider.layer("fc").N == 3 and wider.layer("stem").M == 64


def test_model_zoo_class_matches_the_builtin_network():
    """torchvision-layout MobileNetV2 named as a class: the same 53 rows (17 depthwise, one
    row each, not one per channel) as the built-in workload."""
    spec = get_workload("dse.workloads.shapes:MobileNetV2", input_shape="3,224,224").spec
    ref = get_workload_spec("mobilenetv2")
    rows = [(l.name, l.M, l.K, l.N, l.groups) for l in spec.layers]
    assert rows == [(l.name, l.M, l.K, l.N, l.groups) for l in ref.layers] and len(rows) == 53
    assert sum(l.groups > 1 for l in spec.layers) == 17 and spec.macs == 300_774_272


def test_model_class_errors_are_one_line(class_module, capsys):
    with pytest.raises(UserError, match=r"class NeedsArgs needs constructor argument\(s\) channels, depth; give "
                                        r"them as kwargs = \{channels = \.\.\., depth = \.\.\.\}"):
        get_workload(f"{class_module}:NeedsArgs", input_shape=(3, 8, 8))
    assert get_workload(f"{class_module}:NeedsArgs", input_shape=(3, 8, 8), channels=3, depth=1).spec.layer(
        "conv").M == 36
    with pytest.raises(UserError, match="class Net takes no argument"):
        get_workload(f"{class_module}:Net", input_shape=(3, 8, 8), depth=3)
    with pytest.raises(UserError, match=r"needs the shape of one input.*--input-shape C,H,W"):
        get_workload(f"{class_module}:Net")
    with pytest.raises(UserError, match="torch.fx cannot trace Branchy"):
        _ = get_workload(f"{class_module}:Branchy", input_shape=(4,)).spec
    with pytest.raises(UserError, match="only a model class"):
        get_workload("digits", input_shape=(1, 8, 8))
    assert main(["workload", "show", f"{class_module}:NeedsArgs", "--input-shape", "3,8,8"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "channels, depth" in err
    assert main(["workload", "show", f"{class_module}:Net", "--input-shape", "3,8,8", "-o", "width=4"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^dw\s+conv\s+64\s+9\s+4\s+4\s", out, re.M), out  # M K N groups


def test_model_class_in_a_config(class_module):
    from dse.config import parse_config

    cfg = parse_config({"study": {"objectives": ["latency_s", "lut"], "fidelity": "none"},
                        "workload": {"name": f"{class_module}:Net", "input_shape": [3, 12, 12],
                                     "kwargs": {"width": 4}}})
    assert dict(cfg.workload_options) == {"width": 4, "input_shape": [3, 12, 12]}
    spec = get_workload_spec(cfg.workload, **dict(cfg.workload_options))
    assert spec.layer("dw").groups == 4 and spec.layer("stem").M == 144
    with pytest.raises(UserError, match=r"workload.input_shape: expected a list of positive integers"):
        parse_config({"workload": {"name": f"{class_module}:Net", "input_shape": [3, 0]}})


SCALESIM = Path(__file__).parents[1] / "hwmodels" / "data" / "scalesim"


def test_scalesim_topology_file_is_a_workload(capsys):
    path = str(SCALESIM / "DeepBench_DenseMatrixMultiplication.csv")
    assert main(["workload", "show", path]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f"topology {path}: line 56: layer 'DeepSpeech_1' repeats line 10; renamed 'DeepSpeech_1_2'")
    assert sum(line.startswith("topology ") for line in out) == 6
    spec = get_workload_spec(path)
    assert len(spec.layers) == 84 and "DeepSpeech_6_2" in spec.layer_names
    bad = str(SCALESIM / "Sentimental_seqLSTM_short.csv")
    assert main(["workload", "show", bad]) == 2
    err = capsys.readouterr().err
    assert err == (f"dse: error: workload: {bad}:6: field 'sparsity' (column 9): expected a ratio N:M such as 1:1 "
                   "(or a '#' note), got '1'\n")
