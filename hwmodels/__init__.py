"""Analytic hardware models and the shared domain vocabulary (numpy + networkx only).

Models are found through the ``dse.hwmodels`` entry-point group (:func:`get_model`,
:func:`list_models`); the built-ins are ``systolic``, ``hetero``, ``bitserial`` and
``termserial``. ``hwmodels.testing`` holds the contract suite for plug-in authors.
"""

from .base import (DesignPoint, HardwareModel, HwReport, Knob, LayerCost, Resources, Unsupported,
                   check_fit, schemes_for)
from .devices import Device, get_device, list_devices, register_device
from .energy import EnergyModel
from .formats import QuantScheme, levels, max_terms
from .metrics import Metrics, avg_weight_bits, mac_bits, metrics, term_pairs
from .registry import get_model, list_models
from .topology import read_topology, write_topology
from .workload import LayerSpec, Workload

__all__ = [
    "DesignPoint", "Device", "EnergyModel", "HardwareModel", "HwReport", "Knob", "LayerCost",
    "LayerSpec", "Metrics", "QuantScheme", "Resources", "Unsupported", "Workload", "avg_weight_bits",
    "check_fit", "get_device", "get_model", "levels", "list_devices", "list_models", "mac_bits",
    "max_terms", "metrics", "read_topology", "register_device", "schemes_for", "term_pairs",
    "write_topology",
]
