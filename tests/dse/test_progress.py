"""The search's progress line (dse/progress.py) under a real pseudo-terminal at 80 columns
and on a plain stream: it never shows more done than the budget, never wraps, and counts
feasible trials, the front and the best values from the trials it is fed."""

import fcntl
import io
import os
import pty
import re
import struct
import termios

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from dse.progress import Progress, complete_message

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def trial(number, values, feasible=True, state=TrialState.COMPLETE, **attrs):
    t = optuna.trial.create_trial(params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)},
                                  values=values if state == TrialState.COMPLETE else None, state=state,
                                  user_attrs=attrs, constraints={"fits_device": -1.0 if feasible else 0.5})
    t.number = number
    return t


def tick():
    """A fake clock that moves 1 s per call: every redraw is due."""
    t = [0.0]

    def clock():
        t[0] += 1.0
        return t[0]
    return clock


def feed(progress):
    objs = [(1e-3, 9000.0, 0.91), (2e-3, 4000.0, 0.88), (0.5e-3, 20000.0, 0.93), (3e-3, 12000.0, 0.80)]
    for k in range(34):  # 4 more than the budget of 30: other workers finished some
        v = objs[k % 4]
        if k % 5 == 4:
            progress(None, trial(k, None, state=TrialState.PRUNED))
        elif k % 7 == 6:
            progress(None, trial(k, list(v), feasible=False))
        else:
            progress(None, trial(k, [v[0] * (1 + k / 100), v[1], v[2]]))
    progress.close()


def test_progress_on_a_pseudo_terminal_at_80_columns():
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    out = os.fdopen(slave, "w", buffering=1)
    p = Progress(30, 0, ["latency_s", "lut", "accuracy"], stream=out, clock=tick())
    assert p.tty and p._columns() == 80
    feed(p)
    out.close()
    data = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    os.close(master)
    frames = [ANSI.sub("", f) for f in data.decode().replace("\r\n", "\n").replace("\n", "\r").split("\r") if f.strip()]
    assert len(frames) >= 30
    for f in frames:
        assert len(f) <= 79, f
        m = re.match(r"trials (\d+)/(\d+)", f)
        assert m and int(m.group(1)) <= int(m.group(2)) == 30, f
    last = frames[-1]
    assert last.startswith("trials 30/30 (+4 by other workers)")
    # 34 trials: 6 pruned (k % 5 == 4) and infeasible ones (k % 7 == 6, not pruned) do not count
    feasible = sum(1 for k in range(34) if k % 5 != 4 and k % 7 != 6)
    assert f"feasible {feasible}" in last
    assert p.feasible == feasible
    # best latency: 0.5 ms * (1 + k/100) at the first k = 2
    assert p.best()[0][1] == 0.5e-3 * 1.02 and p.best()[2][1] == 0.93


def test_progress_without_a_terminal_prints_plain_lines():
    buf = io.StringIO()
    p = Progress(30, 0, ["latency_s", "lut", "accuracy"], stream=buf, clock=tick())
    assert not p.tty
    feed(p)
    text = buf.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert 5 <= len(lines) <= 12  # one per 10 % of the budget, and the last
    assert all(int(re.match(r"trials (\d+)/30", ln).group(1)) <= 30 for ln in lines)
    assert lines[-1].endswith("| best latency_s 510 us, lut 4000, accuracy 93.0%")


def test_narrow_terminals_drop_the_best_values_before_wrapping():
    p = Progress(2000, 120, ["latency_s", "lut", "dsp", "avg_weight_bits"], stream=io.StringIO(), width=80)
    for k in range(5):
        p(None, trial(k, [1e-3 * (k + 1), 1000.0 * (5 - k), 10.0, 4.0]))
    for w in (80, 60, 45):
        line = p.line(width=w)
        assert len(line) <= w - 1 and line.startswith("trials 125/2000")
    assert p.line(width=200).endswith("| best latency_s 1 ms, lut 1000, dsp 10, avg_weight_bits 4")
    assert p.line(width=80).endswith("| best lat 1 ms, lut 1000, ...")


def test_complete_study_message_names_the_way_to_extend():
    msg = complete_message("demo", 30, 30, "dse search demo.toml")
    assert msg.startswith("study 'demo' is complete: 30 of 30 trials done")
    assert msg.endswith("dse search demo.toml --trials 45")


HW_ONLY = {
    "study": {"name": "hw", "objectives": ["latency_s", "lut"], "fidelity": "none", "trials": 12},
    "workload": {"name": "resnet18"},
    "space": {"kinds": ["fixed", "sp2"], "w_bits": [4, 8], "a_bits": [8], "shared": False},
    "hardware": {"model": "systolic", "device": "XC7Z045", "ranges": {"rows": [4, 32], "cols": [4, 32]},
                 "search": ["rows", "cols", "dataflow"]},
}


def _fresh_study(tmp_path):
    from dse.config import parse_config
    from dse.study import open_study, resolve
    from dse.study.storage import open_storage

    cfg = parse_config(HW_ONLY)
    resolved = resolve(cfg)
    handle = open_storage(str(tmp_path / "s.journal"))
    study, _ = open_study(handle, cfg, HW_ONLY, resolved)
    return cfg, resolved, handle, study


def test_fresh_study_with_queued_baselines_ends_at_its_budget(tmp_path):
    """Baselines the search enqueues (WAITING) are counted once, when they finish: a fresh
    12-trial study ends "12/12", not "12/12 (+2 by other workers)"."""
    from dse.study import run_worker

    cfg, resolved, handle, study = _fresh_study(tmp_path)
    waiting = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.WAITING]
    assert len(waiting) >= 1  # the enqueued baselines
    buf = io.StringIO()
    p = Progress(cfg.trials, len(waiting), list(cfg.objectives), stream=buf, clock=tick(), study=study)
    assert p.done == 0
    run_worker(handle, resolved, cfg.trials, None, on_trial=p)
    p.close()
    last = buf.getvalue().splitlines()[-1]
    assert last.startswith("trials 12/12 [##########] | "), last
    assert "by other workers" not in buf.getvalue()
    assert p.done == 12 and p.others == 0


def test_a_second_workers_trials_show_in_the_count_and_front(tmp_path):
    """A real second worker on the same storage finishes 4 trials while the first runs: the
    first worker's progress counts them (and their points) once, and says so."""
    from dse.study import run_worker, pareto_trials

    cfg, resolved, handle, study = _fresh_study(tmp_path)
    buf = io.StringIO()
    p = Progress(cfg.trials, 0, list(cfg.objectives), stream=buf, clock=tick(), study=study)
    own = []

    def on_trial(s, t):
        own.append(t.number)
        if len(own) == 3:  # the other worker runs now, between two trials of this one
            run_worker(handle, resolved, len(s.get_trials()) + 4, None, worker_index=1, seed=99)
        p(s, t)

    run_worker(handle, resolved, cfg.trials, None, on_trial=on_trial)
    p.close()
    assert len(own) == 8 and p.others == 4 and p.done == 12
    last = buf.getvalue().splitlines()[-1]
    assert last.startswith("trials 12/12 (4 by other workers) [##########] | "), last
    front = pareto_trials(optuna.load_study(study_name="hw", storage=handle.storage))
    assert f"front {len(front)} |" in last
