"""Study orchestration: a config resolved into its parts, an Optuna study created or resumed,
the worker loop, what it records, and how a stored study is read back.

A trial's path: ``resolve`` (config -> model, workload, space) -> ``open_study`` ->
``run_worker`` (ask -> suggest -> ``Evaluator.evaluate`` -> ``record`` -> tell)."""

from .create import check_resumable, config_from_study, enqueue_baselines, open_study
from .recording import (DASHBOARD_CONSTRAINTS_KEY, jsonable, named_constraints, point_key, record, record_point,
                        set_constraints, tell)
from .resolve import Resolved, resolve
from .run import WorkerResult, make_finetune_fn, make_sampler, recover_stale, run_worker, sampler_seed
from .summary import (counted_trials, describe_point, feasible, format_value, pareto_table, pareto_trials,
                      retried_numbers, status_counts, stored_trials)

__all__ = ["DASHBOARD_CONSTRAINTS_KEY", "Resolved", "WorkerResult", "check_resumable", "config_from_study",
           "counted_trials", "describe_point", "enqueue_baselines", "feasible", "format_value", "jsonable",
           "make_finetune_fn", "make_sampler", "named_constraints", "open_study", "pareto_table", "pareto_trials",
           "point_key", "record", "record_point", "recover_stale", "resolve", "retried_numbers", "run_worker",
           "sampler_seed", "set_constraints", "status_counts", "stored_trials", "tell"]
