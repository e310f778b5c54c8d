"""The built-in shape networks' stored hardware views (dse/workloads/data/*.json, issues 13
and 16): equal to a fresh torch trace, rewritten by ``python -m dse.workloads.freeze``, read
without torch at the default options, and never used when stale or for other options."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from dse.workloads import frozen, get_workload
from dse.workloads.freeze import freeze, main as freeze_main

#: MACs at 224x224, batch 1 (docs/workloads.md)
MACS = {"resnet18": 1_814_073_344, "resnet50": 4_089_184_256, "mobilenetv2": 300_774_272}


@pytest.mark.parametrize("name", frozen.NAMES)
def test_stored_view_equals_a_fresh_trace(name):
    """A change to shapes.py or trace.py that forgets to refresh the data fails here."""
    stored = frozen.load(name)
    hint = f"dse/workloads/data/{name}.json is out of date or missing; run: {frozen.FREEZE_COMMAND}"
    assert stored is not None, hint
    fresh = get_workload(name).spec  # traced now with torch.fx
    assert stored.layers == fresh.layers, hint
    assert stored.edges == fresh.edges, hint
    assert stored == fresh and stored.macs == MACS[name]
    data = frozen.read(name)
    assert data["source_sha256"] == frozen.source_digest(), hint
    assert data["options"] == {"image_size": 224, "num_classes": 1000}
    assert data["input_shape"] == [1, 3, 224, 224]


def test_freeze_writes_the_packaged_files_byte_for_byte(tmp_path, capsys):
    written = freeze(directory=tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{n}.json" for n in frozen.NAMES)
    for name in frozen.NAMES:
        assert frozen.path_of(name, tmp_path).read_bytes() == frozen.path_of(name).read_bytes(), \
            f"run: {frozen.FREEZE_COMMAND}"
    assert freeze(directory=tmp_path, check=True) == []  # deterministic: a second run changes nothing
    assert freeze_main(["--check", "--dir", str(tmp_path)]) == 0

    path = frozen.path_of("resnet18", tmp_path)
    path.write_text(path.read_text().replace('"N": 64', '"N": 32', 1))
    assert freeze_main(["--check", "--dir", str(tmp_path)]) == 1  # --check reports, never writes
    out, err = capsys.readouterr()
    assert f"out of date: {path}" in out and frozen.FREEZE_COMMAND in err
    assert '"N": 32' in path.read_text()
    assert freeze_main(["resnet18", "--dir", str(tmp_path)]) == 0
    assert path.read_bytes() == frozen.path_of("resnet18").read_bytes()
    assert freeze_main(["vgg16"]) == 2
    assert "unknown network(s) vgg16" in capsys.readouterr().err


def test_only_default_options_and_current_files_are_used(tmp_path):
    assert frozen.load("resnet18").macs == MACS["resnet18"]
    # the defaults, given explicitly (the command line gives text)
    assert frozen.load("resnet18", {"image_size": 224, "num_classes": "1000"}) == frozen.load("resnet18")
    for options in ({"image_size": 160}, {"num_classes": 10}, {"num_classes": True}, {"width": 2}):
        assert frozen.load("resnet18", options) is None, options
    assert frozen.load("digits") is None  # trained workloads are never stored

    data_dir, src_dir = tmp_path / "data", tmp_path / "src"
    data_dir.mkdir()
    src_dir.mkdir()
    for name in frozen.SOURCES:
        shutil.copy(frozen.HERE / name, src_dir / name)
    shutil.copy(frozen.path_of("resnet50"), data_dir / "resnet50.json")
    assert frozen.load("resnet50", directory=data_dir, sources=src_dir) == frozen.load("resnet50")
    # a source edited after the file was written: the file is stale, trace instead
    (src_dir / "shapes.py").write_text((src_dir / "shapes.py").read_text() + "\n# edited\n")
    assert frozen.load("resnet50", directory=data_dir, sources=src_dir) is None
    # a file of another format version, or damaged, is not used either
    data = frozen.read("resnet50")
    (data_dir / "resnet50.json").write_text(json.dumps(dict(data, version=frozen.VERSION + 1)))
    assert frozen.load("resnet50", directory=data_dir) is None
    (data_dir / "resnet50.json").write_text("{not json")
    assert frozen.load("resnet50", directory=data_dir) is None
    assert frozen.load("mobilenetv2", directory=data_dir) is None  # no file


PROBE = textwrap.dedent("""
    import json, sys
    from dse.workloads import get_workload_spec
    default = get_workload_spec(sys.argv[1])
    after_default = "torch" in sys.modules
    other = get_workload_spec(sys.argv[1], image_size=160)
    print(json.dumps([default.macs, after_default, other.macs, "torch" in sys.modules]))
""")


@pytest.mark.slow  # the second half traces with torch in a fresh interpreter
def test_get_workload_spec_reads_the_default_view_without_torch():
    p = subprocess.run([sys.executable, "-c", PROBE, "mobilenetv2"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    macs, torch_after_default, other_macs, torch_after_other = json.loads(p.stdout.strip().splitlines()[-1])
    assert (macs, torch_after_default) == (MACS["mobilenetv2"], False)
    assert torch_after_other is True and 0 < other_macs < macs  # 160x160 is traced, not read
