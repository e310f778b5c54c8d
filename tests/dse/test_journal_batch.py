"""A journal storage holds a trial's detail records inside ``batch()`` and appends them together
(issue 13: ~40 locked appends and file re-reads per hardware-only trial were a fifth of a trial
with two workers). What the file ends up holding is what Optuna's own storage reads back; the
writing process sees its held records at once, other processes when they are appended."""

from __future__ import annotations

import random

import optuna
import pytest
from optuna.exceptions import UpdateFinishedTrialError
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.study import StudyDirection
from optuna.trial import TrialState

from dse.config import parse_config
from dse.study import open_study, resolve, run_worker
from dse.study.journal import JournalFile, journal_storage
from dse.study.storage import open_storage

FLOAT, INT, CAT = FloatDistribution(0, 1), IntDistribution(1, 8), CategoricalDistribution(["a", "b", "c"])


def _lines(path) -> int:
    return sum(1 for _ in open(path, "rb"))


def _view(storage, study_id):
    return [(t.number, t.state, t.values, t.params, t.user_attrs, t.system_attrs)
            for t in storage.get_all_trials(study_id, deepcopy=False)]


def test_held_records_are_seen_here_at_once_and_elsewhere_after_flush(tmp_path):
    path = tmp_path / "j.log"
    a, b = journal_storage(JournalFile(path)), journal_storage(JournalFile(path))
    sid = a.create_new_study([StudyDirection.MINIMIZE], "s")
    tid = a.create_new_trial(sid)
    before = _lines(path)
    with a.batch():
        a.set_trial_param(tid, "x", 0.25, FLOAT)
        a.set_trial_param(tid, "k", 3, INT)
        a.set_trial_user_attr(tid, "point", {"x": 0.25})
        a.set_trial_system_attr(tid, "sys", [1.0])
        a.set_trial_intermediate_value(tid, 0, 0.5)
        assert _lines(path) == before  # nothing appended yet
        mine = a.get_trial(tid)
        assert mine.params == {"x": 0.25, "k": 3} and mine.user_attrs == {"point": {"x": 0.25}}
        assert mine.system_attrs == {"sys": [1.0]} and mine.intermediate_values == {0: 0.5}
        assert b.get_trial(tid).params == {}  # another worker sees nothing held
    assert _lines(path) == before + 5
    optuna_view = JournalStorage(JournalFileBackend(str(path)))
    assert _view(a, sid) == _view(b, sid) == _view(optuna_view, sid)


def test_a_state_write_carries_the_held_records_in_the_same_append(tmp_path, monkeypatch):
    path = tmp_path / "j.log"
    appends: list[list[int]] = []
    real = JournalFile.append_logs
    monkeypatch.setattr(JournalFile, "append_logs", lambda self, logs: (appends.append([l["op_code"] for l in logs]),
                                                                        real(self, logs))[1])
    s = journal_storage(JournalFile(path))
    sid = s.create_new_study([StudyDirection.MINIMIZE], "s")
    tid = s.create_new_trial(sid)
    appends.clear()
    with s.batch():
        s.set_trial_param(tid, "c", 1, CAT)
        s.set_trial_user_attr(tid, "status", "complete")
        s.set_trial_state_values(tid, TrialState.COMPLETE, [1.5])
        assert appends == [[5, 8, 6]]  # details first, then the state, one locked append
        with pytest.raises(UpdateFinishedTrialError):  # Optuna's error; the record is not written
            s.set_trial_user_attr(tid, "late", 1)
    t = JournalStorage(JournalFileBackend(str(path))).get_trial(tid)
    assert t.state == TrialState.COMPLETE and t.params == {"c": "b"} and t.values == [1.5]
    assert t.user_attrs == {"status": "complete"}


def _script(path, batched: bool, seed: int, steps: int = 300):
    """Two writers on one file, each writing only its own trials (as workers do), inside random
    batches when ``batched``; the same random choices either way."""
    rng = random.Random(seed)
    writers = [journal_storage(JournalFile(path)) for _ in range(2)]
    sid = writers[0].create_new_study([StudyDirection.MINIMIZE], "s")
    own: list[list[int]] = [[], []]
    dists = {"f": FLOAT, "i": INT, "c": CAT}
    open_batches = [None, None]
    for step in range(steps):
        w = rng.randrange(2)
        s = writers[w]
        toggle = rng.random() < 0.2  # drawn either way: the same choices follow
        if batched and toggle:  # open or close this writer's batch
            if open_batches[w] is None:
                open_batches[w] = s.batch()
                open_batches[w].__enter__()
            else:
                open_batches[w].__exit__(None, None, None)
                open_batches[w] = None
        op = rng.random()
        if op < 0.2 or not own[w]:
            own[w].append(s.create_new_trial(sid))
            continue
        tid = rng.choice(own[w])
        if s.get_trial(tid).state.is_finished():
            continue
        if op < 0.7:
            name = rng.choice(list(dists))
            d = dists[name]
            value = d.choices[rng.randrange(3)] if name == "c" else (rng.random() if name == "f" else rng.randint(1, 8))
            s.set_trial_param(tid, name, d.to_internal_repr(value), d)
        elif op < 0.85:
            s.set_trial_user_attr(tid, f"u{rng.randrange(3)}", step)
        elif op < 0.9:
            s.set_trial_system_attr(tid, "sys", step)
        else:
            s.set_trial_state_values(tid, TrialState.COMPLETE, [float(step)])
    for w, b in enumerate(open_batches):
        if b is not None:
            b.__exit__(None, None, None)
    return sid, writers


def test_batched_writers_leave_the_file_unbatched_writers_leave(tmp_path):
    for seed in range(4):
        plain, held = tmp_path / f"plain{seed}.log", tmp_path / f"held{seed}.log"
        sid, _ = _script(plain, False, seed)
        sid2, writers = _script(held, True, seed)
        want = _view(JournalStorage(JournalFileBackend(str(plain))), sid)
        got = _view(JournalStorage(JournalFileBackend(str(held))), sid2)
        assert got == want and len(want) > 20
        assert _view(writers[0], sid2) == _view(writers[1], sid2) == want
        assert _lines(held) == _lines(plain)  # the same records, fewer appends


def test_a_worker_appends_a_few_times_per_trial(tmp_path, monkeypatch):
    """A hardware-only trial wrote its ~55 records in ~55 appends; now in 4: the new trial, its
    worker, the parameters with the claim, the outcome with the state."""
    appends = []
    real = JournalFile.append_logs
    monkeypatch.setattr(JournalFile, "append_logs", lambda self, logs: (appends.append(len(logs)), real(self, logs))[1])
    doc = {"study": {"name": "hw", "objectives": ["latency_s", "lut"], "trials": 30, "seed": 0, "baselines": []},
           "workload": {"name": "resnet18"}, "space": {"kinds": ["fixed", "sp2"], "w_bits": [4, 8], "a_bits": [8]},
           "hardware": {"model": "systolic", "device": "XC7Z045", "search": ["rows", "cols"]},
           "study_fidelity": None}
    doc.pop("study_fidelity")
    cfg = parse_config(doc)
    resolved = resolve(cfg)
    handle = open_storage(f"{tmp_path / 'w.log'}")
    study, _ = open_study(handle, cfg, doc, resolved)
    appends.clear()
    out = run_worker(handle, resolved, target=30, deadline=None)
    records = sum(appends)
    trials = optuna.load_study(study_name="hw", storage=handle.storage).get_trials()
    assert out.ran == 30 and len(trials) == 30 and all(t.state.is_finished() for t in trials)
    assert len(trials[0].params) > 5 and records / 30 > 20  # many records per trial ...
    assert len(appends) / 30 <= 4.5  # ... in about four appends


def test_inside_a_batch_the_running_trial_is_read_without_reading_the_file(tmp_path, monkeypatch):
    path = tmp_path / "j.log"
    reads = []
    real = JournalFile.read_logs
    monkeypatch.setattr(JournalFile, "read_logs", lambda self, n: (reads.append(n), real(self, n))[1])
    a, b = journal_storage(JournalFile(path)), journal_storage(JournalFile(path))
    sid = a.create_new_study([StudyDirection.MINIMIZE], "s")
    mine = a.create_new_trial(sid)
    other = b.create_new_trial(sid)
    with a.batch():
        a.set_trial_user_attr(mine, "k", 1)
        reads.clear()
        assert a.get_trial(mine).user_attrs == {"k": 1} and reads == []  # this worker's running trial
        b.set_trial_user_attr(other, "x", 2)
        reads.clear()
        assert a.get_trial(other).user_attrs == {"x": 2} and len(reads) == 1  # another's: read as before
    reads.clear()
    assert a.get_trial(mine).user_attrs == {"k": 1} and len(reads) == 1  # outside a batch: as Optuna


def test_a_refused_held_record_writes_nothing_and_skips_nothing(tmp_path):
    """Optuna refuses an update of a finished trial: inside a batch it raises before anything is
    held, and this worker still reads every record other workers append after it."""
    path = tmp_path / "j.log"
    a, b = journal_storage(JournalFile(path)), journal_storage(JournalFile(path))
    sid = a.create_new_study([StudyDirection.MINIMIZE], "s")
    done = a.create_new_trial(sid)
    a.set_trial_state_values(done, TrialState.COMPLETE, [1.0])
    before = _lines(path)
    with a.batch():
        with pytest.raises(UpdateFinishedTrialError):
            a.set_trial_user_attr(done, "late", 1)
    assert _lines(path) == before
    other = b.create_new_trial(sid)
    b.set_trial_user_attr(other, "x", 1)
    assert a.get_trial(other).user_attrs == {"x": 1}  # the record right after was not skipped
