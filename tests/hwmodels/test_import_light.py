"""`import hwmodels` (and every model module) loads neither torch nor optuna."""

from __future__ import annotations

import subprocess
import sys


def test_hwmodels_imports_without_torch_or_optuna():
    code = ("import sys, hwmodels, hwmodels.systolic, hwmodels.hetero, hwmodels.bitserial, "
            "hwmodels.termserial, hwmodels.registry, hwmodels.testing, hwmodels.topology, hwmodels.metrics; "
            "hwmodels.get_model('systolic'); "
            "bad = sorted(m for m in ('torch', 'optuna') if m in sys.modules); "
            "print(','.join(bad)); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"imported: {res.stdout.strip()} {res.stderr}"


def test_networkx_loads_only_when_a_workload_graph_is_used():
    """networkx is imported by ``Workload.graph`` on first use, not by ``import hwmodels``
    (start-up of ``dse hw``, issue 16); ``graph`` is still a networkx DiGraph."""
    code = ("import sys, hwmodels; from hwmodels.workload import LayerSpec, Workload; "
            "w = Workload('w', (LayerSpec.gemm('a', 2, 3, 4), LayerSpec.gemm('b', 2, 4, 5))); "
            "hwmodels.get_model('systolic'); before = 'networkx' in sys.modules; g = w.graph; "
            "import networkx as nx; print(before, isinstance(g, nx.DiGraph), sorted(g.edges), g.nodes['a']['compute'])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "True", "[('a',", "'b')]", "True"]
