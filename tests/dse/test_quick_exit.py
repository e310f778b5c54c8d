"""A command run from the shell that loaded torch ends without the interpreter's teardown
(~0.85 s; issue 13), having written everything: the study, the report, its output."""

import json
import os
import subprocess
import sys

import optuna

TOML = """
[study]
name = "qe"
objectives = ["accuracy", "latency_s"]
trials = 3
baselines = []
[workload]
name = "digits"
[space]
kinds = ["fixed"]
w_bits = [4, 8]
a_bits = [8]
[hardware]
model = "bitserial"
search = []
[finetune]
epochs = 1
"""

# the command as the console script runs it (argv from the shell), with an exit handler that
# says whether the interpreter's teardown ran
RUN = ("import atexit, sys; atexit.register(lambda: print('TEARDOWN', file=sys.stderr)); "
       "from dse.cli import main; sys.argv = ['dse'] + sys.argv[1:]; sys.exit(main())")


def _dse(args, cwd):
    return subprocess.run([sys.executable, "-c", RUN, *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_search_that_trains_skips_teardown_and_writes_everything(tmp_path):
    (tmp_path / "s.toml").write_text(TOML)
    p = _dse(["search", "s.toml", "--storage", "j.log", "--report", "r.html"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "TEARDOWN" not in p.stderr and "pareto set" in p.stdout.lower()  # stdout flushed before the exit
    assert (tmp_path / "r.html").stat().st_size > 10_000
    from dse.study.storage import open_storage

    trials = optuna.load_study(study_name="qe", storage=open_storage(str(tmp_path / "j.log")).storage).get_trials()
    assert len(trials) == 3 and all(t.state.is_finished() for t in trials)
    assert all(json.dumps(t.user_attrs) for t in trials)


def test_commands_without_torch_exit_normally(tmp_path):
    p = _dse(["hw", "list"], tmp_path)
    assert p.returncode == 0 and "TEARDOWN" in p.stderr
    bad = _dse(["search", "missing.toml"], tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 2  # the one line, then TEARDOWN
