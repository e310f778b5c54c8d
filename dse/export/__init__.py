"""Hand-offs from a stored study: plan JSON / CSV records (``plan.py``) and QONNX models
(the ``qonnx`` subpackage, imported on use: it needs torch)."""

from .plan import csv_text, pareto_records, plan_of_trial, trial_record, write_records

__all__ = ["csv_text", "pareto_records", "plan_of_trial", "trial_record", "write_records"]
