"""The faster journal replay (dse.study.journal.journal_storage) gives exactly Optuna's result:
the same trials from the same file, and the same errors for the writer (issue 13, H3-scale)."""

import random

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages.journal import JournalStorage
from optuna.study import StudyDirection
from optuna.trial import TrialState, create_trial

from dse.study.journal import JournalFile, journal_storage

DISTS = [FloatDistribution(0, 1), FloatDistribution(0, 2), IntDistribution(1, 8), CategoricalDistribution(["a", "b"]),
         CategoricalDistribution(["a", "b", "c"]), CategoricalDistribution([2, 4, 8])]


def _value(d):
    return d.choices[0] if isinstance(d, CategoricalDistribution) else d.low


def _script(path, make, seed=0, steps=400):
    """Two writers (two storages on one file, as two workers) doing random things; returns the
    outcome of every step (None or the exception type)."""
    rng = random.Random(seed)
    writers = [make(JournalFile(path)) for _ in range(2)]
    a = writers[0].create_new_study([StudyDirection.MINIMIZE], "a")
    b = writers[1].create_new_study([StudyDirection.MINIMIZE], "b")
    gone = writers[0].create_new_study([StudyDirection.MINIMIZE], "gone")
    running: list[tuple[int, int]] = []  # (writer, trial id)
    outcomes = []
    for step in range(steps):
        w = rng.randrange(2)
        s = writers[w]
        op = rng.random()
        try:
            if op < 0.15 or not running:
                study = rng.choice([a, a, b, gone])
                running.append((w, s.create_new_trial(study)))
            elif op < 0.75:
                _, tid = rng.choice(running)
                d = rng.choice(DISTS)
                s.set_trial_param(tid, f"p{rng.randrange(5)}", d.to_internal_repr(_value(d)), d)
            elif op < 0.85:
                _, tid = rng.choice(running)
                s.set_trial_state_values(tid, TrialState.COMPLETE, [rng.random()])
            elif op < 0.92:  # a retried trial: created WAITING with the failed one's parameters
                _, tid = rng.choice(running)
                t = s.get_trial(tid)
                s.create_new_trial(a, template_trial=create_trial(state=TrialState.WAITING, params=t.params,
                                                                  distributions=t.distributions))
            elif op < 0.95 and step > 100 and gone is not None:
                s.delete_study(gone)
                gone = None
            else:
                _, tid = rng.choice(running)
                s.set_trial_user_attr(tid, "k", step)
            outcomes.append(None)
        except Exception as e:  # the writer's own invalid records raise, as in Optuna
            outcomes.append(type(e).__name__)
    return outcomes


def _trials(storage):
    out = []
    for study in storage.get_all_studies():
        for t in storage.get_all_trials(study._study_id, deepcopy=False):
            out.append((study.study_name, t.number, t.state, t.params, t.distributions, t.user_attrs, t.values))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_replay_reads_and_writes_as_optuna_does(tmp_path, seed):
    theirs, ours = tmp_path / "optuna.journal", tmp_path / "dse.journal"
    by_optuna = _script(theirs, JournalStorage, seed)
    by_us = _script(ours, journal_storage, seed)
    assert by_us == by_optuna
    assert any(o is not None for o in by_optuna), "the script must exercise rejected records"
    # the same file read back by either replay gives the same trials
    for path in (theirs, ours):
        reference = _trials(JournalStorage(JournalFile(path)))
        assert _trials(journal_storage(JournalFile(path))) == reference
        assert len(reference) > 50 and any(t[3] for t in reference)
