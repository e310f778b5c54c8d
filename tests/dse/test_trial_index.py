"""dse.study.summary.TrialIndex (issue 13, H-scale2): the worker loop's incremental budget count
and duplicate lookup give exactly the answers of a scan over every trial, on a real journal
storage whose trials change state between updates (queued, running, keyed late, failed and
retried)."""

import random

import optuna
import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from dse.record import TrialRecord
from dse.study.storage import open_storage
from dse.study.summary import TrialIndex, counted_trials

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # the retry callback

LIVE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


def scan_holder(trials, key, number):
    return next((t for t in trials if TrialRecord.get(t, "point_key") == key and t.number != number
                 and t.state in LIVE), None)


def check(index, study):
    trials = study.get_trials(deepcopy=False)
    index.update(trials)
    assert index.counted == counted_trials(trials)
    assert index.waiting(trials) == any(t.state == TrialState.WAITING for t in trials)
    assert [t.number for t in index.running(trials)] == [t.number for t in trials if t.state == TrialState.RUNNING]
    for key in [f"k{i}" for i in range(6)]:
        for number in (-1, *range(len(trials))):
            want, got = scan_holder(trials, key, number), index.holder(key, number, trials)
            assert (want and want.number) == (got and got.number)


def test_index_matches_full_scans_as_trials_change(tmp_path):
    rng = random.Random(0)
    study = optuna.create_study(storage=open_storage(str(tmp_path / "s.journal")).storage, study_name="s")
    index, other = TrialIndex(), TrialIndex()  # `other` is updated rarely: it must catch up exactly
    study.enqueue_trial({"x": 1.0})
    running: list = []
    seen: set = set()  # states trials were in at some step
    retry = RetryHeartbeatStaleTrialCallback(max_retry=2)  # as dse.study.run.recover_stale uses it
    for step in range(120):
        action = rng.random()
        if action < 0.45 or not running:
            trial = study.ask()
            trial.suggest_float("x", 0, 10)
            if rng.random() < 0.7:  # most trials store their key at once, some only later
                TrialRecord.write(trial, point_key=f"k{rng.randrange(6)}")
            running.append(trial)
        else:
            trial = running.pop(rng.randrange(len(running)))
            if "point_key" not in study._storage.get_trial(trial._trial_id).user_attrs and rng.random() < 0.5:
                TrialRecord.write(trial, point_key=f"k{rng.randrange(6)}")
                running.append(trial)
            elif action < 0.75:
                study.tell(trial, 1.0)
            elif action < 0.85:
                study.tell(trial, state=TrialState.PRUNED)
            else:  # a crashed worker's trial: failed and queued again (copies its key)
                study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
                retry(study, study._storage.get_trial(trial._trial_id))
        check(index, study)
        seen |= {t.state for t in study.get_trials(deepcopy=False)}
        if step % 17 == 0:
            check(other, study)
    check(other, study)
    assert {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.WAITING, TrialState.RUNNING} <= seen
    assert index.counted < len(study.get_trials(deepcopy=False))  # retries happened and are not counted
