"""Analytic hardware models and the shared domain vocabulary (numpy + networkx only).

Models are found through the ``dse.hwmodels`` entry-point group (:func:`get_model`,
:func:`list_models`); the built-ins are ``systolic``, ``hetero``, ``bitserial`` and
``termserial``. ``hwmodels.testing`` holds the contract suite for plug-in authors.
"""

import importlib
from typing import Any

from .base import (DesignPoint, HardwareModel, HwReport, Knob, LayerCost, Resources, Unsupported,
                   check_fit, schemes_for)
from .formats import QuantScheme, levels, max_terms
from .metrics import Metrics, avg_weight_bits, mac_bits, metrics, term_pairs
from .workload import LayerSpec, Workload

#: public name -> submodule defining it, imported on first access: the device table, the
#: energy model, the entry-point registry and the topology reader are not needed to build
#: the CLI's parser (``dse --help``). (``metrics`` is imported above: the function shares the
#: submodule's name, and a lazy import would rebind ``hwmodels.metrics`` to the module.)
_LAZY = {
    **dict.fromkeys(("Device", "get_device", "list_devices", "register_device"), "devices"),
    "EnergyModel": "energy",
    **dict.fromkeys(("get_model", "list_models"), "registry"),
    **dict.fromkeys(("read_topology", "write_topology"), "topology"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "DesignPoint", "Device", "EnergyModel", "HardwareModel", "HwReport", "Knob", "LayerCost",
    "LayerSpec", "Metrics", "QuantScheme", "Resources", "Unsupported", "Workload", "avg_weight_bits",
    "check_fit", "get_device", "get_model", "levels", "list_devices", "list_models", "mac_bits",
    "max_terms", "metrics", "read_topology", "register_device", "schemes_for", "term_pairs",
    "write_topology",
]
