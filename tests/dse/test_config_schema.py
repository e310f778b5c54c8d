"""One declaration per setting (issue 17): every config field carries its constraint and doc,
the one validator checks every field, the CLI options come from the same declarations, and
the old ambiguous ``--device`` is refused with the new spelling for each command."""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
from dataclasses import fields, is_dataclass

import pytest

import dse.config
from dse.cli import main
from dse.config import (DEMO, FinetuneBudget, FinetuneConfig, HardwareConfig, MultiresConfig, ScreenConfig, SpaceConfig,
                        StudyConfig, parse_config)
from dse.config import load as config_load
from dse.config.schema import FieldError, section_specs, validate_section
from dse.errors import UserError

SECTIONS = {"space": SpaceConfig, "hardware": HardwareConfig, "finetune": FinetuneConfig, "multires": MultiresConfig,
           "screen": ScreenConfig}
NESTED = {*SECTIONS, "source"}  # StudyConfig fields that are no TOML key


def _flat_fields():
    return [f for f in fields(StudyConfig) if f.name not in NESTED]


@pytest.mark.parametrize("cls", [*SECTIONS.values(), StudyConfig], ids=lambda c: c.__name__)
def test_every_field_declares_constraint_and_doc(cls):
    for f in fields(cls):
        if cls is StudyConfig and f.name in NESTED:
            continue
        assert f.metadata.get("constraint") is not None, f"{cls.__name__}.{f.name} has no constraint"
        assert len(f.metadata.get("doc", "")) > 8, f"{cls.__name__}.{f.name} has no doc string"


@pytest.mark.parametrize("section", SECTIONS)
def test_the_validator_covers_every_field_of_a_section(section):
    cls = SECTIONS[section]
    assert set(section_specs(cls)) == {f.name for f in fields(cls)}
    with pytest.raises(UserError, match=rf"^{section}\.nope: unknown key; allowed: "):
        parse_config({section: {"nope": 1}})


def test_every_flat_study_field_has_a_toml_spelling_checked_by_its_constraint():
    specs = config_load.flat_specs()
    covered = {name for table in specs.values() for name, _ in table.values()}
    assert {f.name for f in _flat_fields()} <= covered
    for f in _flat_fields():
        for spelling in f.metadata["toml"]:
            section, key = spelling.split(".")
            assert specs[section][key] == (f.name, f.metadata["constraint"])


def _bad_value(constraint):
    return {"Int": "x", "Num": "x", "Bool": "x", "Choice": 7, "Str": 7, "Table": 7, "ListOf": 7}.get(
        type(constraint).__name__)


def test_a_wrong_value_is_refused_by_the_declared_constraint_with_its_exact_message():
    """The message of parse_config is the constraint's own: no field is checked by hand elsewhere."""
    cases = [(s, f.name, f.metadata["constraint"]) for s, cls in SECTIONS.items() for f in fields(cls)]
    cases += [(spelling.split(".")[0], spelling.split(".")[1], f.metadata["constraint"])
              for f in _flat_fields() for spelling in f.metadata["toml"]]
    checked = 0
    for section, key, constraint in cases:
        bad = _bad_value(constraint)
        if bad is None:  # a custom Check (caps, budgets, ...): covered by test_config's pinned messages
            continue
        path = f"{section}.{key}"
        with pytest.raises(FieldError) as want:
            constraint.check(bad, path)
        with pytest.raises(UserError) as got:
            parse_config({section: {key: bad}})
        assert str(got.value) == str(want.value)
        checked += 1
    assert checked >= 40


def test_no_section_parser_is_written_by_hand():
    """parse_config names no field: every key comes from the declarations (cross-section checks
    such as multires-vs-space read attributes, not TOML keys)."""
    src = inspect.getsource(config_load.parse_config)
    names = {f.name for cls in SECTIONS.values() for f in fields(cls)} | {f.name for f in _flat_fields()}
    names -= set(config_load.FLAT_SECTIONS)  # "workload" is also a section name
    assert not [n for n in names if f'"{n}"' in src or f"'{n}'" in src]
    for mod in (dse.config.schema, config_load, dse.config.study, dse.config.space):
        assert not [n for n in dir(mod) if n.startswith("_parse")]


def test_to_dict_is_unchanged_for_stored_studies():
    """Stored studies compare configs with to_dict() on resume: the demo's is pinned byte for byte
    (hash taken from the code before the schema was redeclared)."""
    text = json.dumps(parse_config(DEMO).to_dict(), default=str)
    assert hashlib.sha256(text.encode()).hexdigest() == \
        "691e0bf148b50616da9b73cc7ef685b42610c355476548bb696018ec93c5253a"
    doc = {"study": {"trials": 3, "fidelity": "multires", "objectives": ["accuracy", "lut"]},
           "constraints": {"caps": ["lut <= 5000"]},
           "space": {"kinds": ["term"], "w_bits": [8], "a_bits": [8], "group_sizes": [16]},
           "multires": {"budgets": ["2:8", [3, 9]]}, "finetune": {"device": "auto", "epochs": 3}}
    text = json.dumps(parse_config(doc).to_dict(), default=str)
    assert hashlib.sha256(text.encode()).hexdigest() == \
        "f01268741bc8ceaeac56b88e54cc6ead5592106897f3d0009baa934df1959bdf"


def test_finetune_settings_are_declared_once():
    import dse.train
    import dse.training

    assert dse.training.FinetuneBudget is FinetuneBudget is dse.train.FinetuneBudget
    assert issubclass(FinetuneConfig, FinetuneBudget)
    budget_fields = [f.name for f in fields(FinetuneBudget)]
    assert [f.name for f in fields(FinetuneConfig)][:len(budget_fields)] == budget_fields
    cfg = parse_config({"finetune": {"epochs": 3, "lr": 0.01, "schedule": "constant", "device": "auto"}})
    assert cfg.finetune.budget() == FinetuneBudget(epochs=3, lr=0.01, schedule="constant")
    assert cfg.to_dict()["finetune"]["schedule"] == "constant"
    assert "schedule" not in parse_config(DEMO).to_dict()["finetune"]  # the default: old studies stay comparable
    with pytest.raises(UserError, match=r"^finetune\.schedule: unknown value 'step'; allowed: cosine, constant$"):
        parse_config({"finetune": {"schedule": "step"}})
    # the library object is checked by the same constraints, without the typo guards (lr <= 10)
    assert FinetuneBudget(lr=1e12).lr == 1e12
    with pytest.raises(UserError, match=r"^finetune\.lr: must be <= 10, got 1000000000000.0$"):
        parse_config({"finetune": {"lr": 1e12}})
    with pytest.raises(ValueError, match=r"^epochs: must be in \[0, inf\], got -1$"):
        FinetuneBudget(epochs=-1)


def test_a_cli_option_built_from_a_field_carries_its_default_type_and_doc():
    from dse.commands.options import add_setting, check_setting

    p = argparse.ArgumentParser()
    add_setting(p, MultiresConfig, "temperature")
    add_setting(p, FinetuneBudget, "optimizer")
    add_setting(p, FinetuneBudget, "batch_size", default=None)
    args = p.parse_args([])
    assert (args.temperature, args.optimizer, args.batch_size) == (4.0, "adam", None)
    assert p.parse_args(["--temperature", "2", "--batch-size", "64"]).temperature == 2.0
    helps = {a.dest: a.help for a in p._actions}
    doc = {f.name: f.metadata["doc"] for f in fields(MultiresConfig)}["temperature"]
    assert helps["temperature"].startswith(doc) and "default 4" in helps["temperature"]
    assert "sgd" in helps["optimizer"] and "default adam" in helps["optimizer"]
    with pytest.raises(UserError, match=r"^--temperature: must be > 0, got 0$"):
        check_setting(0, MultiresConfig, "temperature", "--temperature")


def test_finetune_help_comes_from_the_finetune_declaration(capsys):
    with pytest.raises(SystemExit):
        main(["finetune", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for name in ("lr", "weight_decay", "schedule", "pretrain_epochs"):
        doc = {f.name: f.metadata["doc"] for f in fields(FinetuneConfig)}[name]
        assert " ".join(doc.split()) in out, name


@pytest.mark.parametrize("argv, hint", [
    (["train", "digits", "--device", "cpu"], "use --torch-device cpu|cuda|auto"),
    (["finetune", "digits", "--scheme", "fixed:4", "--device", "cuda"], "use --torch-device cpu|cuda|auto"),
    (["multires", "digits", "--device", "cpu"], "use --torch-device cpu|cuda|auto"),
    (["msq", "digits", "--device", "XC7Z020"], "use --fpga PART"),
    (["allocate", "digits", "--metric", "size", "--target", "4", "--device", "XC7Z020"], "use --fpga PART"),
    (["hw", "eval", "--workload", "digits", "--hwmodel", "systolic", "--device", "XC7Z020"], "-p device=PART"),
    (["search", "--device", "cpu"], "hardware.device"),
])
def test_old_device_flag_is_refused_with_the_new_spelling(capsys, tmp_path, monkeypatch, argv, hint):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1
    assert err.startswith(f"dse {argv[0]}") and "--device is ambiguous now; " in err and hint in err
    assert list(tmp_path.iterdir()) == []


def test_new_device_flags_parse():
    from dse.cli import build_parser

    p = build_parser()
    a = p.parse_args(["msq", "digits", "--part", "XC7Z045", "--torch-device", "auto"])
    assert (a.fpga, a.torch_device) == ("XC7Z045", "auto")
    a = p.parse_args(["allocate", "digits", "--metric", "size", "--target", "4", "--fpga", "XC7Z020",
                      "--train-device", "cpu"])
    assert (a.fpga, a.torch_device) == ("XC7Z020", "cpu")
    assert p.parse_args(["train", "digits"]).torch_device == FinetuneConfig().device == "cpu"


def test_sections_are_dataclasses_exported_by_the_package():
    for name in ("SpaceConfig", "HardwareConfig", "FinetuneConfig", "FinetuneBudget", "MultiresConfig", "StudyConfig"):
        assert is_dataclass(getattr(dse.config, name)) and name in dse.config.__all__
    assert validate_section(SpaceConfig, {"w_bits": [4]}, "space").w_bits == (4,)


def test_docs_list_every_declared_field_in_its_section():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    sections = {m.group(1): body for m, body in
                ((re.match(r"`\[(\w+)\]`", part), part) for part in re.split(r"^## ", text, flags=re.M)) if m}
    missing = [f"{name}.{f.name}" for name, cls in SECTIONS.items() for f in fields(cls)
               if f"`{f.name}`" not in sections.get(name, "")]
    missing += [f"{section}.{key}" for section, specs in config_load.flat_specs().items() for key in specs
                if f"`{key}`" not in sections.get(section, "")]
    assert missing == []
