"""TPE sees screened-out trials as infeasible (issue 13): Optuna 5's TPE fills its "good" group
with PRUNED trials when too few feasible ones are COMPLETE, oldest first for screened-out ones
(no intermediate values); in the sampler's view they now rank after every measured trial."""

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from dse.record import STATUS_SCREENED
from dse.study.run import SCREENED_VIOLATION, TPE_WINDOW, WindowedSampler, make_sampler

split = pytest.importorskip("optuna.samplers._tpe.sampler")._split_trials


def _study(n_screened: int, n_complete: int, n_infeasible: int) -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "minimize"])
    dist = {"x": IntDistribution(0, 100)}
    for i in range(n_screened):
        study.add_trial(create_trial(state=TrialState.PRUNED, params={"x": i}, distributions=dist,
                                     user_attrs={"status": STATUS_SCREENED}))
    for i in range(n_complete):
        study.add_trial(create_trial(state=TrialState.COMPLETE, values=[0.9 + i / 100, 10 - i], params={"x": 50 + i},
                                     distributions=dist, user_attrs={"status": "complete"},
                                     system_attrs={"constraints:accuracy": -0.1}))
    for i in range(n_infeasible):  # e.g. fine-tuned below an accuracy cap: PRUNED with a violation
        study.add_trial(create_trial(state=TrialState.PRUNED, params={"x": 80 + i}, distributions=dist,
                                     user_attrs={"status": "infeasible"}, system_attrs={"constraints:accuracy": 0.01 * (i + 1)}))
    return study


def test_screened_out_trials_join_the_good_group_only_after_every_measured_trial():
    study = _study(n_screened=20, n_complete=3, n_infeasible=4)
    sampler = WindowedSampler(optuna.samplers.TPESampler(seed=0), TPE_WINDOW)
    probe = study.ask()
    view = sampler._view(study, study._storage.get_trial(probe._trial_id))
    trials = view._get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    screened = [t for t in trials if t.user_attrs.get("status") == STATUS_SCREENED]
    assert len(screened) == 20 and all(t.constraints == {"screened_out": SCREENED_VIOLATION} for t in screened)
    below, _ = split(view, trials, n_below=6)
    assert [t.user_attrs["status"] for t in below].count("screened out") == 0 and len(below) == 6
    below, _ = split(view, trials, n_below=10)  # only 7 measured: 3 screened-out ones fill the rest
    assert [t.user_attrs["status"] for t in below].count("screened out") == 3
    # Optuna on the study itself: the oldest screened-out trials fill the rest of the good group
    below_raw, _ = split(study, study._get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)), 10)
    assert [t.number for t in below_raw if t.user_attrs["status"] == STATUS_SCREENED] == [0, 1, 2, 3, 4, 5, 6]
    # the storage is untouched, and a study without screened-out trials is handed over as it is
    assert all(t.constraints == {} for t in study.get_trials() if t.user_attrs.get("status") == STATUS_SCREENED)
    plain = _study(0, 3, 2)
    p = plain.ask()
    assert sampler._view(plain, plain._storage.get_trial(p._trial_id)) is plain


def test_the_default_tpe_samples_with_screened_out_trials():
    study = _study(n_screened=30, n_complete=3, n_infeasible=2)
    study.sampler = make_sampler("tpe", 0, 2)
    t = study.ask()
    assert 0 <= t.suggest_int("x", 0, 100) <= 100
