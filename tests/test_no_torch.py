"""Hardware-only commands never import torch (issue 16): each runs in a fresh interpreter
and reports whether ``torch`` is in ``sys.modules`` afterwards. Not a timing test."""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import hw_only_toml  # tests/conftest.py: the hardware-only study TOML

RUN = textwrap.dedent("""
    import json, sys
    from dse.cli import main
    for argv in json.loads(sys.argv[1]):  # one interpreter, commands in turn: which one loads torch?
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code or 0
        print(json.dumps({"argv": argv, "rc": rc, "torch": "torch" in sys.modules, "optuna": "optuna" in sys.modules}),
              flush=True)
""")

# SCALE-Sim conv topology: two layers, enough for a hardware model to price
TOPOLOGY = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
conv1, 34, 34, 3, 3, 3, 16, 1,
conv2, 34, 34, 3, 3, 16, 32, 2,
"""

CONFIG = hw_only_toml("hw-only", "{csv}")
RESNET18_STUDY = Path(__file__).resolve().parents[1] / "examples" / "resnet18_xc7z045.toml"
OLD_STUDIES = Path(__file__).resolve().parent / "fixtures" / "old_studies"


def run_commands(commands: list[list[str]], cwd) -> list[dict]:
    """Run ``dse`` commands in turn in ONE new interpreter; per command: exit code and
    whether torch (and optuna) were in ``sys.modules`` after it."""
    p = subprocess.run([sys.executable, "-c", RUN, json.dumps(commands)], cwd=cwd, capture_output=True, text=True,
                       timeout=600)
    rows = [json.loads(line) for line in p.stdout.splitlines() if line.startswith('{"argv"')]
    assert len(rows) == len(commands), p.stderr[-3000:]
    return rows


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    """A real journal storage holding a hardware-only study (made by ``dse search``)."""
    d = tmp_path_factory.mktemp("hwonly")
    (d / "net.csv").write_text(TOPOLOGY)
    (d / "study.toml").write_text(CONFIG.format(csv="net.csv"))
    p = subprocess.run([sys.executable, "-m", "dse", "search", "study.toml", "--storage", "runs/s.journal",
                        "--quiet", "--no-report", "--force"], cwd=d, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    return d


def test_hardware_only_commands_never_import_torch(study_dir):
    commands = [
        ["--help"], ["hw", "--help"], ["search", "--help"], ["hw", "list"],
        ["hw", "eval", "--topology", "net.csv", "--hwmodel", "systolic", "--json"],
        ["hw", "eval", "--workload", "resnet18", "--hwmodel", "systolic", "--json"],  # stored view (issue 13)
        ["studies", "--storage", "runs/s.journal"],
        ["export", "--storage", "runs/s.journal", "--study", "hw-only", "--all", "--format", "csv", "-o", "out.csv"],
        ["export", "--storage", "runs/s.journal", "--study", "hw-only", "--format", "json", "-o", "out.json"],
    ]
    rows = run_commands(commands, study_dir)
    assert [r["rc"] for r in rows] == [0] * len(commands), rows
    assert [r["argv"] for r in rows if r["torch"]] == []
    assert (study_dir / "out.csv").read_text().count("\n") >= 2  # header + the study's trials
    assert (study_dir / "out.json").stat().st_size > 0


@pytest.mark.slow  # imports torch in a fresh interpreter
def test_the_check_sees_torch_when_a_command_loads_it(study_dir):
    """The probe itself: a command that needs torch (term quantization runs in torch) is seen."""
    rows = run_commands([["hw", "list"], ["quant", "terms", "7", "-5", "--budget", "1"]], study_dir)
    assert [r["torch"] for r in rows] == [False, True]


def test_search_on_a_topology_without_training_never_imports_torch(study_dir):
    """``dse search`` with fidelity none on a topology CSV: study resolution, trials and the
    report run without torch. The study has 3 trials; --trials 5 makes it run two more."""
    rows = run_commands([["search", "study.toml", "--storage", "runs/s.journal", "--trials", "5", "--quiet"],
                         ["studies", "--storage", "runs/s.journal"]], study_dir)
    assert [r["rc"] for r in rows] == [0, 0], rows
    assert [r["argv"][0] for r in rows if r["torch"]] == []
    assert (study_dir / "reports" / "hw-only.html").stat().st_size > 0


def test_search_on_a_builtin_shape_network_never_imports_torch(tmp_path):
    """``dse search`` with fidelity none on the built-in resnet18 reads its stored hardware
    view (dse/workloads/data/resnet18.json) instead of tracing it with torch (issues 13, 16)."""
    rows = run_commands([["search", str(RESNET18_STUDY), "--trials", "3", "--storage", "s.journal", "--quiet",
                          "--no-report"], ["studies", "--storage", "s.journal"]], tmp_path)
    assert [r["rc"] for r in rows] == [0, 0], rows
    assert [r["argv"][0] for r in rows if r["torch"]] == []
    assert (tmp_path / "s.journal").stat().st_size > 0


def test_studies_reads_journal_and_sqlite_without_optuna(study_dir, tmp_path):
    """``dse studies`` on the storages ``dse search`` writes reads them with dse.peek: not even
    Optuna is imported (issue 16, start-up; PostgreSQL and anything unusual still go through it).
    The SQLite storage is one an older dse wrote (tests/fixtures/old_studies/)."""
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.executescript(gzip.decompress((OLD_STUDIES / "f6932b4.sql.gz").read_bytes()).decode())
    con.close()
    rows = run_commands([["studies", "--storage", "runs/s.journal"], ["studies", "--storage", f"sqlite:///{db}"],
                         ["hw", "list"]], study_dir)
    assert [(r["rc"], r["optuna"], r["torch"]) for r in rows] == [(0, False, False)] * 3
