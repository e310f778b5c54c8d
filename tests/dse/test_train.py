"""Pre-training cache and quantization-aware fine-tuning (dse.train)."""

from __future__ import annotations

import math
import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from dse.errors import UserError
from dse.quant import PlanError
from dse.train import (FinetuneBudget, FinetuneResult, cache_path, cache_root, evaluate_accuracy, finetune,
                       plan_schemes, pretrain, pretrained_model, uniform_plan)
from dse.workloads import TensorData, WorkloadBundle, get_workload
from hwmodels import DesignPoint, QuantScheme

PRE = 1  # pre-training epochs in the fast tests


@pytest.fixture(scope="module")
def digits():
    return get_workload("digits")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("dse-cache"))


def fixed(bits: int) -> QuantScheme:
    return QuantScheme(kind="fixed", w_bits=bits, a_bits=bits)


def run(digits, cache, plan, budget=FinetuneBudget(steps=4), **kw):
    return finetune(digits, plan, budget, cache_dir=cache, pretrain_epochs=PRE, **kw)


# --- budget and result objects ----------------------------------------------------------------

def test_budget_validation_names_the_field():
    for bad, field in ((dict(optimizer="rmsprop"), "optimizer"), (dict(epochs=-1), "epochs"),
                       (dict(lr=0.0), "lr"), (dict(steps=0), "steps"), (dict(batch_size=0), "batch_size"),
                       (dict(schedule="step"), "schedule"), (dict(weight_decay=float("nan")), "weight_decay")):
        with pytest.raises(ValueError, match=f"^{field}:"):
            FinetuneBudget(**bad)
    with pytest.raises(Exception):
        FinetuneBudget().lr = 1.0  # frozen


def test_result_to_dict_turns_nan_into_none():
    r = FinetuneResult(float("nan"), 0.9, 1, 3, 0.1, True, "diverged: x", (0.5,), True)
    d = r.to_dict()
    assert d["accuracy"] is None and d["float_accuracy"] == 0.9 and d["history"] == [0.5]


# --- evaluation -------------------------------------------------------------------------------

def test_evaluate_accuracy_counts_and_restores_mode():
    y = torch.arange(10) % 4
    x = nn.functional.one_hot(y, 4).float()
    model = nn.Sequential(nn.Identity())
    model.train()
    assert evaluate_accuracy(model, TensorData(x, y), batch_size=3) == 1.0
    assert model.training
    wrong = y.clone()
    wrong[:5] = (wrong[:5] + 1) % 4
    assert evaluate_accuracy(model, TensorData(x, wrong)) == 0.5
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, wrong), batch_size=4)
    assert evaluate_accuracy(model, loader) == 0.5


# --- pre-training cache -----------------------------------------------------------------------

def test_cache_root_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("DSE_CACHE_DIR", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "opt") == tmp_path / "opt"
    monkeypatch.delenv("DSE_CACHE_DIR")
    assert cache_root() == cache_root(os.path.expanduser("~/.cache/dse"))


def test_pretrain_cached_then_reused(digits, tmp_path):
    first = pretrain(digits, seed=0, epochs=PRE, cache_dir=tmp_path)
    assert not first.from_cache and 0.5 < first.float_accuracy <= 1.0
    assert first.path == str(cache_path(digits, 0, PRE, tmp_path)) and os.path.exists(first.path)
    assert [p.name for p in (tmp_path / "pretrained").iterdir()] == [os.path.basename(first.path)]  # no temp left
    second = pretrain(digits, seed=0, epochs=PRE, cache_dir=tmp_path)
    assert second.from_cache and second.float_accuracy == first.float_accuracy
    for k, v in first.state_dict.items():
        assert torch.equal(v, second.state_dict[k])
    # the key covers seed and epochs
    assert cache_path(digits, 1, PRE, tmp_path) != cache_path(digits, 0, PRE, tmp_path)
    assert cache_path(digits, 0, PRE + 1, tmp_path) != cache_path(digits, 0, PRE, tmp_path)
    model = pretrained_model(digits, 0, PRE, cache_dir=tmp_path)
    assert evaluate_accuracy(model, digits.val) == pytest.approx(first.float_accuracy)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign"])
def test_damaged_cache_is_rebuilt(digits, tmp_path, damage):
    first = pretrain(digits, seed=0, epochs=PRE, cache_dir=tmp_path)
    path = first.path
    if damage == "truncate":
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])
    elif damage == "garbage":
        open(path, "wb").write(b"\x00not a checkpoint")
    else:
        torch.save({"format": "dse-pretrained-v1", "key": {"other": 1}, "state_dict": {}, "float_accuracy": 0.5},
                   path)
    again = pretrain(digits, seed=0, epochs=PRE, cache_dir=tmp_path)
    assert not again.from_cache and "damaged" in again.note
    assert again.float_accuracy == first.float_accuracy  # same seed: the same model again
    assert pretrain(digits, seed=0, epochs=PRE, cache_dir=tmp_path).from_cache


def test_shape_only_workload_cannot_train(tmp_path):
    with pytest.raises(UserError, match="shape-only"):
        pretrain("resnet18", cache_dir=tmp_path)
    with pytest.raises(UserError, match="shape-only"):
        finetune("resnet18", {}, cache_dir=tmp_path)


# --- fine-tuning ------------------------------------------------------------------------------

def test_finetune_same_seed_is_identical(digits, cache):
    plan = uniform_plan(digits, fixed(4))
    budget = FinetuneBudget(epochs=2, steps=None, batch_size=128)
    a = run(digits, cache, plan, budget, seed=3)
    b = run(digits, cache, plan, budget, seed=3)
    assert a.accuracy == b.accuracy and a.history == b.history and a.steps == b.steps == 2 * 12
    assert 0.0 <= a.accuracy <= 1.0 and a.epochs_run == 2 and len(a.history) == 2
    assert not a.aborted and a.reason == "" and a.time_s > 0 and a.device == "cpu"


def test_finetune_restores_global_rng(digits, cache):
    torch.manual_seed(11)
    np.random.seed(11)
    random.seed(11)
    expected = (torch.rand(2), np.random.rand(), random.random())
    torch.manual_seed(11)
    np.random.seed(11)
    random.seed(11)
    run(digits, cache, uniform_plan(digits, fixed(8)))
    assert torch.equal(torch.rand(2), expected[0])
    assert np.random.rand() == expected[1] and random.random() == expected[2]
    assert not torch.are_deterministic_algorithms_enabled()


def test_abort_hook_stops_after_the_epoch(digits, cache):
    calls = []

    def abort(epoch, acc):
        calls.append((epoch, acc))
        return "hopeless: test" if epoch == 1 else None

    r = run(digits, cache, uniform_plan(digits, fixed(4)), FinetuneBudget(epochs=3, batch_size=256), abort=abort)
    assert r.aborted and r.reason == "hopeless: test" and not r.diverged
    assert r.epochs_run == 1 and len(r.history) == 1 and calls == [(1, r.history[0])]
    assert r.accuracy == r.history[0]
    assert r.steps == math.ceil(1438 / 256)


def test_abort_hook_none_runs_to_the_end(digits, cache):
    seen = []
    r = run(digits, cache, {}, FinetuneBudget(epochs=2, batch_size=512),
            abort=lambda e, a: seen.append(e))
    assert seen == [1, 2] and not r.aborted and r.epochs_run == 2


def test_diverging_run_stops_with_reason(digits, cache):
    r = run(digits, cache, {}, FinetuneBudget(epochs=3, lr=1e12, optimizer="sgd", schedule="constant"))
    assert r.diverged and r.aborted and r.reason.startswith("diverged:")
    assert "learning rate" in r.reason and math.isnan(r.accuracy)
    assert r.epochs_run == 1 and r.steps < 23


def test_steps_budget_and_post_training_quantization(digits, cache):
    r = run(digits, cache, uniform_plan(digits, fixed(8)), FinetuneBudget(steps=5))
    assert r.steps == 5 and r.epochs_run == 1 and len(r.history) == 1
    r = run(digits, cache, uniform_plan(digits, fixed(8)), FinetuneBudget(epochs=0))
    assert r.steps == 0 and r.epochs_run == 0 and len(r.history) == 1
    # 8-bit PTQ of the FP32 model keeps its accuracy within a couple of points
    assert r.accuracy >= r.float_accuracy - 0.03


def test_low_bits_cost_accuracy_without_training(digits, cache):
    ptq = FinetuneBudget(epochs=0)
    a8 = run(digits, cache, uniform_plan(digits, fixed(8)), ptq).accuracy
    a2 = run(digits, cache, uniform_plan(digits, fixed(2)), ptq).accuracy
    assert a2 < a8 - 0.05


def test_plan_forms_and_errors_before_training(digits, tmp_path):
    scheme = fixed(6)
    as_point = DesignPoint.make({"conv1": scheme})
    as_dict = {"layers": {"conv1": scheme.to_dict()}, "hardware": {"rows": 8}}
    as_map = {"conv1": scheme.to_dict()}
    assert plan_schemes(as_point) == plan_schemes(as_dict) == plan_schemes(as_map) == {"conv1": scheme}
    assert plan_schemes(None) == {}
    with pytest.raises(PlanError, match="conv9"):
        finetune(digits, {"conv9": scheme.to_dict()}, cache_dir=tmp_path)
    with pytest.raises(PlanError, match="w_bits"):
        finetune(digits, {"layers": {"conv1": {"kind": "fixed", "w_bits": 99}}}, cache_dir=tmp_path)
    assert not (tmp_path / "pretrained").exists()  # rejected before any pre-training
    assert set(uniform_plan(digits, "fixed:4").scheme_map) == {"conv1", "conv2", "conv3", "fc"}


def test_every_scheme_kind_finetunes(digits, cache):
    for spec in ("pow2:4", "sp2:4", "term:6,term_budget=4,group_size=4", "msq:4", "fixed:3"):
        r = run(digits, cache, uniform_plan(digits, spec), FinetuneBudget(steps=2))
        assert 0.0 <= r.accuracy <= 1.0 and not r.aborted, spec


def test_cuda_asked_without_gpu_is_a_user_error(digits, cache):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(UserError, match="cuda"):
        run(digits, cache, {}, device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_finetune_on_cuda(digits, cache):
    r = run(digits, cache, uniform_plan(digits, fixed(4)), FinetuneBudget(steps=3), device="cuda")
    assert r.device.startswith("cuda") and 0.0 <= r.accuracy <= 1.0 and r.steps == 3
    auto = run(digits, cache, {}, FinetuneBudget(steps=2), device="auto")
    assert auto.device.startswith("cuda")


def test_progress_is_silent_when_not_a_tty(digits, cache, capsys):
    run(digits, cache, {}, FinetuneBudget(steps=2), progress=True)
    assert capsys.readouterr().err == ""


def test_user_dataloader_workload_is_deterministic(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 6, generator=g)
    y = (x[:, 0] > 0).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16, shuffle=True)
    bundle = WorkloadBundle("user-mlp", lambda: nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2)),
                            torch.zeros(1, 6), data_factory=lambda: (loader, loader), pretrain_epochs=2)
    plan = uniform_plan(bundle, fixed(4))
    a = finetune(bundle, plan, FinetuneBudget(epochs=2), seed=1, cache_dir=tmp_path)
    b = finetune(bundle, plan, FinetuneBudget(epochs=2), seed=1, cache_dir=tmp_path)
    assert a.history == b.history and a.steps == 12


@pytest.mark.slow
def test_digits_fp32_accuracy_and_quantized_finetune(tmp_path):
    digits = get_workload("digits")
    pre = pretrain(digits, cache_dir=tmp_path)
    assert pre.float_accuracy >= 0.97
    r = finetune(digits, uniform_plan(digits, fixed(4)), FinetuneBudget(epochs=2), cache_dir=tmp_path)
    assert r.accuracy >= 0.95


@pytest.mark.slow
def test_mnist1d_low_bits_visibly_cost_accuracy(tmp_path):
    b = get_workload("mnist1d")
    pre = pretrain(b, cache_dir=tmp_path)
    assert pre.float_accuracy >= 0.85
    budget = FinetuneBudget(epochs=1)
    a8 = finetune(b, uniform_plan(b, fixed(8)), budget, cache_dir=tmp_path).accuracy
    a2 = finetune(b, uniform_plan(b, fixed(2)), budget, cache_dir=tmp_path).accuracy
    assert a8 >= pre.float_accuracy - 0.03
    assert a2 < a8 - 0.10
