"""The one training loop and its hooks; a fine-tuned trial builds its model once; the fidelity
registry (issue 17)."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import pytest
import torch
from torch import nn

from dse.errors import UserError
from dse.training import (FinetuneBudget, Hooks, cross_entropy_loss, finetune, forget_pretrained, pretrain,
                          seeded, train_loop, uniform_plan)
from dse.workloads import TensorData, get_workload

CPU = torch.device("cpu")


def toy(seed: int = 0, n: int = 96):
    """A linearly separable 3-class problem and a small MLP (dropout: it draws from the global RNG)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    with seeded(seed):
        model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3))
    return model, TensorData(x[:64], y[:64]), TensorData(x[64:], y[64:])


def weights(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def train(model, tr, va, budget, hooks=None, abort=None):
    with seeded(0):
        return train_loop(model, tr, va, budget, 16, 0, CPU, abort, hooks=hooks)


def test_default_hooks_are_cross_entropy_and_accuracy_bit_for_bit():
    budget = FinetuneBudget(epochs=2, lr=0.05)
    a, tr, va = toy()
    b, _, _ = toy()
    ra = train(a, tr, va, budget)
    rb = train(b, tr, va, budget, Hooks(loss=cross_entropy_loss, validate=lambda m: 0.5))
    assert ra.steps == rb.steps == 8 and ra.epochs_run == 2
    assert all(torch.equal(p, q) for p, q in zip(weights(a), weights(b)))
    assert rb.history == [0.5, 0.5]  # the validate hook fills the history
    assert 0.0 < ra.history[-1] <= 1.0


def test_hooks_are_called_in_order_with_step_and_epoch_numbers():
    model, tr, va = toy()
    seen = []

    def loss(m, x, y, step):
        seen.append(("loss", step))
        return cross_entropy_loss(m, x, y, step)

    hooks = Hooks(loss=loss, after_step=lambda s, l: seen.append(("step", s)),
                  after_epoch=lambda e, acc: seen.append(("epoch", e)))
    run = train(model, tr, va, FinetuneBudget(epochs=2, lr=0.01), hooks)
    expect = []
    for e in (1, 2):
        for s in range(4 * (e - 1), 4 * e):
            expect += [("loss", s), ("step", s + 1)]
        expect.append(("epoch", e))
    assert seen == expect and run.steps == 8


def test_custom_optimizers_follow_the_cosine_schedule_from_their_own_rates():
    model, tr, va = toy()
    first, last = list(model.parameters())[:2], list(model.parameters())[2:]
    opt_a = torch.optim.SGD(first, lr=0.2)
    opt_b = torch.optim.SGD(last, lr=0.02)
    rates = []
    hooks = Hooks(optimizers=(opt_a, opt_b),
                  after_step=lambda s, l: rates.append((opt_a.param_groups[0]["lr"], opt_b.param_groups[0]["lr"])))
    train(model, tr, va, FinetuneBudget(epochs=1, lr=1.0), hooks)
    total = 4
    for step, (ra, rb) in enumerate(rates):
        scale = 0.5 * (1.0 + math.cos(math.pi * step / total))
        assert ra == 0.2 * scale and rb == 0.02 * scale  # budget.lr (1.0) is not used


def test_divergence_stops_before_stepping_with_the_hint():
    model, tr, va = toy()
    before = weights(model)

    def loss(m, x, y, step):
        out = cross_entropy_loss(m, x, y, step)
        return out * float("nan") if step == 2 else out * 0.0

    run = train(model, tr, va, FinetuneBudget(epochs=3, lr=0.1), Hooks(loss=loss, diverged_hint="lower x.lr"))
    assert run.diverged and run.aborted and run.steps == 2 and math.isnan(run.diverged_loss)
    assert run.reason == "diverged: loss became nan at step 3 (epoch 1); lower x.lr"
    assert run.history == []
    assert all(torch.equal(p, q) for p, q in zip(before, weights(model)))  # a zero loss moves nothing


def test_abort_hook_stops_after_the_epoch_that_asked():
    model, tr, va = toy()
    run = train(model, tr, va, FinetuneBudget(epochs=5, lr=0.01), abort=lambda e, acc: "enough" if e == 2 else None)
    assert run.aborted and not run.diverged and run.reason == "enough" and run.epochs_run == 2 and run.steps == 8


# --- a fine-tuned trial builds its model once ------------------------------------------------

@pytest.fixture()
def counted(tmp_path, monkeypatch):
    """digits with a counting model factory, and counted torch.load calls."""
    base = get_workload("digits")
    count = {"builds": 0, "loads": 0}

    def factory(f=base.model_factory):
        count["builds"] += 1
        return f()

    real_load = torch.load

    def load(*a, **k):
        count["loads"] += 1
        return real_load(*a, **k)

    monkeypatch.setattr(torch, "load", load)
    forget_pretrained()
    yield dataclasses.replace(base, model_factory=factory), count, str(tmp_path)
    forget_pretrained()


def test_a_trial_after_the_first_builds_once_and_reads_no_weights(counted):
    bundle, count, cache = counted
    plan = uniform_plan(bundle.spec.layer_names, "fixed:4,a_bits=4")
    budget = FinetuneBudget(steps=2)
    first = finetune(bundle, plan, budget, cache_dir=cache, pretrain_epochs=1)
    assert count["loads"] == 0  # trained here, kept in memory
    count.update(builds=0, loads=0)
    again = finetune(bundle, plan, budget, cache_dir=cache, pretrain_epochs=1)
    assert count == {"builds": 1, "loads": 0}
    forget_pretrained()  # a new worker process: the file is read once (and checked on a built model)
    count.update(builds=0, loads=0)
    fresh = finetune(bundle, plan, budget, cache_dir=cache, pretrain_epochs=1)
    assert count == {"builds": 2, "loads": 1}
    assert first.accuracy == again.accuracy == fresh.accuracy and first.history == again.history == fresh.history


def test_memory_notices_a_damaged_weights_file(counted):
    bundle, count, cache = counted
    pre = pretrain(bundle, 0, 1, cache_dir=cache)
    assert pretrain(bundle, 0, 1, cache_dir=cache).from_cache
    with open(pre.path, "wb") as f:
        f.write(b"not a checkpoint")
    again = pretrain(bundle, 0, 1, cache_dir=cache)
    assert not again.from_cache and again.note.startswith("damaged cache file")
    assert again.float_accuracy == pre.float_accuracy


# --- fidelity registry -------------------------------------------------------------------------

def test_config_fidelities_are_the_registered_ones():
    from dse.config import FIDELITIES
    from dse.study.fidelity import fidelity_names

    assert FIDELITIES == fidelity_names() + ("none",)


def test_a_fidelity_registered_by_a_test_scores_the_study(monkeypatch):
    from dse.config import DEMO, parse_config
    from dse.study import fidelity, make_finetune_fn

    calls = []

    def factory(resolved):
        calls.append(resolved.cfg.fidelity)
        return lambda point, abort: ("scored", point)

    monkeypatch.setattr(fidelity, "_REGISTRY", dict(fidelity._REGISTRY))
    fidelity.register_fidelity("mine", factory)
    with pytest.raises(ValueError, match="registered already"):
        fidelity.register_fidelity("mine", factory)
    with pytest.raises(ValueError, match="'none'"):
        fidelity.register_fidelity("none", factory)
    cfg = dataclasses.replace(parse_config(DEMO), fidelity="mine")  # built in code: the TOML knows the built-ins

    class R:
        pass

    resolved = R()
    resolved.cfg = cfg
    assert make_finetune_fn(resolved)("p", None) == ("scored", "p") and calls == ["mine"]
    resolved.cfg = dataclasses.replace(cfg, fidelity="nope")
    with pytest.raises(UserError, match=r"^study.fidelity: unknown value 'nope'; allowed: finetune, multires, mine, none$"):
        make_finetune_fn(resolved)
    resolved.cfg = dataclasses.replace(cfg, fidelity="none")
    assert make_finetune_fn(resolved) is None


@pytest.mark.slow
def test_the_study_imports_no_method_until_multires_is_asked_for():
    code = ("import sys, dse.study, dse.study.fidelity as f; "
            "assert not [m for m in sys.modules if m.startswith('dse.methods')], 'study imported a method'; "
            "factory = f.get_fidelity('multires'); "
            "assert factory.__module__ == 'dse.methods.multires.score', factory.__module__")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
