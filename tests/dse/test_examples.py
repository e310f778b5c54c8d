"""The shipped examples spend their budget on designs that fit, and the default demo shows a
trade-off.

Every config in examples/ is resolved as ``dse search`` resolves it and its space is
sampled by the pre-flight (its own seed, 256 random designs, real hardware models): at
least half must satisfy the device fit and the hardware caps. The study's sampler learns
from the constraint values, so a real run does at least as well as this random estimate.
The default demo is run end to end (real fine-tunes) and its front must hold several
designs."""

import tomllib
from pathlib import Path

import optuna
import pytest

from dse import preflight
from dse.config import parse_config
from dse.storage import open_storage
from dse.study import pareto_trials, resolve

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.toml"))
SLOW = {"resnet18_xc7z045.toml"}  # tracing ResNet-18 takes seconds


def test_every_example_is_listed():
    assert {p.name for p in EXAMPLES} >= {"digits.toml", "mnist1d.toml", "msq_rowwise.toml",
                                          "resnet18_xc7z045.toml", "term_budget.toml", "term_multires.toml"}


@pytest.mark.parametrize("path", [pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.name in SLOW else [])
                                  for p in EXAMPLES])
def test_example_mostly_feasible(path):
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    resolved = resolve(parse_config(raw, source=str(path)))
    preflight.check_space(resolved, raw)
    pf = preflight.estimate(resolved)
    assert pf.failed == 0, pf.examples.get("error")
    assert pf.share >= 0.5, f"{path.name}: {pf.summary()}; binding {pf.binding}; hints {[str(h) for h in pf.hints]}"


@pytest.mark.slow
def test_default_demo_front_has_a_trade_off(tmp_path, monkeypatch, capsys):
    """`dse search` with no config, as a new user runs it: at least three Pareto designs
    that trade accuracy against latency."""
    from dse.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DSE_CACHE_DIR", str(tmp_path / "cache"))
    url = str(tmp_path / "demo.journal")
    assert main(["search", "--storage", url, "--no-report", "--quiet"]) == 0
    study = optuna.load_study(study_name="digits-demo", storage=open_storage(url).storage)
    front = pareto_trials(study)
    assert len(front) >= 3, capsys.readouterr().out
    # a real trade-off, not ties: each faster design is less accurate
    by_latency = sorted(front, key=lambda t: t.values[1])
    accs = [t.values[0] for t in by_latency]
    assert accs == sorted(accs) and len(set(accs)) == len(accs)
    assert len({t.values[1] for t in front}) == len(front)
    assert study.metric_names == ["accuracy", "latency_s"]
