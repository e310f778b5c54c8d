"""What defines a multi-resolution model and its training: the resolutions (:class:`TermBudget`),
the :class:`MultiresSpec` (the checkpoint's cache key) and the per-layer facts it implies
(which layers stay pinned at 8-bit fixed point, which resolution serves a given scheme)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Optional, Sequence, Union

from hwmodels.formats import BASELINE_KIND, QuantScheme, max_terms

from ...config import (DEFAULT_MULTIRES_BUDGETS, MULTIRES_KIND, FinetuneBudget, FinetuneConfig, MultiresConfig,
                       SpaceConfig, StudyConfig, parse_budget)
from ...errors import UserError
from ...workloads import WorkloadBundle
from ..settings import check_settings, declared_by

WorkloadLike = Union[str, WorkloadBundle]
#: the number format every multi-resolution layer runs (its term budget is the resolution)
TERM = MULTIRES_KIND


@dataclass(frozen=True)
class TermBudget:
    """One resolution: ``act_terms`` power-of-two terms per activation value and
    ``weight_terms`` terms per group of weights. Written ``"a:k"``."""

    act_terms: int
    weight_terms: int

    def __post_init__(self) -> None:
        for name in ("act_terms", "weight_terms"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: must be an integer >= 1, got {v!r}")

    @property
    def term_pairs(self) -> int:
        """Weight-term x activation-term pairs per group (the term-serial cycles)."""
        return self.act_terms * self.weight_terms

    def __str__(self) -> str:
        return f"{self.act_terms}:{self.weight_terms}"

    @classmethod
    def parse(cls, value: Any) -> "TermBudget":
        """From ``"a:k"``, ``(a, k)`` or a TermBudget."""
        if isinstance(value, TermBudget):
            return value
        try:
            a, k = parse_budget(list(value) if isinstance(value, tuple) else value, "budget")
        except UserError as e:
            raise ValueError(str(e)) from None
        return cls(a, k)


def _order(b: TermBudget) -> tuple[int, int, int]:
    return (b.term_pairs, b.weight_terms, b.act_terms)


#: spec fields checked against their declared constraints, in this order (budgets are parsed
#: by TermBudget; lr, optimizer and batch_size by the FinetuneBudget they make)
_CHECKED = ("group_size", "w_bits", "a_bits", "encoding", "granularity", "first_last", "epochs", "distill_weight",
            "temperature")


@dataclass(frozen=True)
class MultiresSpec:
    """Everything that defines a multi-resolution model and its training (the cache key).

    Each field is declared once, by a config setting (``fields(MultiresSpec)[i].metadata``
    names it: ``[multires]`` for the method's own settings, ``[space]`` for the granularity,
    ``[finetune]`` for the optimizer, batch size and pre-training epochs; the doc strings
    live there). ``budgets`` are kept sorted by (term pairs, weight terms, activation terms):
    the last one is the teacher. ``batch_size=None`` and ``pretrain_epochs=None`` take the
    workload's. The optimizer, schedule and data order are the fine-tune's
    (:func:`dse.training.finetune`), so an individually trained model differs only in the
    loss and the single resolution.
    """

    budgets: tuple[TermBudget, ...] = declared_by(MultiresConfig, "budgets",
                                                  tuple(TermBudget(a, k) for a, k in DEFAULT_MULTIRES_BUDGETS),
                                                  config="multires.budgets")
    group_size: int = declared_by(MultiresConfig, "group", config="multires.group")
    w_bits: int = declared_by(MultiresConfig, "w_bits", config="multires.w_bits")
    a_bits: int = declared_by(MultiresConfig, "a_bits", config="multires.a_bits")
    encoding: str = declared_by(MultiresConfig, "encoding", config="multires.encoding")
    granularity: str = declared_by(SpaceConfig, "granularity", config="space.granularity")
    first_last: str = declared_by(MultiresConfig, "first_last", MULTIRES_KIND, config="multires.first_last")
    epochs: int = declared_by(MultiresConfig, "epochs", config="multires.epochs")
    lr: float = declared_by(MultiresConfig, "lr", config="multires.lr")
    optimizer: str = declared_by(FinetuneBudget, "optimizer")
    distill_weight: float = declared_by(MultiresConfig, "distill_weight", config="multires.distill_weight")
    temperature: float = declared_by(MultiresConfig, "temperature", config="multires.temperature")
    batch_size: Optional[int] = declared_by(FinetuneBudget, "batch_size", config="finetune.batch_size")
    pretrain_epochs: Optional[int] = declared_by(FinetuneConfig, "pretrain_epochs", config="finetune.pretrain_epochs")

    def __post_init__(self) -> None:
        raw = self.budgets.split(",") if isinstance(self.budgets, str) else list(self.budgets)
        budgets = tuple(sorted((TermBudget.parse(b) if not isinstance(b, TermBudget) else b for b in raw),
                               key=_order))
        if len(budgets) < 2:
            raise ValueError("budgets: need two or more (the largest is the teacher of the others)")
        if len(set(budgets)) != len(budgets):
            raise ValueError(f"budgets: has duplicate entries: {', '.join(map(str, budgets))}")
        object.__setattr__(self, "budgets", budgets)
        check_settings(self, _CHECKED)
        self.finetune_budget()  # checks lr, optimizer and batch_size
        for i in range(len(budgets)):
            self.scheme(i)  # validates bits, group size and activation budgets

    @property
    def teacher(self) -> int:
        """Index of the teacher (the largest budget)."""
        return len(self.budgets) - 1

    @property
    def students(self) -> tuple[int, ...]:
        return tuple(range(len(self.budgets) - 1))

    def scheme(self, index: int) -> QuantScheme:
        """The term scheme of resolution ``index``."""
        b = self.budgets[index]
        try:
            return QuantScheme(kind=TERM, w_bits=self.w_bits, a_bits=self.a_bits, granularity=self.granularity,
                               term_budget=b.weight_terms, group_size=self.group_size,
                               term_encoding=self.encoding, a_term_budget=b.act_terms)
        except ValueError as e:
            raise ValueError(f"budgets: {b}: {e}") from None

    @property
    def fixed_scheme(self) -> QuantScheme:
        """The scheme of the first and last layers when ``first_last = "fixed8"``."""
        return QuantScheme(kind=BASELINE_KIND, w_bits=8, a_bits=8, granularity=self.granularity)

    def finetune_budget(self) -> FinetuneBudget:
        """The budget each individually trained model gets: the same epochs (so the same
        optimizer steps and passes over the data), learning rate and optimizer."""
        return FinetuneBudget(epochs=self.epochs, lr=self.lr, optimizer=self.optimizer, batch_size=self.batch_size)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["budgets"] = [str(b) for b in self.budgets]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MultiresSpec":
        return cls(**dict(data))

    @classmethod
    def from_config(cls, cfg: StudyConfig) -> "MultiresSpec":
        """The spec a study with ``fidelity = "multires"`` uses: each field from the config
        setting that declares it (``[multires]``, the space's granularity, the fine-tune's
        pre-training epochs and batch size); ``multires.first_last`` unset follows
        ``space.first_last``."""
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.metadata["config"] is not None:
                section, key = f.metadata["config"].split(".")
                kw[f.name] = getattr(getattr(cfg, section), key)
        if kw["first_last"] is None:
            kw["first_last"] = "fixed8" if cfg.space.first_last == "fixed8" else MULTIRES_KIND
        kw["budgets"] = tuple(TermBudget(a, k) for a, k in kw["budgets"])
        return cls(**kw)


def nearest_resolution(spec: MultiresSpec, scheme: QuantScheme) -> int:
    """Index of the budget equal to ``scheme``'s (a, k), else the nearest in term pairs on
    a log scale (ties: the larger). No activation budget counts as every magnitude bit."""
    a = scheme.a_term_budget if scheme.a_term_budget is not None else max_terms(scheme.a_bits, "binary")
    k = int(scheme.term_budget)
    for i, b in enumerate(spec.budgets):
        if (b.act_terms, b.weight_terms) == (a, k):
            return i
    target = math.log(a * k)
    return min(range(len(spec.budgets)),
               key=lambda i: (abs(math.log(spec.budgets[i].term_pairs) - target), -i))


def pinned_layers(layer_names: Sequence[str], spec: MultiresSpec) -> frozenset[str]:
    """Layers kept at 8-bit fixed point (first and last, with ``first_last = "fixed8"``)."""
    if spec.first_last == "fixed8" and layer_names:
        return frozenset({layer_names[0], layer_names[-1]})
    return frozenset()


def resolution_plan(layer_names: Sequence[str], spec: MultiresSpec, index: int) -> dict[str, QuantScheme]:
    """{layer: scheme} with every term layer at resolution ``index`` (pinned layers at 8-bit
    fixed point)."""
    names = list(layer_names)
    pinned = pinned_layers(names, spec)
    return {n: spec.fixed_scheme if n in pinned else spec.scheme(index) for n in names}
