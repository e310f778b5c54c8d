"""The TPE window (dse/study/run.py WindowedSampler): plain TPE up to the window, then the
newest finished trials + the feasible Pareto front of all + every unfinished trial."""

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from dse.study.run import WindowedSampler


def _objective(trial):
    x = trial.suggest_float("x", 0, 1)
    y = trial.suggest_float("y", 0, 1)
    return x + y, (1 - x) ** 2 + y


def _tpe(seed):
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True,
                                      n_startup_trials=5)


def test_below_the_window_it_samples_exactly_as_plain_tpe():
    plain = optuna.create_study(directions=["minimize", "minimize"], sampler=_tpe(3))
    plain.optimize(_objective, n_trials=25)
    windowed = optuna.create_study(directions=["minimize", "minimize"], sampler=WindowedSampler(_tpe(3), 25))
    windowed.optimize(_objective, n_trials=25)
    assert [t.params for t in windowed.trials] == [t.params for t in plain.trials]


def test_past_the_window_the_sampler_sees_the_newest_trials_the_front_and_the_unfinished():
    study = optuna.create_study(directions=["minimize", "minimize"])
    dist = {"x": FloatDistribution(0, 1)}
    # trial 0 dominates everything after it; trial 1 is on the front too (best in objective 1);
    # trial 2 is infeasible (constraint > 0) and would dominate all: it must not be kept
    values = [(0.0, 0.5), (1.0, 0.0), (-1.0, -1.0)] + [(2.0 + i, 2.0 + i) for i in range(27)]
    for i, v in enumerate(values):
        study.add_trial(create_trial(params={"x": 0.5}, distributions=dist, values=list(v),
                                     system_attrs={"constraints": [1.0 if i == 2 else 0.0]}))
    study.add_trial(create_trial(params={"x": 0.5}, distributions=dist, state=TrialState.FAIL))  # 30
    running = study.ask()  # 31, the trial being sampled
    sampler = WindowedSampler(_tpe(0), 10)
    frozen = study._storage.get_trial(running._trial_id)
    view = sampler._view(study, frozen)
    seen = [t.number for t in view._get_trials(deepcopy=False)]
    assert seen == [0, 1] + list(range(20, 30)) + [30, 31]
    assert [t.number for t in view._get_trials(deepcopy=False, states=(TrialState.COMPLETE,))] == \
        [0, 1] + list(range(20, 30))
    # the front is kept across calls and updated by new trials only
    study.tell(running, [-0.5, 0.4])  # dominates trial 0
    nxt = study.ask()
    view = sampler._view(study, study._storage.get_trial(nxt._trial_id))
    assert [t.number for t in view._get_trials(deepcopy=False)] == [1] + list(range(21, 33))
