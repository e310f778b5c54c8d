"""Two workers on one study (issue 13, H3-scale): workers started ahead of the search's own
start-up, handed the parent's traced workload and data, and stopped when they get no work."""

import os
import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState

from dse.study.launch import Prestarted
from dse.study.storage import open_storage

COUNTING_WORKLOAD = '''
"""A user workload that logs every build of its data set (one line per call, with the pid)."""
import os

import torch
from torch import nn

from dse.workloads import TensorData, WorkloadBundle


def _data():
    with open(os.environ["DSE_TEST_DATA_LOG"], "a") as f:
        f.write(f"{os.getpid()}\\n")
    w = torch.randn(16, 4, generator=torch.Generator().manual_seed(1234))
    x = torch.randn(40000, 16, generator=torch.Generator().manual_seed(0))  # trials of ~1 s: both workers get some
    xv = torch.randn(256, 16, generator=torch.Generator().manual_seed(1))
    return TensorData(x, (x @ w).argmax(1)), TensorData(xv, (xv @ w).argmax(1))


def workload():
    return WorkloadBundle(name="counting", model_factory=lambda: nn.Sequential(nn.Linear(16, 32), nn.ReLU(),
                                                                              nn.Linear(32, 4)),
                          example_input=torch.zeros(1, 16), num_classes=4, pretrain_epochs=2, pretrain_lr=1e-2,
                          data_factory=_data)
'''

STUDY = """
[study]
name = "counted"
objectives = ["accuracy", "avg_weight_bits"]
trials = 8
baselines = []
[workload]
name = "counting_workload:workload"
[space]
kinds = ["fixed"]
w_bits = [2, 3, 4, 5, 6, 8]
a_bits = [4, 8]
first_last = "search"
[hardware]
model = "systolic"
device = "XCVU9P"
search = []
[finetune]
epochs = 1
"""


def test_prestarted_workers_without_work_are_stopped():
    """Workers started ahead that get no work (the search stopped on a mistake, or had nothing
    to run) are stopped, and a worker that was taken is handed over, not stopped."""
    ahead = Prestarted(2, trains=False)
    procs = [w.process for w in ahead._waiting]
    assert all(p.is_alive() for p in procs)
    taken = ahead.take(1)
    assert len(taken) == 1 and taken[0].process is procs[0]
    assert not procs[1].is_alive() and taken[0].process.is_alive()
    taken[0].stop()
    ahead.close()
    assert not any(p.is_alive() for p in procs)


@pytest.mark.slow
def test_search_jobs_2_hands_its_data_to_the_worker(tmp_path, fixture_env):
    """`dse search --jobs 2` on a study that trains: the spawned worker gets the parent's data
    set and traced workload instead of building them again (the data is built once, in the
    search process), runs trials, and the budget is exact with no point evaluated twice."""
    (tmp_path / "counting_workload.py").write_text(COUNTING_WORKLOAD)
    (tmp_path / "study.toml").write_text(STUDY)
    log = tmp_path / "data.log"
    env = dict(fixture_env, DSE_TEST_DATA_LOG=str(log))
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    storage = str(tmp_path / "s.journal")
    p = subprocess.run([sys.executable, "-m", "dse", "search", "study.toml", "--storage", storage, "--jobs", "2",
                        "--quiet", "--no-report"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr
    trials = optuna.load_study(study_name="counted", storage=open_storage(storage).storage).get_trials()
    assert sorted(t.number for t in trials) == list(range(8))
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    pids = {t.user_attrs["worker"]["pid"] for t in trials}
    assert len(pids) == 2, "both workers must have run trials"
    builders = log.read_text().split()
    assert len(builders) == 1 and int(builders[0]) in pids, builders
    evaluated = [t.user_attrs["point_key"] for t in trials if "duplicate_of" not in t.user_attrs]
    assert len(evaluated) == len(set(evaluated))


def test_search_jobs_2_with_a_bad_config_leaves_no_worker_behind(tmp_path):
    """A mistake found after the workers were started ahead: exit 2, one line, nothing
    written, and the started workers are gone when the command returns."""
    bad = tmp_path / "bad.toml"
    bad.write_text(STUDY.replace('device = "XCVU9P"', 'device = "NOPE"'))
    storage = tmp_path / "s.journal"
    p = subprocess.run([sys.executable, "-c", "import sys, multiprocessing as mp\n"
                        "from dse.cli import main\n"
                        "rc = main()\n"
                        "print(len(mp.active_children()))\n"
                        "sys.exit(rc)\n",
                        "search", str(bad), "--storage", str(storage), "--jobs", "2", "--quiet"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "hardware.device" in p.stderr, p.stderr
    assert p.stdout.strip() == "0", "a worker started ahead outlived the command"
    assert not storage.exists()


def test_several_local_workers_get_one_torch_thread_each():
    """With several workers on this machine, worker 0 (this process) runs with one torch
    thread (so two workers on two cores do not oversubscribe them outside training), and the
    process's own setting is back afterwards."""
    import torch

    from dse.study.launch import run_processes

    before = torch.get_num_threads()
    torch.set_num_threads(2)  # what an unpinned process gets on a 2-core machine
    seen = []
    try:
        run_processes("unused.journal", "unused", 1, 0, None, 1,
                      in_process=lambda: seen.append(torch.get_num_threads()))
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert seen == [1] and after == 2
