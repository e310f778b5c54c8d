"""The registry reads the ``dse.hwmodels`` entry points once per process (issue 16, start-up),
yet a plug-in put on ``sys.path`` later, or installed into a path already read, is still found."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwmodels import registry

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "tiny_hwmodel"  # the package dir holds tiny_hwmodel/


def _dist(site: Path) -> None:
    """A distribution declaring the tiny plug-in, as pip would leave it in ``site``."""
    info = site / "tiny_hwmodel-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-hwmodel\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[dse.hwmodels]\ntiny = tiny_hwmodel:TinyModel\n")


def test_read_once_then_from_the_cache(monkeypatch):
    reads = []
    real = registry.entry_points
    monkeypatch.setattr(registry, "entry_points", lambda: reads.append(1) or real())
    monkeypatch.setattr(registry, "_EVERY", {})
    names = registry.list_models()
    assert {"systolic", "hetero", "bitserial", "termserial"} <= set(names)
    for name in names:
        assert registry.get_model(name).name == name
    workloads = {ep.name for ep in registry.entry_points_in("dse.workloads")}  # another group: the same read
    assert {"digits", "resnet18"} <= workloads
    assert len(reads) == 1
    registry.entry_points_in("dse.workloads", fresh=True)
    assert len(reads) == 2


def test_a_plugin_on_a_new_path_is_listed(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_EVERY", {})
    assert "tiny" not in registry.list_models()
    _dist(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(PLUGIN))
    assert "tiny" in registry.list_models()
    assert registry.get_model("tiny").name == "tiny"


def test_get_model_reads_again_on_an_unknown_name(tmp_path, monkeypatch):
    """Installed into a directory already on the path (same ``sys.path``, so the same cache key)."""
    monkeypatch.setattr(registry, "_EVERY", {})
    monkeypatch.syspath_prepend(str(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "tiny" not in registry.list_models()
    _dist(tmp_path)
    assert registry.get_model("tiny").name == "tiny"
    with pytest.raises(ValueError, match="unknown name 'nope'; known: .*tiny"):
        registry.get_model("nope")
