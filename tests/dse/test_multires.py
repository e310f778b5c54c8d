"""Multi-resolution term training (dse/multires.py), its checkpoint, the CLI, and the
zero-fine-tune scoring of search candidates (fidelity = "multires")."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from optuna.trial import TrialState

from dse.cli import main
from dse.config import parse_config
from dse.errors import UserError
from dse.multires import (MultiresSpec, SwitchableBatchNorm, TermBudget, check_point, evaluate_resolutions,
                          load_checkpoint, nearest_resolution, train_multires)
from dse.quant.terms import _digits, term_quantize
from dse.storage import open_storage
from dse.study import open_study, resolve, run_worker
from dse.workloads import get_workload
from hwmodels.base import DesignPoint
from hwmodels.formats import QuantScheme

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY = "tiny_workload:workload"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache, and the test workloads importable in this process."""
    monkeypatch.setenv("DSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(FIXTURES))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def digits_ckpt(tmp_path_factory):
    """digits, 4 resolutions, 2 epochs (a few seconds), trained once for the module."""
    spec = MultiresSpec(budgets="2:8,2:16,3:16,3:24", epochs=2)
    return train_multires("digits", spec, seed=0, cache_dir=tmp_path_factory.mktemp("cache"))


# --- budgets and the spec -----------------------------------------------------------------

def test_spec_sorts_budgets_and_picks_the_largest_as_teacher():
    spec = MultiresSpec(budgets=["3:16", (2, 8), "2:16", TermBudget(3, 24)])
    assert [str(b) for b in spec.budgets] == ["2:8", "2:16", "3:16", "3:24"]
    assert spec.teacher == 3 and spec.students == (0, 1, 2)
    s = spec.scheme(1)
    assert (s.kind, s.term_budget, s.a_term_budget, s.group_size) == ("term", 16, 2, 16)
    assert MultiresSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("kw, message", [
    ({"budgets": "2:8"}, "budgets: need two or more"),
    ({"budgets": "2:8,2:8"}, "budgets: has duplicate entries"),
    ({"budgets": "2x8,3:9"}, "budget: cannot parse '2x8'"),
    ({"budgets": "2:8,9:9"}, "budgets: 9:9: a_term_budget: must be in [1, 8]"),
    ({"group_size": 0}, "group_size: must be an integer in [1, 4096]"),
    ({"distill_weight": 11}, "distill_weight: must be in [0, 10]"),
    ({"first_last": "fixed4"}, "first_last: must be one of term, fixed8"),
])
def test_spec_rejects_bad_settings(kw, message):
    with pytest.raises(ValueError) as e:
        MultiresSpec(**kw)
    assert str(e.value).startswith(message)


def test_nearest_resolution_exact_then_by_term_pairs():
    spec = MultiresSpec(budgets="2:8,2:16,3:16,4:48")
    term = lambda a, k: QuantScheme(kind="term", term_budget=k, group_size=16, a_term_budget=a)
    assert nearest_resolution(spec, term(3, 16)) == 2
    assert nearest_resolution(spec, term(4, 8)) == 1      # 32 pairs: exactly 2:16's
    assert nearest_resolution(spec, term(2, 4)) == 0      # below the smallest
    assert nearest_resolution(spec, term(4, 64)) == 3     # above the teacher
    full = QuantScheme(kind="term", term_budget=48, group_size=16)  # every activation term (7)
    assert nearest_resolution(spec, full) == 3


# --- the trained model ----------------------------------------------------------------------

def _digit_sets(q: torch.Tensor, encoding: str) -> torch.Tensor:
    """Signed digits of integer tensor q: (..., positions)."""
    return _digits(q.abs().long(), 10, encoding) * torch.sign(q).long().unsqueeze(-1)


@pytest.mark.parametrize("encoding", ["binary", "csd"])
def test_kept_terms_nest_across_budgets_on_trained_weights(cache, encoding):
    spec = MultiresSpec(budgets="2:4,2:8,2:12,3:16,3:24", encoding=encoding, epochs=2)
    ckpt = train_multires(TINY, spec, seed=0)
    model = ckpt.model(TINY)
    assert model.term_layers == ("0", "2", "4")
    strictly_fewer = 0
    for name in model.term_layers:
        per_budget = []
        for i, b in enumerate(spec.budgets):
            model.set_resolution(i)
            layer = model.layers()[name]
            q = layer.weight_quant.integer_weights(layer.weight)
            # the forward really uses the group budget: same as quantizing the full grid here
            grid = torch.round(torch.clamp(layer.weight / layer.weight_quant.alpha.abs()[:, None], -1, 1) * 127)
            assert torch.equal(q, term_quantize(grid, b.weight_terms, 16, encoding, dim=-1))
            per_budget.append(_digit_sets(q, encoding))
        for small, large in zip(per_budget, per_budget[1:]):
            kept = small != 0
            assert torch.equal(small[kept], large[kept]), "a term kept at budget k must be kept at k + 1"
            strictly_fewer += int((large != 0).sum() > kept.sum())
    assert strictly_fewer >= 6  # the budgets really bite (the test could not pass vacuously)


def test_batchnorm_is_separate_per_resolution(digits_ckpt):
    model = digits_ckpt.model("digits")
    bns = model.batchnorms()
    assert set(bns) == {"bn1", "bn2", "bn3"} and all(isinstance(b, SwitchableBatchNorm) for b in bns.values())
    assert model.bn_feeds == {"bn1": "conv1", "bn2": "conv2", "bn3": "conv3"}
    bn = bns["bn2"]
    # trained separately: statistics and affine parameters differ between resolutions
    assert not torch.allclose(bn.bns[0].running_mean, bn.bns[3].running_mean)
    assert not torch.allclose(bn.bns[0].weight, bn.bns[3].weight)
    assert all(int(b.num_batches_tracked) > 0 for b in bn.bns)
    # a forward at resolution i uses (and in training updates) BatchNorm i only
    x = next(iter(get_workload("digits").val.batches(32)))[0]
    model.eval()
    model.set_resolution(3)
    before3 = model(x)
    model.set_resolution(0)
    before0 = model(x)
    with torch.no_grad():
        bn.bns[0].weight.mul_(3.0)
    assert not torch.allclose(model(x), before0)
    model.set_resolution(3)
    assert torch.equal(model(x), before3)
    counts = [int(b.num_batches_tracked) for b in bn.bns]
    model.train()
    model.set_resolution(1)
    model(x)
    assert [int(b.num_batches_tracked) for b in bn.bns] == [c + (i == 1) for i, c in enumerate(counts)]


def test_checkpoint_round_trip_gives_identical_accuracies(digits_ckpt, tmp_path):
    loaded = load_checkpoint(digits_ckpt.path, "digits")
    assert loaded.spec == digits_ckpt.spec and loaded.accuracies == digits_ckpt.accuracies
    again = evaluate_resolutions(loaded.model("digits"), get_workload("digits").val)
    assert tuple(again) == digits_ckpt.accuracies
    assert len(set(again)) > 1 or again[0] < 1.0  # not a degenerate model
    cached = train_multires("digits", digits_ckpt.spec, seed=0, cache_dir=Path(digits_ckpt.path).parents[1])
    assert cached.from_cache and cached.path == digits_ckpt.path and cached.accuracies == digits_ckpt.accuracies


def test_damaged_checkpoint_is_rebuilt_identically(cache):
    spec = MultiresSpec(budgets="2:8,3:16", epochs=1)
    first = train_multires(TINY, spec, seed=3)
    path = Path(first.path)
    path.write_bytes(path.read_bytes()[:200])
    rebuilt = train_multires(TINY, spec, seed=3)
    assert not rebuilt.from_cache and "damaged checkpoint" in rebuilt.note
    assert rebuilt.accuracies == first.accuracies  # deterministic on CPU
    assert train_multires(TINY, spec, seed=3).from_cache


def test_explicit_checkpoint_with_other_settings_is_refused(cache, tmp_path):
    target = tmp_path / "m.pt"
    train_multires(TINY, MultiresSpec(budgets="2:8,3:16", epochs=1), path=target)
    with pytest.raises(UserError, match="was trained with other settings .*spec"):
        train_multires(TINY, MultiresSpec(budgets="2:8,3:24", epochs=1), path=target)
    with pytest.raises(UserError, match="cannot be used for workload 'digits'"):
        load_checkpoint(target, "digits")


def test_check_point_names_the_layer_it_cannot_serve():
    wl = get_workload("digits").spec
    spec = MultiresSpec(budgets="2:8,3:16")
    term = QuantScheme(kind="term", term_budget=12, group_size=16, a_term_budget=3)
    ok, reason = check_point(DesignPoint.make({n: term for n in wl.layer_names}), wl, spec)
    assert reason == "" and set(ok) == set(wl.layer_names)
    mixed = {n: term for n in wl.layer_names} | {"conv2": QuantScheme(kind="fixed", w_bits=4)}
    _, reason = check_point(DesignPoint.make(mixed), wl, spec)
    assert reason.startswith("layer 'conv2': kind 'fixed' cannot be scored")
    grouped = {n: term for n in wl.layer_names} | {"fc": QuantScheme(kind="term", term_budget=4, group_size=4)}
    _, reason = check_point(DesignPoint.make(grouped), wl, spec)
    assert reason.startswith("layer 'fc': group size 4 differs from the multi-resolution checkpoint's 16")
    pinned = MultiresSpec(budgets="2:8,3:16", first_last="fixed8")
    _, reason = check_point(DesignPoint.make({n: term for n in wl.layer_names}), wl, pinned)
    assert reason.startswith("layer 'conv1': the multi-resolution checkpoint keeps it at fixed 8-bit")


# --- CLI ------------------------------------------------------------------------------------

def test_cli_json_rows(fixture_env):
    proc = subprocess.run([sys.executable, "-m", "dse", "multires", TINY, "--budgets", "2:8,3:16,2:12",
                           "--epochs", "1", "--json", "--quiet"], env=fixture_env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["budget"] for r in rows] == ["2:8", "2:12", "3:16"]
    for r in rows:
        assert {"budget", "multires_accuracy", "individual_accuracy", "term_pairs_per_mac", "latency_s"} <= set(r)
        assert 0.0 <= r["multires_accuracy"] <= 1.0 and 0.0 <= r["individual_accuracy"] <= 1.0
        assert r["term_pairs_per_mac"] == pytest.approx(r["act_terms"] * r["weight_terms"] / 16)
    assert rows[0]["latency_s"] < rows[1]["latency_s"] < rows[2]["latency_s"]  # latency follows term pairs
    assert Path(rows[0]["checkpoint"]).is_file()


def test_cli_no_individual_and_bad_budgets(cache, capsys):
    assert main(["multires", TINY, "--budgets", "2:8,3:16", "--epochs", "1", "--json", "--quiet",
                 "--no-individual"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["individual_accuracy"] for r in rows] == [None, None]
    assert main(["multires", TINY, "--budgets", "2:8"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dse: error: --budgets: need two or more budgets") and err.count("\n") == 1
    assert main(["multires", TINY, "--budgets", "2:8,3:16", "--group", "0"]) == 2
    assert "--group: must be an integer in [1, 4096]" in capsys.readouterr().err


# --- search with fidelity multires ------------------------------------------------------------

SEARCH = {
    "study": {"name": "mr", "objectives": ["accuracy", "term_pairs"], "trials": 8, "fidelity": "multires"},
    "workload": {"name": TINY},
    "space": {"kinds": ["term"], "w_bits": [8], "a_bits": [8], "terms_per_value": [0.25, 0.5, 1.0, 2.0],
              "group_sizes": [16], "a_term_budgets": [1, 2, 3], "first_last": "search"},
    "hardware": {"model": "termserial"},
    "constraints": {"fit_device": False},
    "sampler": {"name": "random"},
    "multires": {"budgets": ["1:4", "2:8", [3, 16]], "epochs": 2, "calibration_batches": 2},
}


def _run(doc, tmp_path):
    cfg = parse_config(doc)
    resolved = resolve(cfg)
    handle = open_storage(str(tmp_path / "s.journal"))
    study, _ = open_study(handle, cfg, doc, resolved)
    run_worker(handle, resolved, cfg.trials, None)
    return study


def test_search_with_multires_fidelity_records_accuracies(cache, tmp_path):
    study = _run(SEARCH, tmp_path)
    trials = study.get_trials()
    assert len(trials) == 8 and all(t.state == TrialState.COMPLETE for t in trials)
    accs = set()
    for t in trials:
        m, ft = t.user_attrs["metrics"], t.user_attrs["finetune"]
        assert ft["fidelity"] == "multires" and ft["calibration_batches"] == 2 and not ft["failed"]
        assert t.values[0] == m["accuracy"] == ft["accuracy"] and 0.0 < m["accuracy"] <= 1.0
        assert Path(ft["checkpoint"]).is_file()
        accs.add(m["accuracy"])
    assert len(accs) > 1  # candidates with other budgets score differently


def test_search_fails_candidates_the_checkpoint_cannot_serve(cache, tmp_path):
    doc = json.loads(json.dumps(SEARCH))
    doc["space"]["group_sizes"] = [4, 16]
    doc["space"]["shared"] = True  # one group size for the network: half the candidates are servable
    doc["study"]["trials"] = 10
    study = _run(doc, tmp_path)
    failed = [t for t in study.get_trials() if t.state == TrialState.FAIL]
    done = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    assert failed and done
    for t in failed:
        assert "group size 4 differs from the multi-resolution checkpoint's 16" in t.user_attrs["reason"]
        assert "latency_s" in t.user_attrs["metrics"]  # the hardware numbers are kept
    for t in done:
        assert all(s["group_size"] == 16 for s in t.user_attrs["point"]["layers"].values())


# --- config validation ----------------------------------------------------------------------

@pytest.mark.parametrize("doc, message", [
    ({"multires": {"budgets": ["2:8"]}}, "multires.budgets: need two or more budgets"),
    ({"multires": {"budgets": ["2x8", "3:9"]}}, "multires.budgets[0]: cannot parse '2x8'"),
    ({"multires": {"budgets": [[2, 8], [3]]}}, "multires.budgets[1]: expected 'a:k' or [a, k]"),
    ({"multires": {"budgets": ["9:8", "2:4"]}}, "multires.budgets[0]: 9 activation terms exceed multires.a_bits"),
    ({"multires": {"budgets": ["2:8", "2:8"]}}, "multires.budgets: has duplicate entries"),
    ({"multires": {"group": 0}}, "multires.group: must be in [1, 4096], got 0"),
    ({"multires": {"distill_weight": 20}}, "multires.distill_weight: must be <= 10"),
    ({"multires": {"temperature": 0}}, "multires.temperature: must be > 0"),
    ({"multires": {"colour": 1}}, "multires.colour: unknown key; allowed: a_bits, budgets"),
    ({"multires": {"checkpoint": ""}}, "multires.checkpoint: must not be empty"),
    ({"multires": 3}, "multires: expected a [multires] table"),
    ({"study": {"fidelity": "multires"}, "space": {"kinds": ["fixed"]}}, "space.kinds: fidelity 'multires' scores"),
    ({"study": {"fidelity": "multires"}, "space": {"kinds": ["term"], "group_sizes": [4]}},
     "space.group_sizes: must include multires.group = 16"),
    ({"study": {"fidelity": "multires"}, "space": {"kinds": ["term"], "term_encodings": ["csd"]}},
     "space.term_encodings: must include multires.encoding = 'binary'"),
    ({"study": {"fidelity": "multires"}, "multires": {"first_last": "term"}},
     "multires.first_last: 'term' does not match space.first_last = 'fixed8'"),
])
def test_config_validation_names_the_field(doc, message):
    with pytest.raises(UserError) as e:
        parse_config(doc)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_config_multires_section_parses_and_follows_the_space():
    cfg = parse_config(SEARCH)
    assert cfg.multires.budgets == ((1, 4), (2, 8), (3, 16)) and cfg.multires.first_last == "term"
    assert cfg.to_dict()["multires"]["calibration_batches"] == 2
    pinned = parse_config({"study": {"fidelity": "multires"}, "multires": {"budgets": "2:8,3:16"}})
    assert pinned.multires.first_last == "fixed8" and pinned.multires.budgets == ((2, 8), (3, 16))
    assert "multires" not in parse_config({}).to_dict()  # finetune studies store no [multires]


def test_cli_checkpoint_is_the_one_the_example_study_reads():
    from dse.cli import build_parser
    from dse.commands.multires import make_spec
    from dse.config import load_config
    from dse.multires import checkpoint_path

    cfg = load_config(Path(__file__).resolve().parents[2] / "examples" / "term_multires.toml")
    budgets = ",".join(f"{a}:{k}" for a, k in reversed(cfg.multires.budgets))
    args = build_parser().parse_args(["multires", "digits", "--budgets", budgets])
    assert make_spec(args) == MultiresSpec.from_config(cfg)
    assert checkpoint_path("digits", make_spec(args)) == checkpoint_path("digits", MultiresSpec.from_config(cfg))
    other = build_parser().parse_args(["multires", "digits", "--budgets", budgets, "--epochs", "3"])
    assert checkpoint_path("digits", make_spec(other)) != checkpoint_path("digits", make_spec(args))


def test_multires_loss_is_both_cross_entropies_plus_scaled_distillation():
    import torch.nn.functional as F

    from dse.multires import multires_loss

    g = torch.Generator().manual_seed(0)
    t, s = torch.randn(8, 5, generator=g, requires_grad=True), torch.randn(8, 5, generator=g, requires_grad=True)
    y = torch.arange(8) % 5
    ce = F.cross_entropy(t, y) + F.cross_entropy(s, y)
    assert torch.allclose(multires_loss(t, s, y, 0.0, 4.0), ce)
    kd = F.kl_div(F.log_softmax(s / 4, 1), F.softmax(t / 4, 1), reduction="batchmean")
    assert torch.allclose(multires_loss(t, s, y, 0.3, 4.0), ce + 0.3 * 16 * kd)
    assert torch.allclose(multires_loss(t, t.detach().clone(), y, 1.0, 4.0), 2 * F.cross_entropy(t, y))
    multires_loss(t, s, y, 1.0, 4.0).backward()
    assert torch.allclose(t.grad, torch.autograd.grad(F.cross_entropy(t, y), t)[0])  # distillation pulls the student only
