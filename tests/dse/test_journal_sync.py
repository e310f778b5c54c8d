"""Which journal appends reach the disk before returning (dse/study/journal.py, issue 13
H-scale2): creating a RUNNING trial is not fsynced; a queued or COMPLETE trial and every state
change are, and each fsync runs after the file lock is released (another process can append
meanwhile)."""

import fcntl
import os

import optuna

from dse.study.storage import open_storage


def test_fsync_only_what_must_survive_and_outside_the_lock(tmp_path, monkeypatch):
    path = tmp_path / "s.journal"
    study = optuna.create_study(storage=open_storage(str(path)).storage, study_name="s")
    synced = []

    def fsync(fd):
        other = os.open(path, os.O_RDWR)
        try:  # fails with BlockingIOError if the writer still held the file lock
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(other, fcntl.LOCK_UN)
        finally:
            os.close(other)
        synced.append(path.read_bytes().count(b"\n"))

    monkeypatch.setattr(os, "fsync", fsync)
    trial = study.ask()
    trial.suggest_int("x", 0, 9)
    trial.set_user_attr("note", "detail")
    assert synced == []                       # create (RUNNING), param, user attr: no fsync
    study.tell(trial, 1.0)
    assert synced == [5]                      # the state: fsynced, with everything before it
    study.enqueue_trial({"x": 3})
    assert synced == [5, 6]                   # a queued trial must survive: fsynced
    dist = {"x": optuna.distributions.IntDistribution(0, 9)}
    study.add_trial(optuna.trial.create_trial(params={"x": 4}, distributions=dist, value=2.0))
    assert synced == [5, 6, 7]                # a trial added COMPLETE: fsynced
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE", "WAITING", "COMPLETE"]
