"""A third-party plug-in, installed from tests/plugins/tiny_hwmodel, shows up in
`dse hw list` and `dse hw eval`, passes the contract suite; a name collision is an error."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN_SRC = Path(__file__).resolve().parent.parent / "plugins" / "tiny_hwmodel"
CONV_HEAD = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"


def run(args: list[str], pythonpath: list[Path], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(p) for p in pythonpath] + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """pip-install the plug-in into a private target directory (removed with the temp dir)."""
    base = tmp_path_factory.mktemp("plugin")
    src = base / "src"
    shutil.copytree(PLUGIN_SRC, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = base / "site"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--disable-pip-version-check", "--no-input", "--target", str(target), str(src)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert list(target.glob("tiny_hwmodel-*.dist-info"))
    return target


def test_plugin_listed_and_evaluated(installed, tmp_path):
    ls = run(["-m", "dse", "hw", "list"], [installed], tmp_path)
    assert ls.returncode == 0, ls.stderr
    assert "tiny: example plug-in" in ls.stdout and "lanes" in ls.stdout
    assert "systolic:" in ls.stdout  # built-ins come through the same group

    topo = tmp_path / "t.csv"
    topo.write_text(CONV_HEAD + "c1, 10, 10, 3, 3, 4, 8, 1,\n")  # M = 64, K = 36, N = 8: 18432 MACs
    ev = run(["-m", "dse", "hw", "eval", "--topology", str(topo), "--hwmodel", "tiny", "-p", "lanes=7", "--json"],
             [installed], tmp_path)
    assert ev.returncode == 0, ev.stderr
    rep = json.loads(ev.stdout)
    assert rep["model"] == "tiny" and rep["layers"][0]["name"] == "c1"
    assert rep["layers"][0]["cycles"] == math.ceil(18432 / 7) and rep["total"]["cycles"] == 2634

    bad = run(["-m", "dse", "hw", "eval", "--topology", str(topo), "--hwmodel", "tiny", "--scheme", "sp2:4"],
              [installed], tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("dse: error: hardware model 'tiny' cannot price this point: "
                                  "tiny prices fixed-point layers only, not 'sp2' (c1)")


def test_plugin_passes_contract_suite(installed, tmp_path):
    code = ("from hwmodels import get_model; from hwmodels.testing import check_model; "
            "check_model(get_model('tiny'), lambda: get_model('tiny')); print('contract ok')")
    res = run(["-c", code], [installed], tmp_path)
    assert res.returncode == 0 and "contract ok" in res.stdout, res.stderr


def test_name_collision_is_an_error(installed, tmp_path):
    """A second distribution declaring 'systolic' makes the registry refuse, naming both."""
    site = tmp_path / "site2"
    dist = site / "evil_twin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evil-twin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[dse.hwmodels]\nsystolic = tiny_hwmodel:TinyModel\n")
    res = run(["-m", "dse", "hw", "list"], [installed, site], tmp_path)
    assert res.returncode == 2
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1
    assert "hardware model 'systolic' is declared twice" in err
    assert "hwmodels.systolic:SystolicModel" in err and "tiny_hwmodel:TinyModel" in err
    ev = run(["-m", "dse", "hw", "eval", "--topology", "x.csv", "--hwmodel", "systolic"], [installed, site], tmp_path)
    assert ev.returncode == 2 and "declared twice" in ev.stderr
