"""Workers sharing a study: PostgreSQL across processes, and recovery from SIGKILL."""

import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from dse.storage import open_storage

HW_STUDY = """
[study]
name = "pg-hw"
objectives = ["latency_s", "energy_j", "avg_weight_bits"]
fidelity = "none"
trials = 1
[workload]
name = "resnet18"
[space]
kinds = ["fixed", "sp2", "pow2"]
w_bits = [3, 4, 5, 6, 8]
a_bits = [4, 8]
[hardware]
model = "systolic"
device = "XCVU9P"
search = ["rows", "cols", "dataflow"]
ranges = {rows = [4, 64], cols = [4, 64]}
"""


def dse(*args, env=None, cwd=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "dse", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=cwd, **kw)


@pytest.mark.slow
def test_two_workers_on_postgres_run_exactly_the_budget(postgres_url, tmp_path):
    cfg = tmp_path / "hw.toml"
    cfg.write_text(HW_STUDY)
    p = dse("search", str(cfg), "--storage", postgres_url, "--quiet", "--no-report", cwd=tmp_path)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    workers = [dse("worker", "--storage", postgres_url, "--study", "pg-hw", "--trials", "60", cwd=tmp_path)
               for _ in range(2)]
    for w in workers:
        out, err = w.communicate(timeout=600)
        assert w.returncode == 0, err
    handle = open_storage(postgres_url)
    trials = optuna.load_study(study_name="pg-hw", storage=handle.storage).get_trials()
    assert len(trials) == 60
    assert sorted(t.number for t in trials) == list(range(60))
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    # the search process ran the two enqueued baselines (always run), the workers the rest
    assert {t.user_attrs.get("baseline") for t in trials[:2]} == {"fixed W8A8", "fixed W4A4"}
    pids = {t.user_attrs["worker"]["pid"] for t in trials[2:]}
    assert len(pids) == 2, "both workers must have run trials"
    evaluated = [t.user_attrs["point_key"] for t in trials if "duplicate_of" not in t.user_attrs]
    assert len(evaluated) == len(set(evaluated)), "an identical point was evaluated twice"



def _slow_study(name: str, a_bits: str, epochs: int) -> str:
    """A 6-trial fine-tune study on the slow tiny workload (each trial takes a while)."""
    return f"""
[study]
name = "{name}"
objectives = ["accuracy", "avg_weight_bits"]
trials = 6
baselines = []
[workload]
name = "tiny_workload:slow_workload"
[space]
kinds = ["fixed"]
w_bits = [2, 3, 4, 5, 6, 8]
a_bits = {a_bits}
first_last = "search"
[hardware]
model = "systolic"
device = "XCVU9P"
search = []
[finetune]
epochs = {epochs}
"""

@pytest.mark.slow
def test_sigkill_mid_trial_loses_nothing(tmp_path, fixture_env):
    cfg = tmp_path / "slow.toml"
    cfg.write_text(_slow_study("killme", a_bits="[8]", epochs=3))
    storage = str(tmp_path / "runs" / "s.journal")
    args = ("search", str(cfg), "--storage", storage, "--quiet", "--no-report")
    killed_number = None
    for _ in range(3):  # a kill that lands in the instant between two trials hits no trial: try again
        p = dse(*args, env=fixture_env, cwd=tmp_path)
        _kill_mid_trial(p, storage, "killme")
        # what the kill interrupted, read after the process is gone (no timing window)
        running = [t for t in optuna.load_study(study_name="killme", storage=open_storage(storage).storage)
                   .get_trials() if t.state == TrialState.RUNNING]
        assert len(running) <= 1
        if running:
            killed_number = running[0].number
            break
    assert killed_number is not None, "three kills in a row missed every trial"
    handle = open_storage(storage)
    before = {t.number: t.values for t in optuna.load_study(study_name="killme", storage=handle.storage).get_trials()
              if t.state == TrialState.COMPLETE}
    p = dse(*args, env=fixture_env, cwd=tmp_path)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    trials = optuna.load_study(study_name="killme", storage=open_storage(storage).storage).get_trials()
    by_number = {t.number: t for t in trials}
    for n, values in before.items():
        assert by_number[n].state == TrialState.COMPLETE and by_number[n].values == values
    assert by_number[killed_number].state == TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed_number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == by_number[killed_number].params
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(trials) == 6 + len(failed)  # the budget, plus each failed attempt that was retried


def _kill_mid_trial(p, storage: str, name: str) -> None:
    """SIGKILL ``p`` as soon as a trial after two completed ones is running."""
    handle = open_storage(storage)
    deadline = time.time() + 300
    while time.time() < deadline:
        time.sleep(0.2)
        try:
            trials = optuna.load_study(study_name=name, storage=handle.storage).get_trials()
        except KeyError:
            continue
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        running = [t for t in trials if t.state == TrialState.RUNNING and "point" in t.user_attrs]
        if len(complete) >= 2 and running:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
            return
        assert p.poll() is None, p.communicate()
    raise AssertionError("never saw a running trial after two completed ones")



@pytest.mark.slow
def test_search_jobs_2_runs_worker_0_in_the_search_process(tmp_path, fixture_env):
    """`dse search --jobs 2` runs worker 0 in its own process (already started up) and spawns
    the other: exactly the budget, both ran trials, no point evaluated twice."""
    cfg = tmp_path / "slow.toml"
    cfg.write_text(_slow_study("jobs2", a_bits="[4, 8]", epochs=1))
    storage = str(tmp_path / "runs" / "j.journal")
    p = dse("search", str(cfg), "--storage", storage, "--jobs", "2", "--quiet", "--no-report", env=fixture_env,
            cwd=tmp_path)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    trials = optuna.load_study(study_name="jobs2", storage=open_storage(storage).storage).get_trials()
    assert sorted(t.number for t in trials) == list(range(6))
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    pids = {t.user_attrs["worker"]["pid"] for t in trials}
    assert len(pids) == 2 and p.pid in pids, pids
    evaluated = [t.user_attrs["point_key"] for t in trials if "duplicate_of" not in t.user_attrs]
    assert len(evaluated) == len(set(evaluated)), "an identical point was evaluated twice"


@pytest.mark.slow
def test_spawned_workers_of_a_hardware_only_study_use_the_parents_resolved_config(tmp_path):
    """`run_processes(resolved=...)` hands a hardware-only study's resolved config to the
    spawned workers (no re-trace, no torch import there): they sample the space they were
    given, here one whose device differs from the stored config's, and still run exactly the
    budget without evaluating a point twice."""
    import tomllib
    from dataclasses import replace

    from dse.config import parse_config
    from dse.study import open_study, resolve
    from dse.study.launch import run_processes

    raw = tomllib.loads(HW_STUDY)
    cfg = replace(parse_config(raw), trials=30, name="handed")
    handle = open_storage(str(tmp_path / "h.journal"))
    open_study(handle, cfg, raw, resolve(cfg))
    other = resolve(replace(cfg, hardware=replace(cfg.hardware, device="XCZU9EG")))
    run_processes(handle.url, "handed", 2, cfg.seed, None, 30, resolved=other)
    trials = optuna.load_study(study_name="handed", storage=handle.storage).get_trials()
    assert sorted(t.number for t in trials) == list(range(30))
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    spawned = [t for t in trials if t.user_attrs["worker"]["pid"] != os.getpid()]
    assert spawned and {t.user_attrs["point"]["hardware"]["device"] for t in spawned} == {"XCZU9EG"}
    evaluated = [t.user_attrs["point_key"] for t in trials if "duplicate_of" not in t.user_attrs]
    assert len(evaluated) == len(set(evaluated))
