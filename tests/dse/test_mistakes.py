"""A corpus of user mistakes, one table per class: each must exit 2 with one stderr line
naming the key or option (and what is allowed), no traceback, and nothing created or
modified (checked by snapshotting the working directory and the cache).

Most cases run ``dse.cli.main`` in-process (fast); ``test_sample_in_a_subprocess`` runs a
slice of them through the real console entry point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cli_harness import assert_refused, run_inprocess, run_subprocess, snapshot

# a valid hardware-only study (fast): each config case changes one thing in it
BASE = {
    "study": {"name": '"m"', "objectives": '["latency_s", "lut"]', "fidelity": '"none"', "trials": "3",
              "baselines": "[]"},
    "workload": {"name": '"resnet18"'},
    "space": {"kinds": '["fixed"]', "w_bits": "[4, 8]", "a_bits": "[8]"},
    "hardware": {"model": '"systolic"', "device": '"XC7Z045"', "search": '["rows"]', "ranges": "{rows = [4, 16]}"},
}


def toml(changes: dict) -> str:
    doc = {sec: dict(keys) for sec, keys in BASE.items()}
    top = ""
    for sec, keys in changes.items():
        if keys is None:
            doc.pop(sec, None)
            continue
        if isinstance(keys, str):  # not a table: "space = 3"
            doc.pop(sec, None)
            top += f"{sec} = {keys}\n"
            continue
        doc.setdefault(sec, {})
        for k, v in keys.items():
            if v is None:
                doc[sec].pop(k, None)
            else:
                doc[sec][k] = v
    return top + "".join(f"[{sec}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()) for sec, keys in doc.items())


C = pytest.param
CONFIG_MISTAKES = [
    # [study]
    C({"study": {"name": '""'}}, "study.name: must not be empty", id="study-name-empty"),
    C({"study": {"name": '"   "'}}, "study.name: must not be empty", id="study-name-blank"),
    C({"study": {"name": "3"}}, "study.name: expected a string", id="study-name-int"),
    C({"study": {"objectives": "[]"}}, "study.objectives: must not be empty", id="objectives-empty"),
    C({"study": {"objectives": '["lut"]'}}, "study.objectives: need two or more", id="objectives-one"),
    C({"study": {"objectives": '["lut", "lut"]'}}, "study.objectives: has duplicate entries", id="objectives-dup"),
    C({"study": {"objectives": '["lut", "speed"]'}}, ("study.objectives[1]", "'speed'", "allowed: accuracy"),
      id="objectives-unknown"),
    C({"study": {"objectives": '"lut"'}}, "study.objectives: expected a list", id="objectives-string"),
    C({"study": {"objectives": '["lut", 3]'}}, "study.objectives[1]", id="objectives-int"),
    C({"study": {"trials": "0"}}, "study.trials: must be in [1,", id="trials-zero"),
    C({"study": {"trials": "-4"}}, "study.trials: must be in [1,", id="trials-negative"),
    C({"study": {"trials": "2.5"}}, "study.trials: expected an integer", id="trials-float"),
    C({"study": {"trials": '"ten"'}}, "study.trials: expected an integer, got str 'ten'", id="trials-string"),
    C({"study": {"trials": "true"}}, "study.trials: expected an integer", id="trials-bool"),
    C({"study": {"timeout_s": "-3"}}, "study.timeout_s: must be > 0", id="timeout-negative"),
    C({"study": {"timeout_s": "0"}}, "study.timeout_s: must be > 0", id="timeout-zero"),
    C({"study": {"timeout_s": '"1h"'}}, "study.timeout_s: expected a number", id="timeout-string"),
    C({"study": {"timeout_s": "nan"}}, "study.timeout_s", id="timeout-nan"),
    C({"study": {"timeout_s": "inf"}}, "study.timeout_s", id="timeout-inf"),
    C({"study": {"fidelity": '"full"'}}, "study.fidelity: unknown value 'full'; allowed: finetune", id="fidelity"),
    C({"study": {"seed": "-1"}}, "study.seed: must be in [0,", id="seed-negative"),
    C({"study": {"seed": "1.5"}}, "study.seed: expected an integer", id="seed-float"),
    C({"study": {"baselines": "[1]"}}, "study.baselines[0]: must be in [2, 16]", id="baselines-range"),
    C({"study": {"baselines": '"8"'}}, "study.baselines: expected a list", id="baselines-string"),
    C({"study": {"trails": "5"}}, "study.trails: unknown key; allowed:", id="study-unknown-key"),
    C({"study": {"storage": "3"}}, "study.storage: expected a storage URL", id="storage-int"),
    C({"study": {"storage": '"redis://x"'}}, "storage: unsupported URL 'redis://x'", id="storage-scheme"),
    C({"study": {"storage": '"nodir/sub/x.journal"'}}, "storage: directory 'nodir/sub' does not exist",
      id="storage-missing-dir"),
    C({"study": {"objectives": '["accuracy", "lut"]'}}, "study.fidelity: 'none' (hardware only) cannot score",
      id="fidelity-none-accuracy"),
    C({"studdy": {"name": '"x"'}}, "studdy: unknown key; allowed: constraints", id="unknown-section"),
    # [workload]
    C({"workload": {"name": '"imagenet"'}}, ("workload", "'imagenet'"), id="workload-unknown"),
    C({"workload": {"name": "5"}}, "workload.name: expected a workload name", id="workload-int"),
    C({"workload": {"name": '""'}}, "workload.name: must not be empty", id="workload-empty"),
    C({"workload": {"nam": '"digits"'}}, "workload.nam: unknown key", id="workload-unknown-key"),
    C({"workload": {"options": "3"}}, "workload.options: expected a table", id="workload-options-int"),
    C({"workload": {"options": "{depth = 3}"}}, ("workload", "depth"), id="workload-unknown-option"),
    C({"workload": {"name": '"usermod_missing:build"'}}, ("workload", "usermod_missing"), id="user-module-missing"),
    C({"workload": {"name": '"usermod_ok:nope"'}}, ("workload", "nope"), id="user-function-missing"),
    C({"workload": {"name": '"usermod_raises:build"'}}, ("workload", "usermod_raises"), id="user-module-raises"),
    C({"workload": {"name": '"usermod_ok:raises"'}}, ("workload", "boom in build"), id="user-function-raises"),
    C({"workload": {"name": '"usermod_ok:wrong_type"'}}, ("workload", "usermod_ok:wrong_type"), id="user-wrong-type"),
    C({"workload": {"name": '"usermod_ok:wrong_shapes"'}}, ("workload", "usermod_ok:wrong_shapes"),
      id="user-wrong-shapes"),
    C({"workload": {"name": '"usermod_ok:NotCallable"'}}, ("workload", "NotCallable"), id="user-not-callable"),
    C({"workload": {"name": '"usermod_ok:"'}}, "workload", id="user-no-function"),
    # [space]
    C({"space": {"kinds": "[]"}}, "space.kinds: must not be empty", id="kinds-empty"),
    C({"space": {"kinds": '["float"]'}}, "space.kinds[0]: unknown value 'float'; allowed: fixed", id="kinds-unknown"),
    C({"space": {"kinds": '["fixed", "fixed"]'}}, "space.kinds: has duplicate entries", id="kinds-dup"),
    C({"space": {"w_bits": "[]"}}, "space.w_bits: must not be empty", id="w-bits-empty"),
    C({"space": {"w_bits": "[1]"}}, "space.w_bits[0]: must be in [2, 16], got 1", id="w-bits-low"),
    C({"space": {"w_bits": "[4, 40]"}}, "space.w_bits[1]: must be in [2, 16], got 40", id="w-bits-high"),
    C({"space": {"w_bits": '["4"]'}}, "space.w_bits[0]: expected an integer", id="w-bits-string"),
    C({"space": {"a_bits": "[0]"}}, "space.a_bits[0]: must be in [2, 16]", id="a-bits-zero"),
    C({"space": {"a_bits": "8"}}, "space.a_bits: expected a list", id="a-bits-scalar"),
    C({"space": {"granularity": '"per_pixel"'}}, "space.granularity: unknown value 'per_pixel'", id="granularity"),
    C({"space": {"first_last": '"x"'}}, "space.first_last: unknown value 'x'", id="first-last"),
    C({"space": {"kinds": '["term"]', "terms_per_value": "[0]"}}, "space.terms_per_value[0]: must be > 0",
      id="terms-zero"),
    C({"space": {"group_sizes": "[0]"}}, "space.group_sizes[0]: must be in [1,", id="group-zero"),
    C({"space": {"term_encodings": '["gray"]'}}, "space.term_encodings[0]: unknown value 'gray'", id="encoding"),
    C({"space": {"sp2_fractions": "[-0.1]"}}, "space.sp2_fractions[0]: must be >= 0", id="sp2-fraction-neg"),
    C({"space": {"kinds": '["pow2"]', "w_bits": "[8]"}}, "space.w_bits: kind pow2 needs at least one width <= 6",
      id="pow2-8bit"),
    C({"space": {"kinds": '["msq"]', "granularity": '"per_tensor"'}}, ("space.granularity", "msq", "per_row"),
      id="msq-per-tensor"),
    C({"space": {"kinds": '["term"]', "a_bits": "[4]", "a_term_budgets": "[6]"}},
      ("space.a_term_budgets", "a_bits"), id="a-terms-over-bits"),
    C({"space": {"shared": '"yes"'}}, "space.shared: expected true or false", id="shared-string"),
    C({"space": {"colour": '"red"'}}, "space.colour: unknown key", id="space-unknown-key"),
    C({"space": "3"}, "space: expected a [space] table", id="space-not-table"),
    # [hardware]
    C({"hardware": {"model": '"nope"'}}, ("hardware.model: unknown model 'nope'", "systolic"), id="model-unknown"),
    C({"hardware": {"model": "3"}}, "hardware.model: expected a model name", id="model-int"),
    C({"hardware": {"device": '"XC9999"'}}, ("hardware.device", "'XC9999'"), id="device-unknown"),
    C({"hardware": {"fixed": "{rows = 0}"}}, ("hardware.fixed.rows", "0"), id="fixed-out-of-range"),
    C({"hardware": {"fixed": "{colz = 4}"}}, "hardware.fixed.colz: unknown knob of 'systolic'", id="fixed-unknown"),
    C({"hardware": {"fixed": "{rows = \"many\"}"}}, "hardware.fixed.rows", id="fixed-wrong-type"),
    C({"hardware": {"ranges": "{rows = [32, 4]}"}}, ("hardware.ranges.rows", "32", "4"), id="range-inverted"),
    C({"hardware": {"ranges": "{rows = [4, 100000]}"}}, ("hardware.ranges.rows", "100000"), id="range-out"),
    C({"hardware": {"ranges": "{rows = []}"}}, "hardware.ranges.rows: expected a list", id="range-empty"),
    C({"hardware": {"ranges": "{rows = 5}"}}, "hardware.ranges.rows: expected a list", id="range-scalar"),
    C({"hardware": {"ranges": "{dataflow = [\"xs\"]}"}}, ("hardware.ranges.dataflow", "xs"), id="range-bad-choice"),
    C({"hardware": {"search": '["colz"]'}}, "hardware.search: unknown knob 'colz'", id="search-unknown"),
    C({"hardware": {"search": '"rows"'}}, "hardware.search: expected a list", id="search-string"),
    C({"hardware": {"devcie": '"XC7Z020"'}}, "hardware.devcie: unknown key", id="hardware-unknown-key"),
    # [constraints]
    C({"constraints": {"caps": '["latency_s < 3"]'}}, "constraints.caps[0]: cannot parse 'latency_s < 3'",
      id="cap-syntax"),
    C({"constraints": {"caps": '["speed <= 3"]'}}, "constraints.caps[0]: unknown metric 'speed'", id="cap-metric"),
    C({"constraints": {"caps": '"lut <= 5"'}}, "constraints.caps: expected a list", id="caps-string"),
    C({"constraints": {"caps": '["lut <= abc"]'}}, "constraints.caps[0]: cannot parse", id="cap-value"),
    C({"constraints": {"caps": '["lut <= 5e"]'}}, "constraints.caps[0]", id="cap-value-float"),
    C({"constraints": {"caps": '["lut <= -1"]'}}, ("constraints.caps[0]", "lut"), id="cap-impossible-negative"),
    C({"constraints": {"caps": '["accuracy >= 1.5"]'}}, ("constraints.caps[0]", "accuracy"),
      id="cap-impossible-accuracy"),
    C({"constraints": {"caps": '["lut <= 5", "lut <= 5"]'}}, "constraints.caps: has duplicate", id="caps-dup"),
    C({"constraints": {"fit_device": '"yes"'}}, "constraints.fit_device: expected true or false", id="fit-string"),
    C({"constraints": {"cap": '["lut <= 5"]'}}, "constraints.cap: unknown key", id="constraints-unknown-key"),
    # [sampler]
    C({"sampler": {"name": '"cmaes"'}}, "sampler.name: unknown value 'cmaes'; allowed: tpe", id="sampler-unknown"),
    C({"sampler": {"name": "3"}}, "sampler.name", id="sampler-int"),
    C({"sampler": {"seed": "-1"}}, "sampler.seed: must be in [0,", id="sampler-seed"),
    C({"sampler": {"population": "10"}}, "sampler.population: unknown key", id="sampler-unknown-key"),
    # [finetune] (with a training study: accuracy objective)
    C({"study": {"objectives": '["accuracy", "lut"]', "fidelity": '"finetune"'}, "workload": {"name": '"digits"'},
       "finetune": {"epochs": "-1"}}, "finetune.epochs: must be in [0,", id="ft-epochs"),
    C({"finetune": {"lr": "0"}}, "finetune.lr: must be > 0", id="ft-lr-zero"),
    C({"finetune": {"lr": '"fast"'}}, "finetune.lr: expected a number", id="ft-lr-string"),
    C({"finetune": {"optimizer": '"lbfgs"'}}, "finetune.optimizer: unknown value 'lbfgs'", id="ft-optimizer"),
    C({"finetune": {"batch_size": "0"}}, "finetune.batch_size: must be in [1,", id="ft-batch"),
    C({"finetune": {"weight_decay": "2"}}, "finetune.weight_decay: must be <= 1", id="ft-wd"),
    C({"finetune": {"abandon_below": "1.5"}}, "finetune.abandon_below: must be <= 1", id="ft-abandon"),
    C({"finetune": {"device": '"tpu"'}}, "finetune.device: unknown value 'tpu'", id="ft-device"),
    C({"finetune": {"steps": "0"}}, "finetune.steps: must be in [1,", id="ft-steps"),
    C({"finetune": {"pretrain_epochs": "0"}}, "finetune.pretrain_epochs: must be in [1,", id="ft-pretrain"),
    C({"finetune": {"epoch": "3"}}, "finetune.epoch: unknown key", id="ft-unknown-key"),
    # [multires]
    C({"multires": {"budgets": '["2-8", "2:10"]'}}, "multires.budgets[0]: cannot parse '2-8'", id="mr-budget-syntax"),
    C({"multires": {"budgets": '["2:8"]'}}, "multires.budgets: need two or more budgets", id="mr-one-budget"),
    C({"multires": {"budgets": '["0:8", "2:10"]'}}, "multires.budgets[0]: terms must be >= 1", id="mr-zero-terms"),
    C({"multires": {"budgets": '["9:8", "2:10"]'}}, "multires.budgets[0]: 9 activation terms exceed",
      id="mr-over-a-bits"),
    C({"multires": {"group": "0"}}, "multires.group: must be in [1,", id="mr-group"),
    C({"multires": {"encoding": '"x"'}}, "multires.encoding: unknown value 'x'", id="mr-encoding"),
    C({"multires": {"first_last": '"x"'}}, "multires.first_last: unknown value 'x'", id="mr-first-last"),
    C({"multires": {"epochs": "0"}}, "multires.epochs: must be in [1,", id="mr-epochs"),
    C({"multires": {"temperature": "0"}}, "multires.temperature: must be > 0", id="mr-temperature"),
    C({"multires": {"checkpoint": '""'}}, "multires.checkpoint: must not be empty", id="mr-checkpoint"),
    C({"multires": {"budget": '["2:8"]'}}, "multires.budget: unknown key", id="mr-unknown-key"),
    C({"study": {"objectives": '["accuracy", "lut"]', "fidelity": '"multires"'}, "workload": {"name": '"digits"'}},
      "space.kinds: fidelity 'multires' scores term budgets", id="mr-needs-term"),
]

USER_MODULES = {
    "usermod_ok.py": '''
import torch
from torch import nn

def nope_helper():
    pass

def raises():
    raise RuntimeError("boom in build")

def wrong_type():
    return 42

def wrong_shapes():
    model = nn.Sequential(nn.Linear(16, 4))
    x = torch.randn(8, 3)  # the model takes 16 features
    y = torch.zeros(8, dtype=torch.long)
    return {"model": model, "train": (x, y), "val": (x, y), "example_input": x[:1], "num_classes": 4}

NotCallable = 5
''',
    "usermod_raises.py": "raise ImportError('usermod_raises needs a package that is not installed')\n",
}


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A working directory with the user modules and a private cache, snapshotted."""
    d = tmp_path / "work dir ü"  # spaces and unicode in paths are valid input
    d.mkdir()
    for name, text in USER_MODULES.items():
        (d / name).write_text(text)
    monkeypatch.setenv("DSE_CACHE_DIR", str(tmp_path / "cache"))
    return d


@pytest.mark.parametrize("changes, expect", CONFIG_MISTAKES)
def test_config_mistake(work, changes, expect):
    (work / "c.toml").write_text(toml(changes))
    before = snapshot(work.parent)
    r = run_inprocess(["search", "c.toml", "--quiet", "--no-report"], work)
    line = assert_refused(r, before, snapshot(work.parent), expect or ())
    assert line.startswith("dse: error: ")


def test_base_config_is_valid(work):
    """The corpus' base config works, so each case fails for its own change only."""
    (work / "c.toml").write_text(toml({}))
    r = run_inprocess(["search", "c.toml", "--quiet", "--no-report"], work)
    assert r.returncode == 0, r.stderr


# --- CLI options of every command ---------------------------------------------------------

@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A journal and an SQLite storage holding a 3-trial dse study 'm' and a foreign
    (plain Optuna) study 'foreign'."""
    import optuna

    from dse.config import parse_config
    from dse.storage import open_storage
    from dse.study import open_study, resolve, run_worker
    import tomllib

    d = tmp_path_factory.mktemp("stored")
    doc = tomllib.loads(toml({}))
    cfg = parse_config(doc)
    for url in (str(d / "s.journal"), f"sqlite:///{d}/s.db"):
        handle = open_storage(url)
        resolved = resolve(cfg)
        open_study(handle, cfg, doc, resolved)
        run_worker(handle, resolved, 3, None)
        foreign = optuna.create_study(study_name="foreign", storage=handle.storage)
        foreign.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    return d


def _with_storage(work: Path, stored: Path) -> None:
    shutil.copy(stored / "s.journal", work / "s.journal")
    shutil.copy(stored / "s.db", work / "s.db")
    (work / "sub").mkdir()
    (work / "notes.txt").write_text("not a storage\n")
    (work / "plan.json").write_text("{not json")
    (work / "c.toml").write_text(toml({}))


A = pytest.param
CLI_MISTAKES = [
    # dse search
    A("search --trials 0", "--trials: must be > 0", id="search-trials-0"),
    A("search --trials -3", "--trials: must be > 0", id="search-trials-neg"),
    A("search --trials many", "--trials: invalid int value: 'many'", id="search-trials-type"),
    A("search --timeout -1", "--timeout: must be > 0", id="search-timeout-neg"),
    A("search --timeout nan", "--timeout", id="search-timeout-nan"),
    A("search --jobs 0", "--jobs: must be > 0", id="search-jobs-0"),
    A("search --seed -1", "--seed: must be in [0,", id="search-seed"),
    A("search c.toml --study ''", "--study: must not be empty", id="search-study-empty"),
    A("search c.toml --storage ''", "--storage: must not be empty", id="search-storage-empty"),
    A("search c.toml --storage redis://x", "storage: unsupported URL", id="search-storage-url"),
    A("search c.toml --storage sub", "storage: sub is a directory", id="search-storage-dir"),
    A("search c.toml --storage nodir/deeper/x.journal", "storage: directory 'nodir/deeper' does not exist",
      id="search-storage-missing-dir"),
    A("search c.toml --storage sqlite:///nodir/deeper/x.db", "storage: directory 'nodir/deeper' does not exist",
      id="search-sqlite-missing-dir"),
    A("search c.toml --storage notes.txt", "storage: 'notes.txt' is not an Optuna journal", id="search-storage-text"),
    A("search c.toml --storage sqlite:///notes.txt", "is not an SQLite database", id="search-sqlite-text"),
    A("search c.toml --storage memory: --jobs 2", "--jobs: several processes cannot share", id="search-memory-jobs"),
    A("search c.toml --report sub", "--report: sub is a directory", id="search-report-dir"),
    A("search c.toml --report nodir/deeper/r.html", "--report: directory nodir/deeper does not exist",
      id="search-report-missing-dir"),
    A("search c.toml --report r.html --no-report", "--report/--no-report", id="search-report-contradiction"),
    A("search missing.toml", "config: no such file 'missing.toml'", id="search-config-missing"),
    A("search sub", "config: sub is a directory", id="search-config-dir"),
    A("search notes.txt", "config: notes.txt is not valid TOML", id="search-config-not-toml"),
    A("search c.toml --frobnicate", "unrecognized arguments: --frobnicate", id="search-unknown-option"),
    # an existing study re-run with a config that changes its meaning
    A("search c2.toml --storage s.journal --study m", ("study 'm' already exists", "objectives", "new --study"),
      id="search-changed-objectives"),
    A("search c3.toml --storage s.journal --study m", ("study 'm' already exists", "space"), id="search-changed-space"),
    A("search c4.toml --storage sqlite:///s.db --study m", ("study 'm' already exists", "workload"),
      id="search-changed-workload"),
    # dse worker
    A("worker --storage missing.journal --study m", "storage: no such file 'missing.journal'", id="worker-missing"),
    A("worker --storage sqlite:///missing.db --study m", "storage: no such file 'missing.db'",
      id="worker-sqlite-missing"),
    A("worker --storage s.journal --study nope", "--study: no study named 'nope'", id="worker-study"),
    A("worker --storage s.journal --study foreign", "was not created by dse search", id="worker-foreign"),
    A("worker --storage s.journal --study m --trials 0", "--trials: must be > 0", id="worker-trials"),
    A("worker --storage sub --study m", "storage: sub is a directory", id="worker-dir"),
    A("worker --study m", "--storage", id="worker-no-storage"),
    # dse studies
    A("studies --storage missing.journal", "storage: no such file 'missing.journal'", id="studies-missing"),
    A("studies --storage sqlite:///missing.db", "storage: no such file 'missing.db'", id="studies-sqlite-missing"),
    A("studies --storage nodir/x.journal", ("no such file", "does not exist either"), id="studies-missing-dir"),
    A("studies --storage sub", "storage: sub is a directory", id="studies-dir"),
    A("studies --storage notes.txt", "is not an Optuna journal", id="studies-text"),
    A("studies --storage sqlite:///notes.txt", "is not an SQLite database", id="studies-sqlite-text"),
    A("studies --storage s.db", "is an SQLite database; pass it as sqlite:///s.db", id="studies-sqlite-as-journal"),
    # dse export
    A("export --storage missing.journal --study m -o out.csv", "storage: no such file", id="export-missing"),
    A("export --storage sqlite:///missing.db --study m -o out.csv", "storage: no such file", id="export-sqlite-missing"),
    A("export --storage s.journal --study nope -o out.csv", "--study: no study named 'nope'", id="export-study"),
    A("export --storage s.journal --study m", "-o/--output: give the file to write", id="export-no-output"),
    A("export --storage s.journal --study m -o sub", "-o/--output: sub is a directory", id="export-output-dir"),
    A("export --storage s.journal --study m -o nodir/deeper/x.csv", "directory nodir/deeper does not exist",
      id="export-output-missing-dir"),
    A("export --storage s.journal --study m --plan-out p.json", "--plan-out: give the trial", id="export-planout"),
    A("export --storage s.journal --study m --trial 0", "--plan-out: give the plan file", id="export-trial-no-out"),
    A("export --storage s.journal --study m --trial -1 --plan-out p.json", "--trial: trial numbers start at 0",
      id="export-trial-neg"),
    A("export --storage s.journal --study m --trial 99 --plan-out p.json", "--trial: study 'm' has no trial 99",
      id="export-trial-missing"),
    A("export --storage s.journal --study m --trial 0 --all --plan-out p.json", "--trial:", id="export-trial-all"),
    A("export --storage s.journal --study m --format xml -o x.xml", "--format: invalid choice: 'xml'",
      id="export-format"),
    A("export --storage s.journal --study foreign --trial 0 --plan-out p.json", "--trial: trial 0 has no design point",
      id="export-foreign-trial"),
    # dse report
    A("report --storage missing.journal", "storage: no such file", id="report-missing"),
    A("report --storage sqlite:///missing.db", "storage: no such file", id="report-sqlite-missing"),
    A("report --storage s.journal", "--study: give the study to report", id="report-two-studies"),
    A("report --storage s.journal --study nope", "--study: no study named 'nope'", id="report-study"),
    A("report --storage s.journal --study m -o sub", "-o/--output: sub is a directory", id="report-output-dir"),
    A("report --storage s.journal --study m -o nodir/deeper/r.html", "does not exist", id="report-output-missing-dir"),
    A("report --storage s.journal --study ''", "--study: must not be empty", id="report-study-empty"),
    # dse workload
    A("workload show imagenet", "unknown workload 'imagenet'", id="workload-unknown"),
    A("workload show resnet18 -o depth", "--option: expected KEY=VALUE", id="workload-option-syntax"),
    A("workload show resnet18 -o depth=3", ("resnet18", "depth"), id="workload-option-unknown"),
    A("workload show usermod_ok:raises", "boom in build", id="workload-user-raises"),
    A("workload show usermod_raises:build", "usermod_raises", id="workload-user-import-raises"),
    A("workload show usermod_ok:wrong_type", "usermod_ok:wrong_type", id="workload-user-type"),
    A("workload show resnet18 --topology-out sub", "--topology-out", id="workload-topology-dir"),
    A("workload show resnet18 --topology-out nodir/deeper/t.csv", "--topology-out", id="workload-topology-missing"),
    A("workload", "the following arguments are required", id="workload-no-subcommand"),
    # dse train / finetune
    A("train imagenet", "unknown workload 'imagenet'", id="train-unknown"),
    A("train resnet18", "shape-only", id="train-shape-only"),
    A("train digits --epochs 0", "--epochs: pre-training needs at least 1", id="train-epochs"),
    A("train digits --threads -1", "--threads: must be >= 0", id="train-threads"),
    A("train digits --torch-device tpu", "--torch-device", id="train-device"),
    A("train digits --seed -1", "--seed", id="train-seed"),
    A("train digits --cache-dir notes.txt", "--cache-dir", id="train-cache-file"),
    A("finetune digits --plan missing.json", "--plan: file missing.json not found", id="ft-plan-missing"),
    A("finetune digits --plan plan.json", "--plan: plan.json is not valid JSON", id="ft-plan-json"),
    A("finetune digits --plan sub", "--plan", id="ft-plan-dir"),
    A("finetune digits --plan wrong_plan.json", ("--plan", "conv9"), id="ft-plan-wrong-layers"),
    A("finetune digits --scheme float:4", "--scheme", id="ft-scheme"),
    A("finetune digits --scheme fixed:4 --epochs -1", "--epochs", id="ft-epochs"),
    A("finetune digits --scheme fixed:4 --lr 0", "--lr", id="ft-lr"),
    A("finetune digits --scheme fixed:4 --optimizer lbfgs", "--optimizer", id="ft-optimizer"),
    A("finetune digits --scheme fixed:4 --batch-size 0", "--batch-size", id="ft-batch"),
    A("finetune digits --scheme fixed:4 --plan plan.json", "not allowed with argument", id="ft-plan-and-scheme"),
    A("finetune digits --scheme fixed:4 --pretrain-epochs 0", "--pretrain-epochs", id="ft-pretrain"),
    # dse multires / allocate / msq / quant
    A("multires digits --budgets 2-8,2:10", "--budgets[0]: cannot parse '2-8'", id="mr-budgets"),
    A("multires digits --budgets 2:8", "--budgets: need two or more", id="mr-one-budget"),
    A("multires digits --group 0", "--group", id="mr-group"),
    A("multires digits --encoding gray", "--encoding", id="mr-encoding"),
    A("multires digits --first-last x", "--first-last", id="mr-first-last"),
    A("multires digits --epochs 0", "--epochs", id="mr-epochs"),
    A("multires digits --threads -1", "--threads", id="mr-threads"),
    A("multires digits --temperature 0", "--temperature", id="mr-temperature"),
    A("multires resnet18 --no-individual", "shape-only", id="mr-shape-only"),
    A("multires digits --checkpoint sub", "--checkpoint", id="mr-checkpoint-dir"),
    A("allocate digits --metric size --target -1", "--target", id="alloc-target-neg"),
    A("allocate digits --metric size --target 100", "--target", id="alloc-target-high"),
    A("allocate digits --metric speed --target 4", "--metric: invalid choice", id="alloc-metric"),
    A("allocate digits --metric size --target 4 --bits-min 8 --bits-max 2", "--bits", id="alloc-bits"),
    A("allocate digits --metric size --target 4 --storage s.journal", "--storage/--study", id="alloc-storage-only"),
    A("allocate digits --metric size --target 4 --fpga XC9", "--fpga: unknown FPGA", id="alloc-device"),
    A("allocate digits --metric size --target 4 --epochs 0", "--epochs", id="alloc-epochs"),
    A("allocate digits --metric size --target 4 --penalty -1", "--penalty", id="alloc-penalty"),
    A("allocate digits --metric size --target 4 --plan-out sub", "--plan-out", id="alloc-planout-dir"),
    A("allocate digits --metric size --target 4 --storage missing/deeper/s.journal --study a", "storage",
      id="alloc-storage-missing-dir"),
    A("msq digits --fpga XC9", "--fpga: unknown FPGA", id="msq-device"),
    A("msq digits --bits 1", "--bits: must be in [2, 16]", id="msq-bits"),
    A("msq digits --rows 0", "--rows: must be >= 1", id="msq-rows"),
    A("msq digits --epochs -1", "--epochs: must be >= 0", id="msq-epochs"),
    A("msq resnet18", "shape-only", id="msq-shape-only"),
    A("quant levels float 4", "kind: must be one of fixed", id="quant-kind"),
    A("quant levels fixed 0", "bits", id="quant-bits-0"),
    A("quant levels fixed 99", "bits", id="quant-bits-99"),
    A("quant levels fixed four", "invalid int value", id="quant-bits-type"),
    A("quant terms --budget -1 3", "budget", id="quant-budget"),
    A("quant terms --budget 2 --group 0 3", "group", id="quant-group"),
    A("quant terms --budget 2 --encoding gray 3", "encoding", id="quant-encoding"),
    A("frobnicate", "invalid choice: 'frobnicate'", id="unknown-command"),
]


@pytest.mark.parametrize("cmd, expect", CLI_MISTAKES)
def test_cli_mistake(work, stored, cmd, expect):
    import shlex

    _with_storage(work, stored)
    (work / "c2.toml").write_text(toml({"study": {"objectives": '["latency_s", "dsp"]'}}))
    (work / "c3.toml").write_text(toml({"space": {"w_bits": "[4]"}}))
    (work / "c4.toml").write_text(toml({"workload": {"name": '"resnet50"'}}))
    (work / "wrong_plan.json").write_text(json.dumps({"layers": {"conv9": {"kind": "fixed", "w_bits": 4}}}))
    before = snapshot(work.parent)
    r = run_inprocess(shlex.split(cmd), work)
    assert_refused(r, before, snapshot(work.parent), expect)


# --- mistakes nobody wrote by hand: every key of every section x values of the wrong kind ----

def _schema_keys() -> list[tuple[str, str]]:
    from dataclasses import fields

    from dse.config import FinetuneConfig, MultiresConfig, SpaceConfig

    keys = [("study", k) for k in ("name", "storage", "objectives", "trials", "timeout_s", "fidelity", "seed",
                                   "baselines")]
    keys += [("workload", "name"), ("workload", "options"), ("constraints", "fit_device"), ("constraints", "caps"),
             ("sampler", "name"), ("sampler", "seed")]
    keys += [("hardware", k) for k in ("model", "device", "fixed", "ranges", "search")]
    keys += [("space", f.name) for f in fields(SpaceConfig)]
    keys += [("finetune", f.name) for f in fields(FinetuneConfig)]
    keys += [("multires", f.name) for f in fields(MultiresConfig)]
    return keys


ODD_VALUES = [-1, 0, 10**12, 2.5, float("nan"), float("inf"), True, "", "x y", "nope", [], [0], ["nope"], [[1]],
              {"nope": 1}, [1, 1]]


@pytest.mark.parametrize("section, key", _schema_keys(), ids=lambda x: str(x))
def test_every_key_refuses_odd_values_naming_the_key(section, key):
    """Each value is either accepted or refused with a UserError naming ``section.key``
    (or a list item of it), in one line; nothing else may escape (no TypeError, KeyError...)."""
    import tomllib

    from dse.config import parse_config
    from dse.errors import UserError
    from dse.study import resolve

    base = tomllib.loads(toml({"study": {"storage": None}}))
    for value in ODD_VALUES:
        doc = json.loads(json.dumps(base))
        doc.setdefault(section, {})[key] = value
        try:
            resolve(parse_config(doc))
        except UserError as e:
            msg = str(e)
            assert "\n" not in msg
            names_key = msg.startswith((f"{section}.{key}", f"{section}.{key}[", "workload", "storage",
                                        "study.fidelity", "space.", "multires.", "hardware."))
            assert names_key, f"{section}.{key} = {value!r}: message does not name the key: {msg}"


SUBPROCESS_SAMPLE = ["search-storage-missing-dir", "studies-sqlite-missing", "export-output-dir",
                     "workload-user-raises", "ft-plan-json", "alloc-storage-only"]


@pytest.mark.slow
def test_sample_in_a_subprocess(work, stored):
    """The same contract through the real entry point (``python -m dse``), where a traceback
    or a stray print would show."""
    import shlex

    _with_storage(work, stored)
    cases = {p.id: p.values for p in CLI_MISTAKES if p.id in SUBPROCESS_SAMPLE}
    assert len(cases) == len(SUBPROCESS_SAMPLE)
    for cmd, expect in cases.values():
        before = snapshot(work.parent)
        r = run_subprocess(shlex.split(cmd), work)
        assert_refused(r, before, snapshot(work.parent), expect)
    (work / "c.toml").write_text(toml({"space": {"kinds": '["float"]'}}))
    before = snapshot(work.parent)
    r = run_subprocess(["search", "c.toml"], work)
    assert assert_refused(r, before, snapshot(work.parent)) == (
        "dse: error: space.kinds[0]: unknown value 'float'; allowed: fixed, pow2, sp2, term, msq")


def test_unusual_but_valid_input_works(work):
    """Spaces and unicode in paths and names, quotes in a study name, an empty optional
    section: valid, so they run."""
    (work / "c.toml").write_text(toml({"study": {"name": '"it\'s \\"ü\\" study"'}, "constraints": {}}))
    storage = work / "my runs ü" / "s p.journal"
    r = run_inprocess(["search", "c.toml", "--storage", str(storage), "--quiet", "--no-report"], work)
    assert r.returncode == 0, r.stderr
    r = run_inprocess(["studies", "--storage", str(storage)], work)
    assert r.returncode == 0 and "it's \"ü\" study" in r.stdout
