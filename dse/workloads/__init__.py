"""Workloads: a model, its data and its hardware view, by name.

Built-ins (``digits`` is the default), plug-ins registered under the ``dse.workloads``
entry-point group, or a user's ``module.path:function``; see :mod:`.registry` for what
such a function may return, and docs/workloads.md.

Names load on first use (module ``__getattr__``), and torch is imported only where a model
or tensor data is involved: a layers-only workload (a SCALE-Sim topology CSV, or a function
returning :class:`hwmodels.Workload`) is found and read without torch (issue 16).
"""

from __future__ import annotations

from dse.lazy import lazy_exports

#: public name -> submodule defining it (loaded on first access)
_LAZY = {
    "DataLike": "bundle", "TensorData": "bundle", "WorkloadBundle": "bundle",
    "BUILTINS": "registry", "DEFAULT_WORKLOAD": "registry", "GROUP": "registry", "WorkloadEntry": "registry",
    "as_bundle": "registry", "get_workload": "registry", "get_workload_spec": "registry",
    "list_workloads": "registry", "resolve": "registry", "workload_entries": "registry",
    "TraceError": "trace", "trace_workload": "trace",
}

__all__ = [
    "BUILTINS", "DEFAULT_WORKLOAD", "DataLike", "GROUP", "TensorData", "TraceError", "WorkloadBundle",
    "WorkloadEntry", "as_bundle", "get_workload", "get_workload_spec", "list_workloads", "resolve",
    "trace_workload", "workload_entries",
]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY, ("bundle", "registry", "trace"), __all__)
