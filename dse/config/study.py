"""The study itself: ``[study]``, ``[workload]``, ``[constraints]`` and ``[sampler]`` fill the flat
:class:`StudyConfig` (each field names its TOML spelling), which holds the other sections."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from hwmodels.formats import MAX_BITS, MIN_BITS

from ..metrics import METRICS, names as metric_names
from .fidelities import allowed_fidelities
from .finetune import FinetuneConfig
from .hardware import HardwareConfig
from .multires import MultiresConfig
from .screen import ScreenConfig
from .schema import Bool, Choice, Int, ListOf, Num, Str, Table, fail, setting
from .space import SpaceConfig

# the metric vocabulary lives in dse/metrics.py (one table); these names are derived from it
OBJECTIVES = metric_names(objective=True)
CAP_METRICS = metric_names(cap=True)
MAXIMIZE = frozenset(n for n, m in METRICS.items() if m.maximize)
HW_ONLY_OBJECTIVES = tuple(o for o in OBJECTIVES if METRICS[o].source != "training")
SAMPLERS = ("tpe", "nsga2", "nsga3", "gp", "random")
CAP_RE = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


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


def parse_cap(text: Any, path: str) -> Cap:
    """``'METRIC <= VALUE'`` or ``'METRIC >= VALUE'`` -> :class:`Cap`."""
    if not isinstance(text, str):
        raise fail(path, f"expected a string like 'latency_s <= 1e-3', got {text!r}")
    m = CAP_RE.match(text)
    if not m:
        raise fail(path, f"cannot parse {text!r}; write 'METRIC <= VALUE' or 'METRIC >= VALUE'")
    metric, op = m.group(1), m.group(2)
    try:
        value = float(m.group(3))
    except ValueError:
        raise fail(path, f"cannot parse the number {m.group(3)!r} in {text!r}; write e.g. 'latency_s <= 1e-3'"
                   ) from None
    if not math.isfinite(value):
        raise fail(path, f"the bound in {text!r} must be a finite number")
    if metric not in CAP_METRICS:
        raise fail(path, f"unknown metric {metric!r}; allowed: {', '.join(CAP_METRICS)}")
    if metric == "accuracy" and not 0.0 <= value <= 1.0:
        raise fail(path, f"accuracy is a fraction in [0, 1], so {text!r} can never hold or always holds; "
                   "write e.g. 'accuracy >= 0.9'")
    if metric != "accuracy" and op == "<=" and value < 0:
        raise fail(path, f"{metric} is never negative, so {text!r} can never hold; give a bound >= 0")
    return Cap(metric, op, value)


_SEED = Int(0, 2**31 - 1)


@dataclass(frozen=True)
class StudyConfig:
    name: str = setting("digits-demo", Str(empty="must not be empty"), "study name in the storage",
                        toml=["study.name"], cli="--study")
    storage: str | None = setting(None, Str("a storage URL", empty="must not be empty; leave it out for "
                                                                    "runs/dse.journal"),
                                  "storage URL (default runs/dse.journal; sqlite:///F, postgresql://...)",
                                  toml=["study.storage"])
    workload: str = setting("digits", Str("a workload name or module:function",
                                          empty="must not be empty; give a workload name (see 'dse workload list') "
                                                "or module.path:function"),
                            "workload name (see 'dse workload list') or module.path:function",
                            toml=["workload.name"])
    workload_options: Mapping[str, Any] = setting(default_factory=dict, constraint=Table(),
                                                  doc="the workload's options", toml=["workload.options"])
    objectives: tuple[str, ...] = setting(("accuracy", "latency_s"),
                                          ListOf(Choice(lambda: OBJECTIVES), min_len=2,
                                                 short=f"need two or more objectives; allowed: "
                                                       f"{', '.join(OBJECTIVES)}"),
                                          "metrics to optimise, two or more", toml=["study.objectives"])
    fit_device: bool = setting(True, Bool(), "refuse designs that do not fit the FPGA part",
                               toml=["constraints.fit_device"])
    caps: tuple[Cap, ...] = setting((), ListOf(parse_cap, nonempty=False),
                                    "bounds such as 'latency_s <= 1e-3'", toml=["constraints.caps"])
    sampler: str = setting("tpe", Choice(SAMPLERS), "Optuna sampler", toml=["sampler.name"])
    seed: int = setting(0, _SEED, "sampler seed", toml=["study.seed", "sampler.seed"])
    trials: int | None = setting(30, Int(1, 10_000_000), "total trials in the study", toml=["study.trials"])
    timeout_s: float | None = setting(None, Num(0.0, strict_low=True), "stop starting trials after this many "
                                                                       "seconds", toml=["study.timeout_s"],
                                      cli="--timeout")
    fidelity: str = setting("finetune", Choice(allowed_fidelities), "how candidates are scored: finetune, "
                                                                    "multires or none (hardware only)",
                            toml=["study.fidelity"])
    baselines: tuple[int, ...] = setting((8, 4), ListOf(Int(MIN_BITS, MAX_BITS), nonempty=False),
                                         "uniform fixed-point widths enqueued first", toml=["study.baselines"])
    space: SpaceConfig = field(default_factory=SpaceConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    source: str = ""
    multires: MultiresConfig = field(default_factory=MultiresConfig)
    screen: ScreenConfig | None = None  # [screen]: multi-fidelity screening (issue 13)

    @property
    def directions(self) -> list[str]:
        return ["maximize" if o in MAXIMIZE else "minimize" for o in self.objectives]

    @property
    def needs_training(self) -> bool:
        return "accuracy" in self.objectives or any(c.metric == "accuracy" for c in self.caps)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["finetune"] = self.finetune.to_dict()
        d["caps"] = [str(c) for c in self.caps]
        d.pop("source", None)
        if self.fidelity != "multires":  # unused then; studies stored before it existed stay comparable
            d.pop("multires", None)
        if self.screen is None:  # no screening: stored studies stay comparable
            d.pop("screen", None)
        return d
