"""Review of the batching journal storage (issue 13 product changes): a held record stays what
this process reads after the file's records are read back, and a record JSON cannot hold is
refused at its own write, as Optuna's storage refuses it."""

from __future__ import annotations

import numpy as np
import pytest
from optuna.distributions import FloatDistribution
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.study import StudyDirection

from dse.study.journal import JournalFile, journal_storage

FLOAT = FloatDistribution(0, 1)


def _setup(path):
    a = journal_storage(JournalFile(path))
    sid = a.create_new_study([StudyDirection.MINIMIZE], "s")
    return a, sid, a.create_new_trial(sid)


def test_a_flushed_value_read_back_does_not_hide_a_newer_held_one(tmp_path):
    path = tmp_path / "j.log"
    a, sid, tid = _setup(path)
    with a.batch():
        a.set_trial_user_attr(tid, "k", 1)
        a.set_trial_intermediate_value(tid, 0, 0.5)
        a.flush()  # as the claim of a point is flushed under the lock
        a.set_trial_user_attr(tid, "k", 2)  # held
        a.set_trial_intermediate_value(tid, 0, 0.25)  # held
        a.get_all_trials(sid)  # any read: the flushed records come back from the file
        assert a.get_trial(tid).user_attrs == {"k": 2}
        assert a.get_all_trials(sid, deepcopy=False)[0].intermediate_values == {0: 0.25}
    with a.batch():  # a batch's end appends without reading back; the next batch holds a newer value
        a.set_trial_user_attr(tid, "k", 3)
        a.get_all_trials(sid)
        assert a.get_trial(tid).user_attrs == {"k": 3}
    assert a.get_trial(tid).user_attrs == {"k": 3}
    t = JournalStorage(JournalFileBackend(str(path))).get_trial(tid)
    assert t.user_attrs == {"k": 3} and t.intermediate_values == {0: 0.25}


def test_a_value_json_cannot_hold_is_refused_at_its_write_and_drops_nothing_else(tmp_path):
    ref = JournalStorage(JournalFileBackend(str(tmp_path / "ref.log")))  # Optuna's own storage
    rid = ref.create_new_trial(ref.create_new_study([StudyDirection.MINIMIZE], "s"))
    with pytest.raises(TypeError):
        ref.set_trial_user_attr(rid, "bad", np.float32(1.0))
    path = tmp_path / "j.log"
    a, sid, tid = _setup(path)
    with a.batch():
        a.set_trial_param(tid, "x", 0.25, FLOAT)
        with pytest.raises(TypeError):  # at the write, as Optuna's storage raises it
            a.set_trial_user_attr(tid, "bad", np.float32(1.0))
        a.set_trial_user_attr(tid, "ok", 1)
    mine = a.get_trial(tid)
    t = JournalStorage(JournalFileBackend(str(path))).get_trial(tid)
    assert t.params == mine.params == {"x": 0.25}
    assert t.user_attrs == mine.user_attrs == {"ok": 1}  # the other held records reached the file
