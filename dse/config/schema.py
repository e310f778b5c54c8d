"""Study configuration: a TOML file, validated up front.

Every mistake (unknown key, wrong type, out-of-range value, unknown name) raises a
:class:`~dse.errors.UserError` whose one line names the field (``space.w_bits``) and what
is allowed. Nothing is created before the whole file validates. Field-by-field
documentation: docs/configuration.md.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from hwmodels.formats import ENCODINGS, GRANULARITIES, KINDS, MAX_BITS, MIN_BITS

from ..errors import UserError

OBJECTIVES = ("accuracy", "latency_s", "energy_j", "lut", "dsp", "bram18", "ff", "avg_weight_bits",
              "mac_bits", "term_pairs")
MAXIMIZE = frozenset({"accuracy"})
HW_ONLY_OBJECTIVES = tuple(o for o in OBJECTIVES if o != "accuracy")
SAMPLERS = ("tpe", "nsga2", "nsga3", "gp", "random")
OPTIMIZERS = ("sgd", "adam", "adamw")
FIDELITIES = ("finetune", "multires", "none")
FIRST_LAST = ("search", "fixed8", "same")
CAP_RE = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class SpaceConfig:
    kinds: tuple[str, ...] = ("fixed", "pow2", "sp2", "term", "msq")
    w_bits: tuple[int, ...] = (2, 3, 4, 6, 8)
    a_bits: tuple[int, ...] = (4, 8)
    granularity: str = "per_row"
    shared: bool = False
    first_last: str = "fixed8"
    terms_per_value: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0, 4.0)
    group_sizes: tuple[int, ...] = (1, 4, 16)
    term_encodings: tuple[str, ...] = ("binary",)
    a_term_budgets: tuple[int, ...] = ()
    sp2_fractions: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class HardwareConfig:
    model: str = "systolic"
    device: str | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict)
    ranges: Mapping[str, Any] = field(default_factory=dict)
    search: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Cap:
    metric: str
    op: str  # "<=" or ">="
    value: float

    def violation(self, x: float) -> float:
        """<= 0 when satisfied; relative amount otherwise (Optuna's constraint convention)."""
        scale = abs(self.value) or 1.0
        return (x - self.value) / scale if self.op == "<=" else (self.value - x) / scale

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 2
    steps: int | None = None
    lr: float = 1e-3
    optimizer: str = "adam"
    batch_size: int | None = None
    weight_decay: float = 0.0
    abandon_below: float | None = None
    pretrain_epochs: int | None = None
    device: str = "cpu"


#: the reference implementation's budget list (activation terms a, weight terms k per
#: group of 16): Zhang, McDanel, Kung & Dong, ASPLOS 2021, multi-resolution term training
DEFAULT_MULTIRES_BUDGETS = ((2, 8), (2, 10), (2, 12), (2, 14), (3, 14), (3, 16), (3, 18), (3, 20))
MULTIRES_FIRST_LAST = ("term", "fixed8")


@dataclass(frozen=True)
class MultiresConfig:
    """``[multires]``: the multi-resolution checkpoint that ``fidelity = "multires"`` scores
    candidates from (see ``dse/multires.py``). ``budgets`` are (activation terms per value,
    weight terms per group of ``group``) pairs; ``first_last`` is ``term`` (every compute
    layer multi-resolution) or ``fixed8`` (first and last at 8-bit fixed point, as in the
    paper); ``None`` follows ``space.first_last``."""

    budgets: tuple[tuple[int, int], ...] = DEFAULT_MULTIRES_BUDGETS
    group: int = 16
    w_bits: int = 8
    a_bits: int = 8
    encoding: str = "binary"
    first_last: str | None = None
    epochs: int = 10
    lr: float = 1e-3
    distill_weight: float = 0.1
    temperature: float = 4.0
    calibration_batches: int = 10
    checkpoint: str | None = None


@dataclass(frozen=True)
class StudyConfig:
    name: str = "digits-demo"
    storage: str | None = None
    workload: str = "digits"
    workload_options: Mapping[str, Any] = field(default_factory=dict)
    objectives: tuple[str, ...] = ("accuracy", "latency_s")
    fit_device: bool = True
    caps: tuple[Cap, ...] = ()
    sampler: str = "tpe"
    seed: int = 0
    trials: int | None = 30
    timeout_s: float | None = None
    fidelity: str = "finetune"
    baselines: tuple[int, ...] = (8, 4)
    space: SpaceConfig = field(default_factory=SpaceConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    source: str = ""
    multires: MultiresConfig = field(default_factory=MultiresConfig)

    @property
    def directions(self) -> list[str]:
        return ["maximize" if o in MAXIMIZE else "minimize" for o in self.objectives]

    @property
    def needs_training(self) -> bool:
        return "accuracy" in self.objectives or any(c.metric == "accuracy" for c in self.caps)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["caps"] = [str(c) for c in self.caps]
        d.pop("source", None)
        if self.fidelity != "multires":  # unused then; studies stored before it existed stay comparable
            d.pop("multires", None)
        return d


# --- validation helpers -------------------------------------------------------------------

def _fail(path: str, msg: str) -> UserError:
    return UserError(f"{path}: {msg}")


def _check_keys(section: Mapping[str, Any], allowed: set[str], path: str) -> None:
    for key in section:
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            raise _fail(where, f"unknown key; allowed: {', '.join(sorted(allowed))}")


def _typed(value: Any, typ: type | tuple, path: str, what: str) -> Any:
    ok = isinstance(value, typ) and not (isinstance(value, bool) and bool not in (typ if isinstance(typ, tuple) else (typ,)))
    if not ok:
        raise _fail(path, f"expected {what}, got {type(value).__name__} {value!r}")
    return value


def _int(value: Any, path: str, low: int, high: int | None = None) -> int:
    _typed(value, int, path, "an integer")
    if value < low or (high is not None and value > high):
        raise _fail(path, f"must be in [{low}, {high if high is not None else 'inf'}], got {value}")
    return int(value)


def _num(value: Any, path: str, low: float | None = None, high: float | None = None, strict_low: bool = False) -> float:
    _typed(value, (int, float), path, "a number")
    v = float(value)
    if not math.isfinite(v):
        raise _fail(path, f"must be a finite number, got {value}")
    if low is not None and (v < low or (strict_low and v == low)):
        raise _fail(path, f"must be {'>' if strict_low else '>='} {low:g}, got {value}")
    if high is not None and v > high:
        raise _fail(path, f"must be <= {high:g}, got {value}")
    return v


def _choice(value: Any, path: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise _fail(path, f"unknown value {value!r}; allowed: {', '.join(allowed)}")
    return value


def _list(value: Any, path: str, item, nonempty: bool = True) -> tuple:
    if not isinstance(value, list):
        raise _fail(path, f"expected a list, got {type(value).__name__} {value!r}")
    if nonempty and not value:
        raise _fail(path, "must not be empty")
    out = tuple(item(v, f"{path}[{i}]") for i, v in enumerate(value))
    if len(set(out)) != len(out):
        raise _fail(path, f"has duplicate entries: {list(value)}")
    return out


def _parse_space(d: Mapping[str, Any]) -> SpaceConfig:
    allowed = {f.name for f in fields(SpaceConfig)}
    _check_keys(d, allowed, "space")
    kw: dict[str, Any] = {}
    if "kinds" in d:
        kw["kinds"] = _list(d["kinds"], "space.kinds", lambda v, p: _choice(v, p, KINDS))
    if "w_bits" in d:
        kw["w_bits"] = _list(d["w_bits"], "space.w_bits", lambda v, p: _int(v, p, MIN_BITS, MAX_BITS))
    if "a_bits" in d:
        kw["a_bits"] = _list(d["a_bits"], "space.a_bits", lambda v, p: _int(v, p, MIN_BITS, MAX_BITS))
    if "granularity" in d:
        kw["granularity"] = _choice(d["granularity"], "space.granularity", GRANULARITIES)
    if "shared" in d:
        kw["shared"] = _typed(d["shared"], bool, "space.shared", "true or false")
    if "first_last" in d:
        kw["first_last"] = _choice(d["first_last"], "space.first_last", FIRST_LAST)
    if "terms_per_value" in d:
        kw["terms_per_value"] = _list(d["terms_per_value"], "space.terms_per_value",
                                      lambda v, p: _num(v, p, 0.0, 16.0, strict_low=True))
    if "group_sizes" in d:
        kw["group_sizes"] = _list(d["group_sizes"], "space.group_sizes", lambda v, p: _int(v, p, 1, 4096))
    if "term_encodings" in d:
        kw["term_encodings"] = _list(d["term_encodings"], "space.term_encodings", lambda v, p: _choice(v, p, ENCODINGS))
    if "a_term_budgets" in d:
        kw["a_term_budgets"] = _list(d["a_term_budgets"], "space.a_term_budgets", lambda v, p: _int(v, p, 1, 16),
                                     nonempty=False)
    if "sp2_fractions" in d:
        kw["sp2_fractions"] = _list(d["sp2_fractions"], "space.sp2_fractions", lambda v, p: _num(v, p, 0.0, 1.0))
    space = SpaceConfig(**kw)
    if "pow2" in space.kinds and min(space.w_bits) > 6:
        raise _fail("space.w_bits", "kind pow2 needs at least one width <= 6 (pow2 supports 2..6 bits)")
    if "msq" in space.kinds and space.granularity != "per_row":
        raise _fail("space.granularity", f"kind msq mixes formats row by row, so it needs 'per_row', got "
                    f"{space.granularity!r} (or drop 'msq' from space.kinds)")
    if "term" in space.kinds and space.a_term_budgets and max(space.a_term_budgets) > max(space.a_bits):
        raise _fail("space.a_term_budgets", f"{max(space.a_term_budgets)} activation terms exceed the widest "
                    f"space.a_bits = {max(space.a_bits)} (a b-bit value has at most b terms)")
    return space


def _parse_hardware(d: Mapping[str, Any]) -> HardwareConfig:
    _check_keys(d, {"model", "device", "fixed", "ranges", "search"}, "hardware")
    kw: dict[str, Any] = {}
    if "model" in d:
        kw["model"] = _typed(d["model"], str, "hardware.model", "a model name (see 'dse hw list')")
    if "device" in d:
        kw["device"] = _typed(d["device"], str, "hardware.device", "a device name (e.g. XC7Z020)")
    for key in ("fixed", "ranges"):
        if key in d:
            kw[key] = dict(_typed(d[key], dict, f"hardware.{key}", "a table of knob = value"))
    if "search" in d:
        kw["search"] = _list(d["search"], "hardware.search", lambda v, p: _typed(v, str, p, "a knob name"), nonempty=False)
    return HardwareConfig(**kw)


def _parse_finetune(d: Mapping[str, Any]) -> FinetuneConfig:
    allowed = {f.name for f in fields(FinetuneConfig)}
    _check_keys(d, allowed, "finetune")
    kw: dict[str, Any] = {}
    if "epochs" in d:
        kw["epochs"] = _int(d["epochs"], "finetune.epochs", 0, 10000)
    if "steps" in d:
        kw["steps"] = _int(d["steps"], "finetune.steps", 1)
    if "lr" in d:
        kw["lr"] = _num(d["lr"], "finetune.lr", 0.0, 10.0, strict_low=True)
    if "optimizer" in d:
        kw["optimizer"] = _choice(d["optimizer"], "finetune.optimizer", OPTIMIZERS)
    if "batch_size" in d:
        kw["batch_size"] = _int(d["batch_size"], "finetune.batch_size", 1, 1 << 16)
    if "weight_decay" in d:
        kw["weight_decay"] = _num(d["weight_decay"], "finetune.weight_decay", 0.0, 1.0)
    if "abandon_below" in d:
        kw["abandon_below"] = _num(d["abandon_below"], "finetune.abandon_below", 0.0, 1.0)
    if "pretrain_epochs" in d:
        kw["pretrain_epochs"] = _int(d["pretrain_epochs"], "finetune.pretrain_epochs", 1, 10000)
    if "device" in d:
        kw["device"] = _choice(d["device"], "finetune.device", ("cpu", "cuda", "auto"))
    return FinetuneConfig(**kw)


def parse_budget(value: Any, path: str) -> tuple[int, int]:
    """One multi-resolution budget, ``"a:k"`` or ``[a, k]``: (activation terms per value,
    weight terms per group), both integers >= 1."""
    if isinstance(value, str):
        a, sep, k = value.partition(":")
        try:
            if not sep:
                raise ValueError
            pair = (int(a.strip()), int(k.strip()))
        except ValueError:
            raise _fail(path, f"cannot parse {value!r}; write 'a:k' (activation terms per value : weight "
                        "terms per group), e.g. '2:8'") from None
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        pair = (_int(value[0], f"{path}[0]", 1), _int(value[1], f"{path}[1]", 1))
    else:
        raise _fail(path, f"expected 'a:k' or [a, k], got {type(value).__name__} {value!r}")
    if pair[0] < 1 or pair[1] < 1:
        raise _fail(path, f"terms must be >= 1, got {pair[0]}:{pair[1]}")
    return pair


def parse_budgets(value: Any, path: str) -> tuple[tuple[int, int], ...]:
    """A list of budgets (or one comma-separated string ``"a:k,a:k"``): two or more,
    distinct."""
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    budgets = _list(value, path, parse_budget)
    if len(budgets) < 2:
        raise _fail(path, "need two or more budgets (the largest is the teacher of the others)")
    return budgets


def _parse_multires(d: Mapping[str, Any]) -> MultiresConfig:
    allowed = {f.name for f in fields(MultiresConfig)}
    _check_keys(d, allowed, "multires")
    kw: dict[str, Any] = {}
    if "budgets" in d:
        kw["budgets"] = parse_budgets(d["budgets"], "multires.budgets")
    if "group" in d:
        kw["group"] = _int(d["group"], "multires.group", 1, 4096)
    if "w_bits" in d:
        kw["w_bits"] = _int(d["w_bits"], "multires.w_bits", MIN_BITS, MAX_BITS)
    if "a_bits" in d:
        kw["a_bits"] = _int(d["a_bits"], "multires.a_bits", MIN_BITS, MAX_BITS)
    if "encoding" in d:
        kw["encoding"] = _choice(d["encoding"], "multires.encoding", ENCODINGS)
    if "first_last" in d:
        kw["first_last"] = _choice(d["first_last"], "multires.first_last", MULTIRES_FIRST_LAST)
    if "epochs" in d:
        kw["epochs"] = _int(d["epochs"], "multires.epochs", 1, 10000)
    if "lr" in d:
        kw["lr"] = _num(d["lr"], "multires.lr", 0.0, 10.0, strict_low=True)
    if "distill_weight" in d:
        kw["distill_weight"] = _num(d["distill_weight"], "multires.distill_weight", 0.0, 10.0)
    if "temperature" in d:
        kw["temperature"] = _num(d["temperature"], "multires.temperature", 0.0, 100.0, strict_low=True)
    if "calibration_batches" in d:
        kw["calibration_batches"] = _int(d["calibration_batches"], "multires.calibration_batches", 1, 100000)
    if "checkpoint" in d:
        path = _typed(d["checkpoint"], str, "multires.checkpoint", "a file path")
        if not path.strip():
            raise _fail("multires.checkpoint", "must not be empty (leave it out to use the cache)")
        kw["checkpoint"] = path
    mr = MultiresConfig(**kw)
    for i, (a, _) in enumerate(mr.budgets):
        if a > mr.a_bits:
            raise _fail(f"multires.budgets[{i}]", f"{a} activation terms exceed multires.a_bits = {mr.a_bits}")
    return mr


def _check_multires_space(cfg: StudyConfig) -> StudyConfig:
    """Fill ``multires.first_last`` from the space and check that the space holds points
    the checkpoint can score (a candidate outside it fails with a reason; a space with
    none at all is a config error)."""
    mr, sp = cfg.multires, cfg.space
    follows = "fixed8" if sp.first_last == "fixed8" else "term"
    if mr.first_last is None:
        mr = replace(mr, first_last=follows)
        cfg = replace(cfg, multires=mr)
    if cfg.fidelity != "multires":
        return cfg
    if mr.first_last != follows:
        raise _fail("multires.first_last", f"{mr.first_last!r} does not match space.first_last = "
                    f"{sp.first_last!r}; use {follows!r} (or leave it out to follow the space)")
    if "term" not in sp.kinds:
        raise _fail("space.kinds", "fidelity 'multires' scores term budgets from one checkpoint: include 'term' "
                    "(other kinds need fidelity 'finetune')")
    checks = (("group_sizes", mr.group, "group"), ("w_bits", mr.w_bits, "w_bits"),
              ("a_bits", mr.a_bits, "a_bits"), ("term_encodings", mr.encoding, "encoding"))
    for field_, value, mfield in checks:
        if value not in getattr(sp, field_):
            raise _fail(f"space.{field_}", f"must include multires.{mfield} = {value!r} (the checkpoint "
                        f"serves only that); got {list(getattr(sp, field_))}")
    return cfg


def _parse_cap(text: Any, path: str) -> Cap:
    if not isinstance(text, str):
        raise _fail(path, f"expected a string like 'latency_s <= 1e-3', got {text!r}")
    m = CAP_RE.match(text)
    if not m:
        raise _fail(path, f"cannot parse {text!r}; write 'METRIC <= VALUE' or 'METRIC >= VALUE'")
    metric, op = m.group(1), m.group(2)
    try:
        value = float(m.group(3))
    except ValueError:
        raise _fail(path, f"cannot parse the number {m.group(3)!r} in {text!r}; write e.g. 'latency_s <= 1e-3'"
                    ) from None
    if not math.isfinite(value):
        raise _fail(path, f"the bound in {text!r} must be a finite number")
    if metric not in OBJECTIVES:
        raise _fail(path, f"unknown metric {metric!r}; allowed: {', '.join(OBJECTIVES)}")
    if metric == "accuracy" and not 0.0 <= value <= 1.0:
        raise _fail(path, f"accuracy is a fraction in [0, 1], so {text!r} can never hold or always holds; "
                    "write e.g. 'accuracy >= 0.9'")
    if metric != "accuracy" and op == "<=" and value < 0:
        raise _fail(path, f"{metric} is never negative, so {text!r} can never hold; give a bound >= 0")
    return Cap(metric, op, value)


def parse_config(data: Mapping[str, Any], source: str = "") -> StudyConfig:
    """Validate a parsed TOML document into a StudyConfig (raises UserError)."""
    sections = {"study", "space", "hardware", "constraints", "sampler", "finetune", "workload"}
    for key in data:  # optional sections are listed after the core ones
        if key not in sections and key != "multires":
            raise _fail(key, f"unknown key; allowed: {', '.join(sorted(sections))}, multires")
    study = data.get("study", {})
    for sec in sections | {"multires"}:
        if sec in data and not isinstance(data[sec], dict):
            raise _fail(sec, f"expected a [{sec}] table")
    _check_keys(study, {"name", "storage", "objectives", "trials", "timeout_s", "fidelity", "seed", "baselines"},
                "study")
    kw: dict[str, Any] = {"source": source}
    if "name" in study:
        name = _typed(study["name"], str, "study.name", "a string")
        if not name.strip():
            raise _fail("study.name", "must not be empty")
        kw["name"] = name
    if "storage" in study:
        kw["storage"] = _typed(study["storage"], str, "study.storage", "a storage URL")
        if not kw["storage"].strip():
            raise _fail("study.storage", "must not be empty; leave it out for runs/dse.journal")
    if "objectives" in study:
        objs = _list(study["objectives"], "study.objectives", lambda v, p: _choice(v, p, OBJECTIVES))
        if len(objs) < 2:
            raise _fail("study.objectives", f"need two or more objectives; allowed: {', '.join(OBJECTIVES)}")
        kw["objectives"] = objs
    if "trials" in study:
        kw["trials"] = _int(study["trials"], "study.trials", 1, 10_000_000)
    if "timeout_s" in study:
        kw["timeout_s"] = _num(study["timeout_s"], "study.timeout_s", 0.0, strict_low=True)
    if "fidelity" in study:
        kw["fidelity"] = _choice(study["fidelity"], "study.fidelity", FIDELITIES)
    if "seed" in study:
        kw["seed"] = _int(study["seed"], "study.seed", 0, 2**31 - 1)
    if "baselines" in study:
        kw["baselines"] = _list(study["baselines"], "study.baselines", lambda v, p: _int(v, p, MIN_BITS, MAX_BITS),
                                nonempty=False)
    wl = data.get("workload", {})
    _check_keys(wl, {"name", "options", "kwargs", "input_shape"}, "workload")
    if "name" in wl:
        kw["workload"] = _typed(wl["name"], str, "workload.name", "a workload name or module:function")
        if not kw["workload"].strip():
            raise _fail("workload.name", "must not be empty; give a workload name (see 'dse workload list') or "
                        "module.path:function")
    if "options" in wl:
        kw["workload_options"] = dict(_typed(wl["options"], dict, "workload.options", "a table"))
    if "kwargs" in wl:  # a model class's constructor arguments (name = "module:Class"): its options
        extra = dict(_typed(wl["kwargs"], dict, "workload.kwargs", "a table of constructor arguments"))
        both = sorted(set(extra) & set(kw.get("workload_options", {})))
        if both:
            raise _fail("workload.kwargs", f"{', '.join(both)} also in workload.options; give each once")
        kw["workload_options"] = {**kw.get("workload_options", {}), **extra}
    if "input_shape" in wl:  # one input of a model class, batch excluded, e.g. [3, 32, 32]
        shape = _typed(wl["input_shape"], list, "workload.input_shape", "a list of positive integers, e.g. [3, 32, 32]")
        if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
            raise _fail("workload.input_shape", f"expected a list of positive integers such as [3, 32, 32], got {shape!r}")
        kw["workload_options"] = {**kw.get("workload_options", {}), "input_shape": list(shape)}
    cons = data.get("constraints", {})
    _check_keys(cons, {"fit_device", "caps"}, "constraints")
    if "fit_device" in cons:
        kw["fit_device"] = _typed(cons["fit_device"], bool, "constraints.fit_device", "true or false")
    if "caps" in cons:
        kw["caps"] = _list(cons["caps"], "constraints.caps", _parse_cap, nonempty=False)
    samp = data.get("sampler", {})
    _check_keys(samp, {"name", "seed"}, "sampler")
    if "name" in samp:
        kw["sampler"] = _choice(samp["name"], "sampler.name", SAMPLERS)
    if "seed" in samp:
        kw["seed"] = _int(samp["seed"], "sampler.seed", 0, 2**31 - 1)
    if "space" in data:
        kw["space"] = _parse_space(data["space"])
    if "hardware" in data:
        kw["hardware"] = _parse_hardware(data["hardware"])
    if "finetune" in data:
        kw["finetune"] = _parse_finetune(data["finetune"])
    if "multires" in data:
        kw["multires"] = _parse_multires(data["multires"])
    cfg = _check_multires_space(StudyConfig(**kw))
    if cfg.fidelity == "none" and cfg.needs_training:
        raise _fail("study.fidelity", "'none' (hardware only) cannot score 'accuracy'; drop it from "
                    "study.objectives and constraints.caps, or use 'finetune'")
    if cfg.trials is None and cfg.timeout_s is None:
        raise _fail("study.trials", "give study.trials or study.timeout_s (or both)")
    return cfg


#: the built-in demo (``dse search`` with no config); examples/digits.toml is the same study
DEMO: dict[str, Any] = {
    "study": {"name": "digits-demo", "objectives": ["accuracy", "latency_s"], "trials": 30, "seed": 0},
    "workload": {"name": "digits"},
    "space": {"kinds": ["fixed", "term"], "w_bits": [2, 3, 4, 6, 8], "a_bits": [4, 8], "first_last": "search"},
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
