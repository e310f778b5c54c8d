"""Multi-fidelity search (issue 13): the screening stage between the hardware check and the
full fine-tune (dse/study/screen.py), on real Optuna journal storages and real training."""

from __future__ import annotations

import copy
from dataclasses import replace

import optuna
import pytest
from cli_harness import assert_refused, run_inprocess, snapshot
from optuna.trial import TrialState

import dse.study.run as run_module
from dse.config import DEMO, ScreenConfig, StudyConfig, parse_config
from dse.study import open_study, resolve, run_worker, status_counts
from dse.study.fidelity import finetune_fidelity, register_fidelity
from dse.study.screen import ESTIMATES, Screener, kendall_tau, make_screen_fn, stored_history
from dse.study.storage import open_storage

# --- Kendall tau ----------------------------------------------------------------------------

def test_kendall_tau_on_known_rankings():
    assert kendall_tau([1, 2, 3, 4, 5], [10, 20, 30, 40, 50]) == 1.0
    assert kendall_tau([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]) == -1.0
    # 3 1 2 against 1 2 3: pairs (1,2) disc, (1,3) disc, (2,3) conc -> (1 - 2) / 3
    assert kendall_tau([1, 2, 3], [3, 1, 2]) == pytest.approx(-1 / 3)
    # 10 pairs, 8 concordant, 2 discordant: (8 - 2) / 10
    assert kendall_tau([1, 2, 3, 4, 5], [1, 3, 2, 5, 4]) == pytest.approx(0.6)
    # ties: tau-b, the value scipy.stats.kendalltau gives for these (computed by hand:
    # x has one tied pair, y one; conc 7, disc 1 -> 6 / sqrt(9 * 9))
    assert kendall_tau([1, 1, 2, 3, 4], [1, 2, 2, 4, 3]) == pytest.approx(6 / 9)
    assert kendall_tau([1, 1, 1], [1, 2, 3]) != kendall_tau([1, 1, 1], [1, 2, 3])  # NaN: constant x
    with pytest.raises(ValueError):
        kendall_tau([1, 2], [1])


def test_kendall_tau_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    x = [0.91, 0.95, 0.95, 0.80, 0.99, 0.85, 0.91, 0.97]
    y = [0.90, 0.96, 0.94, 0.82, 0.97, 0.85, 0.93, 0.97]
    assert kendall_tau(x, y) == pytest.approx(stats.kendalltau(x, y).statistic)


# --- promotion rules (estimates given as plain numbers) -------------------------------------

def _cfg(**screen) -> StudyConfig:
    cfg = parse_config({**DEMO, "study": {**DEMO["study"], "objectives": ["accuracy", "latency_s"]}})
    return replace(cfg, screen=ScreenConfig(**screen))


def test_front_rule_promotes_only_undominated_estimates_after_warmup():
    est = {"a": 0.95, "b": 0.90, "c": 0.97, "d": 0.94, "e": 0.96}
    lat = {"a": 2.0, "b": 3.0, "c": 5.0, "d": 1.0, "e": 2.5}
    s = Screener(_cfg(warmup=1, margin=0.0), lambda p: est[p])
    decisions = {p: s(p, {"latency_s": lat[p]})["promoted"] for p in "abcde"}
    # a: warm-up; b: a is more accurate and faster -> out; c: most accurate -> in;
    # d: fastest -> in; e: c more accurate but slower, a faster but less accurate -> in
    assert decisions == {"a": True, "b": False, "c": True, "d": True, "e": True}
    # with a margin, b (0.90 + 0.06 > 0.95) is no longer dominated by a
    s = Screener(_cfg(warmup=1, margin=0.06), lambda p: est[p])
    assert [s(p, {"latency_s": lat[p]})["promoted"] for p in "ab"] == [True, True]


def test_quantile_rule_and_history_seeded_from_storage_records():
    s = Screener(_cfg(promote="quantile", quantile=0.5, warmup=0), lambda p: p,
                 history=[(0.80, {"latency_s": 1.0}), (0.90, {"latency_s": 1.0}), (0.95, {"latency_s": 1.0})])
    out = s(0.85, {"latency_s": 1.0})  # median of 0.80, 0.90, 0.95 is 0.90
    assert not out["promoted"] and "screened out" in out["reason"] and out["estimate"] == 0.85
    assert s(0.93, {"latency_s": 1.0})["promoted"]  # median of the four earlier: 0.875 -> 0.93 passes


def _capped(**screen) -> StudyConfig:
    cfg = _cfg(**screen)
    return replace(cfg, caps=parse_config({**DEMO, "constraints": {"caps": ["accuracy >= 0.5"]}}).caps)


def test_calibrated_estimate_below_an_accuracy_cap_is_screened_out():
    s = Screener(_capped(warmup=0, margin=0.0), lambda p: p)
    # nothing fine-tuned yet: no calibration, so the cap cannot be judged and 0.10 (fastest) passes
    assert s(0.10, {"latency_s": 0.5})["promoted"]
    for est, acc in [(0.3, 0.5), (0.5, 0.7), (0.7, 0.9)]:  # fine-tunes reach the estimate + 0.2
        s.observe(est, acc)
    assert s.calibration.predict(0.25) == pytest.approx(0.45)
    out = s(0.25, {"latency_s": 0.1})  # fastest of all, but predicted 0.45 < 0.5 after its fine-tune
    assert not out["promoted"] and "predicts 0.4500" in out["reason"] and "accuracy >= 0.5" in out["reason"]
    assert s(0.35, {"latency_s": 0.05})["promoted"]  # predicted 0.55: passes the cap, and fastest
    # a margin gives a candidate the benefit of the doubt against the cap too
    s2 = Screener(_capped(warmup=0, margin=0.1), lambda p: p)
    for est, acc in [(0.3, 0.5), (0.5, 0.7), (0.7, 0.9)]:
        s2.observe(est, acc)
    assert s2(0.25, {"latency_s": 0.1})["promoted"]


def test_calibration_is_seeded_from_stored_finetuned_trials():
    hist = [(0.3, {"latency_s": 3.0, "accuracy": 0.5}), (0.5, {"latency_s": 2.0, "accuracy": 0.7}),
            (0.6, {"latency_s": 9.0}),  # screened out: no accuracy, not a calibration pair
            (0.7, {"latency_s": 1.0, "accuracy": 0.9})]
    s = Screener(_capped(warmup=0), lambda p: p, history=hist)
    assert s.calibration.pairs == [(0.3, 0.5), (0.5, 0.7), (0.7, 0.9)] and s.screened == 4
    assert not s(0.2, {"latency_s": 0.1})["promoted"]  # predicted 0.40 < 0.5


def test_front_tolerance_counts_near_equal_hardware_as_dominated():
    est = {"a": 0.95, "b": 0.94, "c": 0.97}
    lat = {"a": 1.0, "b": 0.95, "c": 0.5}
    plain = Screener(_cfg(warmup=1), lambda p: est[p])
    assert [plain(p, {"latency_s": lat[p]})["promoted"] for p in "abc"] == [True, True, True]
    coarse = Screener(_cfg(warmup=1, tolerance=0.1), lambda p: est[p])
    # b is 5 % faster than a but less accurate: within the 10 % tolerance a dominates it;
    # c is twice as fast and more accurate: promoted
    out = [coarse(p, {"latency_s": lat[p]}) for p in "abc"]
    assert [o["promoted"] for o in out] == [True, False, True] and "tolerance 0.1" in out[1]["reason"]
    # only promoted designs are rivals: the slack does not compound along screened-out ones
    est, lat = {"a": 0.95, "b": 0.94, "d": 0.93}, {"a": 1.0, "b": 0.92, "d": 0.85}
    chain = Screener(_cfg(warmup=1, tolerance=0.1), lambda p: est[p])
    # b: within 10 % of a -> out; d is within 10 % of b (0.92 <= 0.935) but 15 % faster than a -> in
    assert [chain(p, {"latency_s": lat[p]})["promoted"] for p in "abd"] == [True, False, True]


def test_gain_rule_promotes_the_largest_predicted_hypervolume_gain_of_the_window():
    # fine-tunes reach the estimate + 0.02 (three pairs: the calibration adds 0.02)
    hist = [(0.90, {"latency_s": 3.0, "accuracy": 0.92}), (0.80, {"latency_s": 1.0, "accuracy": 0.82}),
            (0.85, {"latency_s": 2.0, "accuracy": 0.87})]
    s = Screener(_capped(promote="gain", warmup=0), lambda p: p, history=hist)
    assert [t for t in s.tuned] == [(-0.92, 3.0), (-0.82, 1.0), (-0.87, 2.0)]  # the fine-tuned front
    assert s.calibration.predict(0.83) == pytest.approx(0.85)
    # predicted 0.85 at latency 2.5: dominated by the fine-tuned (0.87, 2.0) -> adds nothing, although
    # its raw estimate is not dominated by any other raw estimate
    out = s(0.83, {"latency_s": 2.5})
    assert not out["promoted"] and "predicted to add no hypervolume to the 3 feasible" in out["reason"]
    assert s(0.86, {"latency_s": 1.5})["promoted"]  # predicted 0.88 at 1.5: a new trade-off
    s.observe(0.86, 0.88)
    assert s.tuned[-1] == (-0.88, 1.5)
    # a fine-tune that ends below the cap accuracy >= 0.5 joins no front
    assert s(0.995, {"latency_s": 0.1})["promoted"]
    s.observe(0.995, 0.30)
    assert s.tuned[-1] == () and [t for t in s.tuned if t][-1] == (-0.88, 1.5)
    # window 3: promoted only when its predicted gain is the largest of its own and the two
    # previous candidates' gains (as predicted at their screens): one promotion per ~3 candidates
    w = Screener(_capped(promote="gain", warmup=0, window=3), lambda p: p, history=hist)
    assert w.gains == [0.0, 0.0, 0.0]  # stored screens carry no gain: they block nothing
    first = w(0.95, {"latency_s": 0.5})  # a new trade-off: promoted
    assert first["promoted"]
    w.observe(0.95, 0.97)
    smaller = w(0.96, {"latency_s": 0.45})  # predicted 0.98 at 0.45: a gain, but smaller than first's
    assert 0 < w.gains[-1] < w.gains[-2] and not smaller["promoted"]
    assert "the largest of the last 2 screened candidates (window 3)" in smaller["reason"]
    nothing = w(0.89, {"latency_s": 0.9})  # predicted 0.91 at 0.9: (0.97, 0.5) dominates it
    assert not nothing["promoted"] and "no hypervolume" in nothing["reason"]
    # first's gain has left the window: the largest of (smaller, nothing, this) is promoted
    assert w(0.965, {"latency_s": 0.44})["promoted"] and w.gains[-1] >= w.gains[-3]  # 0.985 at 0.44


# --- a real search: screened-out trials are never fine-tuned ---------------------------------

@pytest.fixture(scope="module")
def screened_study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mf")
    mp = pytest.MonkeyPatch()
    mp.setenv("DSE_CACHE_DIR", str(tmp / "cache"))
    calls: list[dict] = []

    def counting(resolved):  # the real core fine-tune, each call counted
        score = finetune_fidelity(resolved)

        def counted(point, abort):
            calls.append(point.to_dict())
            return score(point, abort)

        return counted

    doc = copy.deepcopy(DEMO)
    doc["study"].update(name="mf", trials=10, baselines=[], seed=3)
    doc["finetune"] = {"epochs": 1, "pretrain_epochs": 2}
    doc["space"] = {**doc["space"], "w_bits": [2, 3, 4], "a_bits": [2, 4]}
    doc["screen"] = {"estimate": "steps", "steps": 2, "warmup": 2}
    cfg = parse_config(doc)
    resolved = resolve(cfg)
    handle = open_storage(str(tmp / "s.journal"))
    study, _ = open_study(handle, cfg, doc, resolved)
    screeners: list[Screener] = []

    def keep(resolved, trials=()):  # the worker's real screening stage, kept to look at
        screeners.append(make_screen_fn(resolved, trials))
        return screeners[-1]

    mp.setattr(run_module, "make_screen_fn", keep)
    try:
        register_fidelity("finetune", counting, replace=True)
        run_worker(handle, resolved, cfg.trials, None)
    finally:
        register_fidelity("finetune", finetune_fidelity, replace=True)
        mp.undo()
    study.journal_path = str(tmp / "s.journal")  # for `dse studies` below
    return study, calls, screeners[0], resolved


@pytest.mark.slow  # a real 10-trial search with fine-tunes (~10-20 s on 2 loaded cores)
def test_screened_out_trials_are_not_finetuned(screened_study):
    study, calls, screener, resolved = screened_study
    trials = study.get_trials()
    out = [t for t in trials if t.user_attrs.get("status") == "screened out"]
    tuned = [t for t in trials if "finetune" in t.user_attrs]
    assert out and tuned, "the seeded study screens some candidates out and promotes others"
    assert len(calls) == len(tuned) == len(trials) - len(out) - sum(t.user_attrs["status"] == "infeasible"
                                                                     for t in trials)
    for t in out:
        assert t.state == TrialState.PRUNED and "finetune" not in t.user_attrs
        assert "accuracy" not in t.user_attrs["metrics"] and "latency_s" in t.user_attrs["metrics"]
        s = t.user_attrs["screen"]
        assert s["promoted"] is False and 0.0 <= s["estimate"] <= 1.0 and s["kind"] == "steps"
        assert t.user_attrs["reason"].startswith("screened out: estimated accuracy")
    for t in tuned:
        assert t.user_attrs["screen"]["promoted"] is True
        assert t.state == TrialState.COMPLETE and t.values[0] == t.user_attrs["metrics"]["accuracy"]
    first = sorted(trials, key=lambda t: t.number)[:2]
    assert all("warm-up" in t.user_attrs["screen"]["why"] for t in first)
    assert status_counts(study)["screened out"] == len(out)
    assert len(stored_history(trials)) == len(out) + len(tuned)
    # the evaluator reported each fine-tuned accuracy back to the screen (its calibration),
    # and a worker resuming the study rebuilds the same pairs from the storage
    by_number = sorted(tuned, key=lambda t: t.number)
    pairs = [(t.user_attrs["screen"]["estimate"], t.user_attrs["metrics"]["accuracy"]) for t in by_number]
    assert screener.calibration.pairs == pairs
    assert make_screen_fn(resolved, trials).calibration.pairs == pairs


@pytest.mark.slow  # uses the real 10-trial search above
def test_gain_rule_rebuilds_the_finetuned_front_from_the_storage(screened_study):
    study, _, screener, resolved = screened_study
    trials = study.get_trials()
    tuned = sorted((t for t in trials if "finetune" in t.user_attrs), key=lambda t: t.number)
    # the live screener filled its fine-tuned front through the evaluator's observe() hook
    want = [(-t.user_attrs["metrics"]["accuracy"], t.user_attrs["metrics"]["latency_s"]) for t in tuned]
    assert screener.tuned == want
    # a worker resuming the study with promote = "gain" starts from the same front
    cfg = replace(resolved.cfg, screen=replace(resolved.cfg.screen, promote="gain", window=2))
    again = make_screen_fn(type(resolved)(**{**resolved.__dict__, "cfg": cfg}), trials)
    assert again.tuned == want and again.gains == [0.0] * len(stored_history(trials))


@pytest.mark.slow  # a real 10-trial search with fine-tunes (~10-20 s on 2 loaded cores)
def test_each_trial_records_the_fidelity_it_reached(screened_study):
    study = screened_study[0]
    for t in study.get_trials():
        want = {"screened out": "screen", "infeasible": "hardware", "complete": "finetune"}[t.user_attrs["status"]]
        assert t.user_attrs["fidelity_reached"] == want


def test_hardware_only_study_records_fidelity_hardware(tmp_path):
    doc = {"study": {"name": "hw", "objectives": ["latency_s", "lut"], "fidelity": "none", "trials": 3,
                     "baselines": []},
           "workload": {"name": "digits"}, "hardware": {"model": "bitserial", "device": "XC7Z045"}}
    cfg = parse_config(doc)
    resolved = resolve(cfg)
    handle = open_storage(str(tmp_path / "h.journal"))
    study, _ = open_study(handle, cfg, doc, resolved)
    run_worker(handle, resolved, cfg.trials, None)
    assert [t.user_attrs["fidelity_reached"] for t in study.get_trials()] == ["hardware"] * 3
    assert "screen" not in study.get_trials()[0].user_attrs


# --- config mistakes in [screen] ------------------------------------------------------------

BASE_TOML = """[study]
name = "mf"
objectives = ["accuracy", "latency_s"]
trials = 3
{study}
[workload]
name = "digits"
[hardware]
model = "bitserial"
device = "XC7Z045"
[screen]
{screen}
"""

SCREEN_MISTAKES = [
    ('estimate = "magic"', "", "screen.estimate: unknown value 'magic'; allowed: steps, sensitivity"),
    ("steps = 0", "", "screen.steps: must be in [1, 100000], got 0"),
    ('promote = "best"', "", "screen.promote: unknown value 'best'"),
    ("margin = 2", "", "screen.margin: must be <= 1"),
    ("tolerance = -0.1", "", "screen.tolerance: must be >= 0"),
    ("warmpu = 3", "", "screen.warmpu: unknown key; allowed:"),
    ("window = 0", "", "screen.window: must be in [1, 1000], got 0"),
    ("", 'fidelity = "none"\nobjectives = ["latency_s", "lut"]',
     "screen: screens accuracy estimates, but the study does not score accuracy"),
    ("", 'fidelity = "multires"', "screen: screens candidates before the full fine-tune"),
]


@pytest.mark.parametrize("screen, study, expect", SCREEN_MISTAKES)
def test_screen_config_mistake_is_one_line_exit_2(tmp_path, monkeypatch, screen, study, expect):
    monkeypatch.setenv("DSE_CACHE_DIR", str(tmp_path / "cache"))
    work = tmp_path / "w"
    work.mkdir()
    text = BASE_TOML.format(screen=screen, study=study)
    if "objectives" in study:
        text = text.replace('objectives = ["accuracy", "latency_s"]\n', "", 1)
    (work / "c.toml").write_text(text)
    before = snapshot(tmp_path)
    r = run_inprocess(["search", "c.toml", "--quiet", "--no-report"], work)
    assert_refused(r, before, snapshot(tmp_path), expect)


@pytest.mark.slow  # post-training quantization of each layer of digits (a few seconds)
def test_sensitivity_table_is_additive_and_measures_each_entry_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DSE_CACHE_DIR", str(tmp_path / "cache"))
    doc = copy.deepcopy(DEMO)
    doc["finetune"] = {"epochs": 1, "pretrain_epochs": 2}
    doc["screen"] = {"estimate": "sensitivity"}
    resolved = resolve(parse_config(doc))
    table = ESTIMATES["sensitivity"](resolved)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    point = resolved.space.suggest(study.ask(), resolved.workload)
    est = table(point)
    layers = [layer.name for layer in resolved.workload.layers if point.scheme_for(layer.name) is not None]
    assert len(table.drops) == len(layers) == 4
    assert est == pytest.approx(table.float_accuracy - sum(table.drops.values()))
    assert 0.0 <= est <= 1.0 and est < table.float_accuracy  # quantizing costs something at these widths
    drops = dict(table.drops)
    assert table(point) == est and table.drops == drops  # looked up, not measured again


def test_report_shows_screened_out_trials_as_their_own_category(screened_study):
    from dse.report.data import report_data

    study = screened_study[0]
    out = {t.number for t in study.get_trials() if t.user_attrs.get("status") == "screened out"}
    data = report_data(study)
    cats = dict(zip(data["trials"]["number"], data["trials"]["category"]))
    assert out and {n for n, c in cats.items() if c == "screened"} == out
    assert data["counts"]["screened out"] == len(out)
    groups = [g for g in data["infeasible"]["groups"] if g["kind"] == "screened out"]
    assert sum(g["count"] for g in groups) == len(out)
    assert all(g["label"].startswith("screened out: estimated accuracy") for g in groups)


def test_dse_studies_shows_a_screened_column_only_when_screening(screened_study, tmp_path, capsys):
    from dse.cli import main

    study = screened_study[0]
    n_out = sum(t.user_attrs.get("status") == "screened out" for t in study.get_trials())
    assert main(["studies", "--storage", study.journal_path]) == 0
    head, row = capsys.readouterr().out.splitlines()[:2]
    assert head.split() == ["study", "trials", "complete", "infeasible", "screened", "abandoned", "failed",
                            "objectives"]
    c = status_counts(study)
    assert row.split()[:7] == ["mf", str(len(study.get_trials())), str(c["complete"]), str(c["infeasible"]),
                               str(n_out), str(c["abandoned"]), str(c["failed"])]
    # a storage without screened trials keeps the table it always had
    import optuna

    optuna.create_study(study_name="plain", storage=f"sqlite:///{tmp_path / 'plain.db'}")
    assert main(["studies", "--storage", f"sqlite:///{tmp_path / 'plain.db'}"]) == 0
    assert "screened" not in capsys.readouterr().out


# --- mnist1d `depth` (the benchmark's hard space) --------------------------------------------

def test_mnist1d_depth_option_keeps_the_default_model_and_cache_key():
    import torch

    from dse.errors import UserError
    from dse.training.pretrain import architecture_digest
    from dse.workloads import get_workload_spec
    from dse.workloads.mnist1d import MNIST1DCNN, workload

    default = workload(num_samples=400)
    assert dict(default.options) == {"num_samples": 400, "data_seed": 42, "width": 32}  # no depth key
    assert workload(num_samples=400, depth=4).options == default.options
    torch.manual_seed(0)
    old = MNIST1DCNN(32)
    assert [k for k in old.state_dict() if k.endswith("weight")] == [
        "conv1.weight", "bn1.weight", "conv2.weight", "bn2.weight", "conv3.weight", "bn3.weight",
        "conv4.weight", "bn4.weight", "fc.weight"]
    assert architecture_digest(MNIST1DCNN(32, depth=4)) == architecture_digest(old)
    deep = workload(num_samples=400, depth=6)
    assert dict(deep.options)["depth"] == 6
    net = deep.build_model()
    assert tuple(net(torch.zeros(3, 1, 40)).shape) == (3, 10)
    assert architecture_digest(net) != architecture_digest(old)  # its own FP32 cache entry
    layers = [layer.name for layer in get_workload_spec("mnist1d", num_samples=400, depth=6).layers]
    assert layers == ["conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "fc"]
    for bad in (3, 17, "8", 6.0, True):
        with pytest.raises(UserError, match="depth: the number of convolutions must be an integer from 4 to 16"):
            workload(depth=bad)


def test_bench_budget_curve_scores_prefixes_under_one_normalisation(tmp_path):
    import importlib.util
    import json
    import sys
    from pathlib import Path

    bench_dir = Path(__file__).resolve().parents[2] / "benchmarks"
    sys.path.insert(0, str(bench_dir))
    try:
        spec = importlib.util.spec_from_file_location("bench_mf", bench_dir / "bench_multifidelity.py")
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
    finally:
        sys.path.remove(str(bench_dir))
    d = ["maximize", "minimize"]
    # random: two designs, the second infeasible (None); mf: reaches the best corner at its 2nd fine-tune
    runs = {"random/0": {"sequence": [[0.5, 2.0], None], "values": [[0.5, 2.0]], "directions": d},
            "mf/0": {"sequence": [[0.5, 2.0], [0.9, 1.0]], "values": [[0.5, 2.0], [0.9, 1.0]], "directions": d}}
    path = tmp_path / "runs.json"
    path.write_text(json.dumps(runs))
    res = bench.load_saved(str(path))
    lines = bench.curve_report(res, ["random", "mf"], [0], [1, 2])
    # normalised over all points at K = 2: (0.5, 2.0) -> (1, 1), (0.9, 1.0) -> (0, 0) in minimisation
    # space; reference 1.1: random holds 0.1 x 0.1 = 0.01 at both K, mf 0.01 at K = 1 and 1.21 at K = 2
    assert "union 1.2100" in lines[0]
    k1 = lines[2].split()
    k2 = lines[3].split()
    assert k1[:3] == ["1", "0.0100", "0.0100"] and k1[3] == "1.000x"
    assert k2[:3] == ["2", "0.0100", "1.2100"] and k2[3] == "121.000x" and k2[4] == "infx"
    assert lines[-1].endswith("random 1.0/1.0; mf 1.0/2.0")  # feasible fine-tunes among the first K
