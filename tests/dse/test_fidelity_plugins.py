"""A fidelity declared by a plug-in (entry-point group ``dse.fidelities``) is one a TOML file can
name: the config accepts it, lists it among the allowed values, and the study loads its factory.

The plug-in is a real installed distribution as importlib.metadata sees one (a ``*.dist-info``
folder with ``entry_points.txt`` on the path), run in a fresh interpreter so the registry reads
the group from scratch."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

CODE = textwrap.dedent("""
    import copy, sys
    from dse.config import DEMO, FIDELITIES, parse_config
    from dse.errors import UserError
    from dse.study.fidelity import fidelity_names, get_fidelity, make_scorer

    assert FIDELITIES == ("finetune", "multires", "myscreen", "none"), FIDELITIES
    assert fidelity_names() == ("finetune", "multires", "myscreen"), fidelity_names()
    doc = copy.deepcopy(DEMO)
    doc["study"]["fidelity"] = "myscreen"
    cfg = parse_config(doc)
    assert cfg.fidelity == "myscreen"
    doc["study"]["fidelity"] = "nope"
    try:
        parse_config(doc)
    except UserError as e:
        assert str(e) == "study.fidelity: unknown value 'nope'; allowed: finetune, multires, myscreen, none", e
    else:
        raise AssertionError("'nope' accepted")
    assert not [m for m in sys.modules if m == "myplugin"], "the plug-in was imported before use"

    class R:
        pass

    r = R()
    r.cfg = cfg
    score = make_scorer(r)
    assert get_fidelity("myscreen").__module__ == "myplugin"
    assert score("point", None) == ("myscreen", "point")
    print("ok")
""")

PLUGIN = textwrap.dedent("""
    def factory(resolved):
        return lambda point, abort: (resolved.cfg.fidelity, point)
""")


@pytest.mark.slow
def test_a_plugin_fidelity_is_named_in_the_toml(tmp_path):
    (tmp_path / "myplugin.py").write_text(PLUGIN)
    info = tmp_path / "myplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[dse.fidelities]\nmyscreen = myplugin:factory\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    r = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_the_builtins_come_from_the_entry_point_group():
    from importlib.metadata import entry_points

    from dse.config.fidelities import GROUP, allowed_fidelities

    declared = sorted(ep.name for ep in entry_points(group=GROUP))
    assert declared == ["finetune", "multires"]
    assert allowed_fidelities()[:2] == ("finetune", "multires") and allowed_fidelities()[-1] == "none"
