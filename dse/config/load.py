"""TOML -> :class:`StudyConfig`: every section through the one validator, then the checks that
span sections. Nothing is created before the whole file validates."""

from __future__ import annotations

import tomllib
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Mapping

from hwmodels.formats import BASELINE_KIND

from ..errors import UserError
from .finetune import FinetuneConfig
from .hardware import HardwareConfig
from .multires import MULTIRES_KIND, MultiresConfig
from .screen import ScreenConfig, check_screen
from .schema import Check, Constraint, Table, fail, validate_section, validate_table
from .space import SpaceConfig
from .study import StudyConfig

#: sections held as their own dataclass (validated whole) -> the StudyConfig field
SECTION_CLASSES: dict[str, tuple[str, type]] = {"space": ("space", SpaceConfig),
                                                "hardware": ("hardware", HardwareConfig),
                                                "finetune": ("finetune", FinetuneConfig)}
#: optional sections, listed after the core ones in the "allowed" hint
OPTIONAL_SECTIONS: dict[str, tuple[str, type]] = {"multires": ("multires", MultiresConfig),
                                                   "screen": ("screen", ScreenConfig)}
FLAT_SECTIONS = ("study", "workload", "constraints", "sampler")


def _input_shape(shape: Any, path: str) -> list[int]:
    """One input of a model class, batch excluded, e.g. [3, 32, 32]."""
    if not isinstance(shape, list):
        raise fail(path, f"expected a list of positive integers, e.g. [3, 32, 32], got {type(shape).__name__} "
                   f"{shape!r}")
    if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise fail(path, f"expected a list of positive integers such as [3, 32, 32], got {shape!r}")
    return list(shape)


#: [workload] keys that are no StudyConfig field: they merge into workload_options
WORKLOAD_EXTRAS: dict[str, tuple[str, Constraint]] = {
    "kwargs": ("kwargs", Table("a table of constructor arguments")),  # a model class's constructor arguments
    "input_shape": ("input_shape", Check(_input_shape, "a list of positive integers")),
}


def flat_specs() -> dict[str, dict[str, tuple[str, Constraint]]]:
    """``{section: {key: (StudyConfig field, constraint)}}`` from the fields' ``toml`` spellings."""
    specs: dict[str, dict[str, tuple[str, Constraint]]] = {s: {} for s in FLAT_SECTIONS}
    for f in fields(StudyConfig):
        for spelling in f.metadata.get("toml", ()):
            section, key = spelling.split(".")
            specs[section][key] = (f.name, f.metadata["constraint"])
    specs["workload"].update(WORKLOAD_EXTRAS)
    return specs


def parse_config(data: Mapping[str, Any], source: str = "") -> StudyConfig:
    """Validate a parsed TOML document into a StudyConfig (raises UserError)."""
    core = set(FLAT_SECTIONS) | set(SECTION_CLASSES) | {"constraints"}
    for key in data:  # optional sections are listed after the core ones
        if key not in core and key not in OPTIONAL_SECTIONS:
            raise fail(key, f"unknown key; allowed: {', '.join(sorted(core))}, {', '.join(OPTIONAL_SECTIONS)}")
    for sec in core | set(OPTIONAL_SECTIONS):
        if sec in data and not isinstance(data[sec], dict):
            raise fail(sec, f"expected a [{sec}] table")
    kw: dict[str, Any] = {"source": source}
    for section, specs in flat_specs().items():
        values = validate_table(specs, data.get(section, {}), section)
        if section == "workload":
            values = _merge_workload(values)
        kw.update(values)
    for section, (name, cls) in {**SECTION_CLASSES, **OPTIONAL_SECTIONS}.items():
        if section in data:
            kw[name] = validate_section(cls, data[section], section)
    cfg = _check_multires_space(StudyConfig(**kw))
    if cfg.fidelity == "none" and cfg.needs_training:
        raise fail("study.fidelity", "'none' (hardware only) cannot score 'accuracy'; drop it from "
                   "study.objectives and constraints.caps, or use 'finetune'")
    if cfg.trials is None and cfg.timeout_s is None:
        raise fail("study.trials", "give study.trials or study.timeout_s (or both)")
    check_screen(cfg.screen, cfg.fidelity, cfg.needs_training)
    return cfg


def _merge_workload(values: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` (a model class's constructor arguments) and ``input_shape`` join the options."""
    extra, shape = values.pop("kwargs", None), values.pop("input_shape", None)
    if extra is not None:
        both = sorted(set(extra) & set(values.get("workload_options", {})))
        if both:
            raise fail("workload.kwargs", f"{', '.join(both)} also in workload.options; give each once")
        values["workload_options"] = {**values.get("workload_options", {}), **extra}
    if shape is not None:
        values["workload_options"] = {**values.get("workload_options", {}), "input_shape": shape}
    return values


def _check_multires_space(cfg: StudyConfig) -> StudyConfig:
    """Fill ``multires.first_last`` from the space and check that the space holds points
    the checkpoint can score (a candidate outside it fails with a reason; a space with
    none at all is a config error)."""
    mr, sp = cfg.multires, cfg.space
    follows = "fixed8" if sp.first_last == "fixed8" else MULTIRES_KIND
    if mr.first_last is None:
        mr = replace(mr, first_last=follows)
        cfg = replace(cfg, multires=mr)
    if cfg.fidelity != "multires":
        return cfg
    if mr.first_last != follows:
        raise fail("multires.first_last", f"{mr.first_last!r} does not match space.first_last = "
                   f"{sp.first_last!r}; use {follows!r} (or leave it out to follow the space)")
    if MULTIRES_KIND not in sp.kinds:
        raise fail("space.kinds", f"fidelity 'multires' scores term budgets from one checkpoint: include "
                   f"{MULTIRES_KIND!r} (other kinds need fidelity 'finetune')")
    checks = (("group_sizes", mr.group, "group"), ("w_bits", mr.w_bits, "w_bits"),
              ("a_bits", mr.a_bits, "a_bits"), ("term_encodings", mr.encoding, "encoding"))
    for field_, value, mfield in checks:
        if value not in getattr(sp, field_):
            raise fail(f"space.{field_}", f"must include multires.{mfield} = {value!r} (the checkpoint "
                       f"serves only that); got {list(getattr(sp, field_))}")
    return cfg


#: the built-in demo (``dse search`` with no config); examples/digits.toml is the same study
DEMO: dict[str, Any] = {
    "study": {"name": "digits-demo", "objectives": ["accuracy", "latency_s"], "trials": 30, "seed": 0},
    "workload": {"name": "digits"},
    "space": {"kinds": [BASELINE_KIND, MULTIRES_KIND], "w_bits": [2, 3, 4, 6, 8], "a_bits": [4, 8], "first_last": "search"},
    "hardware": {"model": "bitserial", "device": "XC7Z045", "search": ["rows", "cols"],
                 "ranges": {"rows": [4, 32], "cols": [4, 32]}},
    "constraints": {"fit_device": True},
    "sampler": {"name": "tpe"},
    "finetune": {"epochs": 1, "lr": 1e-3, "optimizer": "adam", "abandon_below": 0.5},
}


def load_config(path: str | Path | None) -> StudyConfig:
    """Read and validate a TOML config; ``None`` gives the built-in digits demo."""
    if path is None:
        return parse_config(DEMO, source="<built-in digits demo>")
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config: no such file {str(p)!r}; pass a TOML file (see examples/)")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"config: {p} is not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise UserError(f"config: {p} is not UTF-8 text") from None
    return parse_config(data, source=str(p))

