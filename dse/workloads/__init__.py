"""Workloads: a model, its data and its hardware view, by name.

Built-ins (``digits`` is the default), plug-ins registered under the ``dse.workloads``
entry-point group, or a user's ``module.path:function``; see :mod:`.registry` for what
such a function may return, and docs/workloads.md.
"""

from .bundle import DataLike, TensorData, WorkloadBundle
from .registry import (BUILTINS, DEFAULT_WORKLOAD, GROUP, WorkloadEntry, as_bundle, get_workload,
                       get_workload_spec, list_workloads, resolve, workload_entries)
from .trace import TraceError, trace_workload

__all__ = [
    "BUILTINS", "DEFAULT_WORKLOAD", "DataLike", "GROUP", "TensorData", "TraceError", "WorkloadBundle",
    "WorkloadEntry", "as_bundle", "get_workload", "get_workload_spec", "list_workloads", "resolve",
    "trace_workload", "workload_entries",
]
