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
