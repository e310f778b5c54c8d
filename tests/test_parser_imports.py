"""Building the CLI parser (``dse --help``, the first step of every command) loads only what the
options need (issue 16's start-up budget, issue 17's lazy parser build). Checked by the
modules a fresh interpreter holds afterwards, not by timing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CODE = """
import json, sys
from dse.cli import build_parser
build_parser()
print(json.dumps(sorted(sys.modules)))
"""

#: modules the parser build must not load: torch, Optuna, the metadata scan (entry points,
#: the version), hwmodels' models/devices/registry/topology, the lane RTL, allocation training
NOT_AT_PARSE = ("torch", "optuna", "importlib.metadata", "hwmodels.registry", "hwmodels.devices",
                "hwmodels.topology", "hwmodels.energy", "hwmodels.arith", "hwmodels.rtl",
                "dse.methods.allocate.learn", "dse.study")


def test_building_the_parser_loads_no_heavy_module():
    r = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    loaded = set(json.loads(r.stdout))
    assert "dse.methods.allocate.spec" in loaded and "hwmodels.formats" in loaded  # what options are built from
    assert [m for m in NOT_AT_PARSE if m in loaded] == []


#: lazily exported names, each resolved in a fresh interpreter: (import, check)
LAZY = """
import hwmodels, dse, dse.config
from hwmodels import get_model, list_devices, read_topology, metrics
from dse.methods.allocate import run_allocation, AllocationSpec
assert callable(metrics) and callable(read_topology) and callable(run_allocation)
assert get_model("systolic").name == "systolic" and "XC7Z020" in list_devices()
assert dse.__version__ and dse.config.FIDELITIES[-1] == "none"
print("ok")
"""


@pytest.mark.slow  # ~3 s: resolving run_allocation imports torch
def test_lazy_names_still_resolve():
    r = subprocess.run([sys.executable, "-c", LAZY], capture_output=True, text=True)
    assert (r.returncode, r.stdout.strip()) == (0, "ok"), r.stderr
