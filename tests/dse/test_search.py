"""The search end to end on real Optuna storages (journal files, SQLite), hardware-only
studies for speed plus one small fine-tuning study."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from dse.config import parse_config
from dse.storage import open_storage
from dse.study import counted_trials, open_study, pareto_trials, resolve, run_worker, status_counts
from conftest import hw_only_toml  # tests/conftest.py: the hardware-only study TOML

HW_ONLY = {
    "study": {"name": "hw", "objectives": ["latency_s", "lut", "avg_weight_bits"], "fidelity": "none", "trials": 25},
    "workload": {"name": "resnet18"},
    "space": {"kinds": ["fixed", "sp2"], "w_bits": [4, 8], "a_bits": [8], "shared": False},
    "hardware": {"model": "systolic", "device": "XC7Z045", "ranges": {"rows": [4, 32], "cols": [4, 32]},
                 "search": ["rows", "cols", "dataflow"]},
}


def run_study(doc, url, trials=None):
    cfg = parse_config(doc)
    if trials:
        cfg = replace(cfg, trials=trials)
    resolved = resolve(cfg)
    handle = open_storage(url)
    study, _ = open_study(handle, cfg, doc, resolved)
    run_worker(handle, resolved, cfg.trials, None)
    return study


def test_hardware_only_study_records_everything(tmp_path):
    study = run_study(HW_ONLY, str(tmp_path / "s.journal"))
    trials = study.get_trials()
    assert len(trials) == 25 == counted_trials(trials)
    assert trials[0].user_attrs["baseline"] == "fixed W8A8"
    assert trials[0].params["hw.rows"] == 16 and trials[0].params["hw.dataflow"] == "os"
    assert {t.params.get(n) for t in trials[:1] for n in t.params if n.endswith(".kind")} == {"fixed"}
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert done, "some points must fit an XC7Z045"
    for t in done:
        assert t.user_attrs["status"] == "complete"
        m = t.user_attrs["metrics"]
        assert t.values == [m["latency_s"], m["lut"], m["avg_weight_bits"]]
        assert len(t.user_attrs["hw_layers"]) == len(study.user_attrs["layers"]) == 21
        assert t.constraints["fits_device"] <= 0
        assert "point" in t.user_attrs and set(t.user_attrs["point"]["layers"]) == {
            l["name"] for l in study.user_attrs["layers"]}
    for t in trials:
        if t.state == TrialState.PRUNED:
            assert t.user_attrs["status"] == "infeasible" and t.user_attrs["reason"]
            assert "finetune" not in t.user_attrs
    front = pareto_trials(study)
    assert front and all(t.state == TrialState.COMPLETE for t in front)


def test_identical_points_are_not_evaluated_twice(tmp_path):
    doc = json.loads(json.dumps(HW_ONLY))
    doc["space"] = {"kinds": ["fixed"], "w_bits": [8], "a_bits": [8], "shared": True}
    doc["hardware"]["ranges"] = {"rows": [8, 9], "cols": [8, 8]}
    doc["hardware"]["search"] = ["rows", "cols"]
    study = run_study(doc, str(tmp_path / "s.journal"), trials=12)
    trials = study.get_trials()
    assert len(trials) == 12
    dups = [t for t in trials if "duplicate_of" in t.user_attrs]
    assert len(dups) >= 9  # only 2 distinct points exist
    by_number = {t.number: t for t in trials}
    for t in dups:
        orig = by_number[t.user_attrs["duplicate_of"]]
        assert t.values == orig.values and t.user_attrs["point_key"] == orig.user_attrs["point_key"]
        assert "duplicate_of" not in orig.user_attrs
    assert status_counts(study)["duplicate"] == len(dups)


def test_resume_keeps_completed_trials(tmp_path):
    url = str(tmp_path / "s.journal")
    first = run_study(HW_ONLY, url, trials=6)
    before = {t.number: (t.state, t.values) for t in first.get_trials()}
    again = run_study(HW_ONLY, url, trials=10)
    trials = again.get_trials()
    assert len(trials) == 10
    for n, (state, values) in before.items():
        assert (trials[n].state, trials[n].values) == (state, values)


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_resume_draws_new_points_and_a_fresh_run_is_reproducible(tmp_path, sampler):
    """A resumed seeded study must not re-propose the first run's points (its sampler seed is
    derived from the seed and the trials already stored); a fresh run stays reproducible."""
    doc = json.loads(json.dumps(HW_ONLY))
    doc["sampler"] = {"name": sampler}
    doc["study"]["baselines"] = []
    keys = lambda study: [t.user_attrs["point_key"] for t in study.get_trials()]
    url = str(tmp_path / "a.journal")
    first = keys(run_study(doc, url, trials=5))  # both halves within TPE's 10 random startup trials
    both = keys(run_study(doc, url, trials=10))
    assert both[:5] == first
    second = both[5:]
    assert len(set(second) - set(first)) >= 4, "the resumed run re-proposed the first run's points"
    assert keys(run_study(doc, str(tmp_path / "b.journal"), trials=5)) == first


def test_resume_with_another_config_is_refused(tmp_path):
    url = str(tmp_path / "s.journal")
    run_study(HW_ONLY, url, trials=3)
    doc = json.loads(json.dumps(HW_ONLY))
    doc["study"]["objectives"] = ["latency_s", "dsp"]
    from dse.errors import UserError

    with pytest.raises(UserError, match="already exists in this storage with a different config"):
        run_study(doc, url, trials=3)


def test_sqlite_storage_and_export_round_trip(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    study = run_study(HW_ONLY, url, trials=8)
    assert len(study.get_trials()) == 8
    out = tmp_path / "front.json"
    r = subprocess.run([sys.executable, "-m", "dse", "export", "--storage", url, "--study", "hw", "--format",
                        "json", "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())
    assert len(rows) == len(pareto_trials(study))
    assert {"objective.latency_s", "metric.lut", "plan"} <= set(rows[0])
    n = rows[0]["trial"]
    plan_file = tmp_path / "plan.json"
    r = subprocess.run([sys.executable, "-m", "dse", "export", "--storage", url, "--study", "hw", "--trial", str(n),
                        "--plan-out", str(plan_file)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    plan = json.loads(plan_file.read_text())
    assert plan["trial"] == n and plan["layers"] and plan["hardware"]["device"] == "XC7Z045"
    from hwmodels import DesignPoint

    assert DesignPoint.from_dict(plan).knob("rows") == study.trials[n].params["hw.rows"]


def dse(*args, cwd):
    return subprocess.run([sys.executable, "-m", "dse", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("toml, message", [
    ("[study]\nobjectives = ['accuracy']\n", "study.objectives: need two or more objectives"),
    ("[hardware]\nmodel = 'nope'\n", "hardware.model: unknown model 'nope'; allowed: "),
    ("[hardware]\ndevice = 'XC9999'\n", "hardware.device: got 'XC9999'; allowed: one of "),
    ("[hardware]\nfixed = {rows = 0}\n", "hardware.fixed.rows: got 0; allowed: int in"),
    ("[hardware]\nranges = {colz = [1, 2]}\n", "hardware.ranges.colz: unknown knob of 'systolic'"),
    ("[workload]\nname = 'imagenet'\n", "workload"),
])
def test_bad_config_exit_2_and_nothing_written(tmp_path, toml, message):
    (tmp_path / "c.toml").write_text(toml)
    r = dse("search", "c.toml", "--quiet", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip()
    assert line.startswith(f"dse: error: {message}"), line
    assert len(line.splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "reports").exists()


def test_bad_cli_values_exit_2(tmp_path):
    r = dse("search", "--trials", "0", cwd=tmp_path)
    assert r.returncode == 2 and "--trials: must be > 0" in r.stderr
    r = dse("worker", "--storage", str(tmp_path / "none.journal"), "--study", "x", cwd=tmp_path)
    assert r.returncode == 2 and "no such file" in r.stderr
    r = dse("search", "--storage", "redis://x", cwd=tmp_path)
    assert r.returncode == 2 and "unsupported URL" in r.stderr


def test_cli_hardware_only_search_prints_front_and_lists_studies(tmp_path):
    cfg = tmp_path / "hw.toml"
    cfg.write_text(hw_only_toml("cli-hw", "resnet18", trials=15, objectives='["latency_s", "energy_j"]',
                                space="shared = true\n", device="XCZU9EG",
                                hardware='search = ["rows", "cols"]\nranges = {rows = [8, 32], cols = [8, 32]}\n'))
    r = dse("search", str(cfg), "--quiet", "--no-report", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "trial" in r.stdout and "latency_s" in r.stdout and "(baseline)" in r.stdout or "#" in r.stdout
    r = dse("studies", cwd=tmp_path)
    assert r.returncode == 0 and "cli-hw" in r.stdout and " 15 " in r.stdout


def test_a_complete_study_says_so_and_runs_nothing(tmp_path, capsys, monkeypatch):
    from dse.cli import main

    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "hw.toml"
    cfg.write_text(hw_only_toml("done", "resnet18", study="baselines = []\n", w_bits="[8]", device=None))
    assert main(["search", "hw.toml", "--quiet", "--no-report"]) == 0
    size = (tmp_path / "runs" / "dse.journal").stat().st_size
    capsys.readouterr()
    assert main(["search", "hw.toml", "--quiet", "--no-report"]) == 0
    err = capsys.readouterr().err
    assert ("study 'done' is complete: 3 of 3 trials done, nothing to run. To run more, raise the budget: "
            "dse search hw.toml --quiet --no-report --trials 13") in err
    study = optuna.load_study(study_name="done", storage=open_storage("runs/dse.journal").storage)
    assert len(study.trials) == 3
    assert (tmp_path / "runs" / "dse.journal").stat().st_size - size < 2000  # only the target attr rewritten
