"""Learned bit allocation, per filter or per layer, with a complexity-aware penalty.

After Uhlich et al., "Mixed Precision DNNs: All you need is a good parametrization"
(ICLR 2020), case U3: a uniform weight quantizer parametrised by its step size ``d`` and
dynamic range ``q_max``,

    Q(w) = d * round(clip(w, -q_max, q_max) / d)      (round straight-through)

whose bit width follows from the two (one sign bit, ``2^(b-1) - 1`` positive levels):

    b = ceil(log2(q_max / d + 1)) + 1

``d`` is kept inside ``[q_max / (2^(B-1) - 1), q_max / (2^(b_min-1) - 1)]`` so that ``b``
stays in the configured range ``[b_min, B]``. Both are learned (as logarithms, so they stay
positive; the pair is still U3's) together with the weights, from the workload's cached
FP32 model, with

    loss = cross-entropy + lambda * relu(cost - target)

and the gradient of ``b`` passed straight through the ceiling (``d b / d log d =
-(q/d) / ((q/d + 1) ln 2)``). ``cost`` is an average bit width, so ``target`` is in bits:

- ``size``: weight bits per weight, ``sum_filters(weights x b) / sum(weights)`` (model
  size / weight count, ``avg_weight_bits``);
- ``macbits``: weight bits per MAC, ``sum_filters(MACs x b) / sum(MACs)`` (``mac_bits`` /
  MACs: the work of a bit-serial unit, which tracks its latency when every lane is busy);
- ``cycles`` (an extension, not in the paper): as ``macbits`` with each layer's output
  pixels ``M`` rounded up to a multiple of the bit-serial array's rows ``R``
  (``array_rows``): ``ceil(M/R) * R * K`` lane slots per filter. On an output-stationary
  array a layer with few output pixels (a linear layer at batch 1 has ``M = 1``) leaves
  rows idle, so its bits cost far more cycles than its MACs say.

A target of 4 is the budget of a uniform 4-bit network under either metric; it must lie
in the range the bit limits allow. The exported plan is the allocation of the last
training step whose cost met the target (the hinge lets the cost hover around the
target; cosine learning-rate decay settles it), rounded up by the formula above.

Evaluation uses the search's own path, so the point means the same as a searched one: the
plan (``fixed`` schemes, ``row_bits`` per filter or ``w_bits`` per layer, activations at
``a_bits``) is fine-tuned from the cached FP32 weights by :func:`dse.train.finetune` with
the study's fine-tune budget (default 2 epochs, as ``dse search``); the allocation's own
trained weights only decide the widths. The hardware is priced by the study's model
(``bitserial`` for a study this module creates) and always also by the bit-serial model
(``latency_s`` printed by ``dse allocate``). The run is recorded as one trial with the
search's user attrs plus ``allocator`` (see :func:`run_allocation`).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from hwmodels import DesignPoint, QuantScheme
from hwmodels.formats import MAX_BITS, MIN_BITS

from ..quant import QuantLayer, compute_layer_names, quant_layers, quantize_model
from ..quant.fake import ste
from ..workloads import WorkloadBundle, get_workload

METRICS = ("size", "macbits", "cycles")
GRANULARITIES = ("filter", "layer")
FIRST_LAST = ("learn", "fixed8")
#: slack on the ceiling: log2 at an exact power of two may land a hair above the integer
_CEIL_EPS = 1e-4


def bit_width(step: float, q_max: float) -> int:
    """Signed bit width of a uniform quantizer with step ``step`` and range ``q_max``:
    ``ceil(log2(q_max / step + 1)) + 1`` (one sign bit)."""
    if not (step > 0 and q_max > 0):
        raise ValueError(f"step/q_max: must be > 0, got {step!r}, {q_max!r}")
    return int(math.ceil(math.log2(q_max / step + 1.0) - _CEIL_EPS)) + 1


@dataclass(frozen=True)
class AllocationSpec:
    """What to learn and how.

    Attributes:
        metric: ``size`` (weights x bits), ``macbits`` (MACs x bits) or ``cycles``
            (MACs padded to ``array_rows`` x bits).
        target: average bits (per weight for ``size``, per MAC for ``macbits``, per
            padded MAC for ``cycles``).
        granularity: ``filter`` (one width per output channel) or ``layer``.
        bits_min / bits_max: range of the learned widths (sign included).
        a_bits: activation bits of every layer (uniform, fixed).
        epochs: allocation training epochs.
        lr: learning rate of the weights (Adam, cosine decay).
        quant_lr: learning rate of log(step) and log(range), per learned width (plain SGD,
            cosine decay; see :func:`allocate`).
        penalty: lambda, per bit over the target.
        init_bits: starting width of every learned filter (default ``bits_max``: the
            penalty then pulls widths down fastest where they cost the most).
        first_last: ``learn`` every compute layer, or pin the first and last at W8A8
            (``fixed8``, as the search's default space does; still counted in the cost).
        batch_size: ``None`` takes the workload's.
        array_rows: ``cycles`` only: rows of the bit-serial array (its ``rows`` knob).
    """

    metric: str = "macbits"
    target: float = 4.0
    granularity: str = "filter"
    bits_min: int = 2
    bits_max: int = 8
    a_bits: int = 8
    epochs: int = 10
    lr: float = 1e-3
    quant_lr: float = 0.05
    penalty: float = 1.0
    init_bits: Optional[float] = None
    first_last: str = "learn"
    batch_size: Optional[int] = None
    array_rows: int = 16

    def __post_init__(self) -> None:
        for name, allowed in (("metric", METRICS), ("granularity", GRANULARITIES), ("first_last", FIRST_LAST)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}: must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        for name in ("bits_min", "bits_max", "a_bits"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not MIN_BITS <= v <= MAX_BITS:
                raise ValueError(f"{name}: must be an integer in [{MIN_BITS}, {MAX_BITS}], got {v!r}")
        if self.bits_min > self.bits_max:
            raise ValueError(f"bits_min: {self.bits_min} > bits_max {self.bits_max}")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs: must be an integer >= 1, got {self.epochs!r}")
        for name in ("target", "lr", "quant_lr", "penalty"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{name}: must be a finite number > 0, got {v!r}")
        if self.init_bits is not None and not self.bits_min <= self.init_bits <= self.bits_max:
            raise ValueError(f"init_bits: must be in [bits_min, bits_max] = [{self.bits_min}, {self.bits_max}], "
                             f"got {self.init_bits!r}")
        if isinstance(self.array_rows, bool) or not isinstance(self.array_rows, int) or self.array_rows < 1:
            raise ValueError(f"array_rows: must be an integer >= 1, got {self.array_rows!r}")
        if self.batch_size is not None and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise ValueError(f"batch_size: must be an integer >= 1, got {self.batch_size!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StepRangeQuantizer(nn.Module):
    """U3 weight quantizer: learned step size and dynamic range, one pair per filter
    (rows on dim 0) or per tensor; the bit width is derived (:meth:`bits`)."""

    def __init__(self, weight: torch.Tensor, per_filter: bool, bits_min: int, bits_max: int, init_bits: float):
        super().__init__()
        w = weight.detach()
        rows = w.shape[0] if per_filter else 1
        q = w.reshape(rows, -1).abs().amax(1).clamp_min(1e-8)
        d = q / (2.0 ** (float(init_bits) - 1.0) - 1.0)
        self.per_filter = per_filter
        self.bits_min, self.bits_max = int(bits_min), int(bits_max)
        self.log_q = nn.Parameter(q.log())
        self.log_d = nn.Parameter(d.log())

    def step_range(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(step d, range q_max), d clipped so that the width stays in [bits_min, bits_max]."""
        q = self.log_q.exp()
        d = torch.minimum(torch.maximum(self.log_d.exp(), q / (2.0 ** (self.bits_max - 1) - 1)),
                          q / (2.0 ** (self.bits_min - 1) - 1))
        return d, q

    def bits(self) -> torch.Tensor:
        """Width per filter (or one per tensor): ``ceil(log2(q/d + 1)) + 1`` forward, the
        continuous ``log2(q/d + 1) + 1`` backward."""
        d, q = self.step_range()
        cont = torch.log2(q / d + 1.0) + 1.0
        hard = torch.ceil(cont.detach() - _CEIL_EPS).clamp(self.bits_min, self.bits_max)
        return ste(cont, hard)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        d, q = self.step_range()
        shape = (-1,) + (1,) * (w.ndim - 1)
        d, q = d.view(shape), q.view(shape)
        wc = torch.minimum(torch.maximum(w, -q), q)
        u = wc / d
        return ste(u, torch.round(u)) * d


# --- the cost --------------------------------------------------------------------------------

@dataclass(frozen=True)
class _LayerCost:
    name: str
    rows: int
    per_row: float  # weights (size), MACs (macbits) or padded MACs (cycles) of one filter


def _cost_terms(bundle: WorkloadBundle, learned: list[str], pinned: list[str], metric: str,
                array_rows: int = 16) -> tuple[list[_LayerCost], float, float]:
    """Per-filter coefficients of the learned layers, the pinned layers' fixed cost (at 8
    bits) and the normaliser (total weights or MACs)."""
    specs = {l.name: l for l in bundle.spec.layers}
    missing = [n for n in learned + pinned if n not in specs]
    if missing:
        raise ValueError(f"workload {bundle.name!r}: layer {missing[0]!r} of the model is not in its traced "
                         "hardware view")

    def per_row(name: str) -> float:
        l = specs[name]
        if metric == "size":
            return float(l.K)
        if metric == "cycles":
            return float(-(-l.M // array_rows) * array_rows * l.K)
        return float(l.M * l.K)

    terms = [_LayerCost(n, specs[n].N, per_row(n)) for n in learned]
    fixed = sum(8.0 * per_row(n) * specs[n].N for n in pinned)
    total = sum(per_row(l.name) * l.N for l in bundle.spec.layers if l.name in set(learned + pinned))
    return terms, fixed, total


def cost_range(terms: list[_LayerCost], fixed: float, total: float, bits_min: int, bits_max: int
               ) -> tuple[float, float]:
    """Smallest and largest average bits the learned layers can reach."""
    low = (sum(t.per_row * t.rows * bits_min for t in terms) + fixed) / total
    high = (sum(t.per_row * t.rows * bits_max for t in terms) + fixed) / total
    return low, high


def _cost(quantizers: dict[str, StepRangeQuantizer], terms: list[_LayerCost], fixed: float,
          total: float) -> torch.Tensor:
    acc = torch.zeros((), dtype=torch.float64)  # exact sums of integer widths
    for t in terms:
        b = quantizers[t.name].bits().double()
        per_layer = b.sum() if b.numel() == t.rows else b.sum() * t.rows
        acc = acc + t.per_row * per_layer
    return (acc + fixed) / total


# --- results --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Allocation:
    """A learned allocation and how it was reached.

    ``point`` is the plan (hardware knobs empty); ``bits`` the widths per layer (one per
    filter, or one for a per-layer allocation); ``cost`` the exported plan's average bits
    under the spec's metric; ``target_met`` whether some step met the target (else the
    last step is exported); ``allocator_accuracy`` the validation accuracy of the jointly
    trained model with its own U3 quantizers after the last step; ``history`` one entry
    per epoch (cross-entropy, cost, validation accuracy).
    """

    spec: AllocationSpec
    point: DesignPoint
    bits: dict[str, tuple[int, ...]]
    cost: float
    target_met: bool
    allocator_accuracy: float
    float_accuracy: float
    steps: int
    time_s: float
    history: tuple[dict[str, float], ...] = field(default=())

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (what the recorded trial stores under ``allocator``)."""
        return {"spec": self.spec.to_dict(), "cost": self.cost, "target_met": self.target_met,
                "allocator_accuracy": self.allocator_accuracy, "float_accuracy": self.float_accuracy,
                "steps": self.steps, "time_s": self.time_s,
                "layer_mean_bits": {n: sum(b) / len(b) for n, b in self.bits.items()},
                "history": list(self.history)}


def _plan(bits: dict[str, tuple[int, ...]], pinned: list[str], a_bits: int) -> DesignPoint:
    schemes = {}
    for name, b in bits.items():
        if len(set(b)) == 1:  # uniform (also every per-layer allocation): plain w_bits
            schemes[name] = QuantScheme("fixed", b[0], a_bits)
        else:
            schemes[name] = QuantScheme.with_row_bits(b, a_bits)
    for name in pinned:
        schemes[name] = QuantScheme("fixed", 8, 8)
    return DesignPoint.make(schemes)


def _layer_split(names: list[str], spec: AllocationSpec) -> tuple[list[str], list[str]]:
    """(learned, pinned) compute layers."""
    pinned = [names[0], names[-1]] if spec.first_last == "fixed8" and len(names) > 2 else []
    return [n for n in names if n not in pinned], pinned


def check_target(workload: Union[str, WorkloadBundle], spec: AllocationSpec) -> tuple[float, float]:
    """The (lowest, highest) average bits the spec's limits reach on ``workload``; raises
    ``ValueError`` (field ``target``) when the target is below the lowest. Builds the model
    only (no data, no training)."""
    bundle = get_workload(workload) if isinstance(workload, str) else workload
    with torch.random.fork_rng(devices=[]):
        names = compute_layer_names(bundle.build_model())
    learned, pinned = _layer_split(names, spec)
    terms = _cost_terms(bundle, learned, pinned, spec.metric, spec.array_rows)
    low, high = cost_range(*terms, spec.bits_min, spec.bits_max)
    if spec.target < low - 1e-9:
        raise ValueError(f"target: {spec.target:g} average bits is below the smallest reachable "
                         f"{low:.4g} (every learned filter at bits_min = {spec.bits_min})")
    return low, high


def allocate(workload: Union[str, WorkloadBundle], spec: AllocationSpec, seed: int = 0, *,
             device: str = "cpu", cache_dir: Any = None, pretrain_epochs: Optional[int] = None,
             threads: int = 1, progress: bool = False) -> Allocation:
    """Learn bit widths for ``workload`` from its cached FP32 model (see module doc).

    Raises ``ValueError`` for a target outside what the bit limits can reach."""
    from ..training import (batches, calibrate_activations, num_batches, progress_bar, evaluate_accuracy, pretrain,
                        resolve_device, seeded)

    bundle = get_workload(workload) if isinstance(workload, str) else workload
    dev = resolve_device(device)
    check_target(bundle, spec)
    pre = pretrain(bundle, seed, pretrain_epochs, cache_dir=cache_dir, device=device, progress=progress,
                   threads=threads)
    batch_size = spec.batch_size or bundle.batch_size
    t0 = time.perf_counter()
    with seeded(seed, dev, threads):
        model = bundle.build_model()
        model.load_state_dict(pre.state_dict)
        learned, pinned = _layer_split(compute_layer_names(model), spec)
        terms, fixed, total = _cost_terms(bundle, learned, pinned, spec.metric, spec.array_rows)
        init = spec.init_bits if spec.init_bits is not None else spec.bits_max
        plan = {n: QuantScheme("fixed", spec.bits_max, spec.a_bits) for n in learned}
        plan.update({n: QuantScheme("fixed", 8, 8) for n in pinned})
        model = quantize_model(model, plan, inplace=True)
        layers = quant_layers(model)
        quantizers: dict[str, StepRangeQuantizer] = {}
        for n in learned:
            ql: QuantLayer = layers[n]
            quantizers[n] = StepRangeQuantizer(ql.inner.weight, spec.granularity == "filter", spec.bits_min,
                                               spec.bits_max, init)
            ql.weight_quant = quantizers[n]
        model = model.to(dev)
        calibrate_activations(model, bundle.train, batch_size, dev)
        qparams = [p for q in quantizers.values() for p in q.parameters()]
        qids = {id(p) for p in qparams}
        weights = [p for p in model.parameters() if p.requires_grad and id(p) not in qids]
        # plain SGD on the quantizer parameters: a filter's step follows the size of its
        # penalty gradient (its share of the cost), which is what makes the allocation
        # cost-aware; Adam would normalise that share away. The rate is per learned width,
        # so a filter of average cost moves about quant_lr * penalty / ln 2 per step.
        n_widths = sum(q.log_d.numel() for q in quantizers.values())
        opt_w = torch.optim.Adam(weights, lr=spec.lr)
        opt_q = torch.optim.SGD(qparams, lr=spec.quant_lr * n_widths)
        for o in (opt_w, opt_q):
            for g in o.param_groups:
                g["base"] = g["lr"]
        per_epoch = num_batches(bundle.train, batch_size) or 1
        total_steps = spec.epochs * per_epoch
        gen = torch.Generator().manual_seed(seed)
        best_bits: Optional[dict[str, tuple[int, ...]]] = None
        best_cost = math.nan
        history: list[dict[str, float]] = []
        steps = 0
        bar = progress_bar(total_steps, f"allocate {bundle.name}", progress)
        try:
            for epoch in range(spec.epochs):
                model.train()
                ce_sum = n_batches = 0.0
                for x, y in batches(bundle.train, batch_size, gen):
                    scale = 0.5 * (1.0 + math.cos(math.pi * steps / total_steps))
                    for o in (opt_w, opt_q):
                        for g in o.param_groups:
                            g["lr"] = g["base"] * scale
                    x, y = x.to(dev), y.to(dev)
                    ce = F.cross_entropy(model(x), y)
                    cost = _cost(quantizers, terms, fixed, total).to(ce.device)
                    loss = ce + spec.penalty * F.relu(cost - spec.target).to(ce.dtype)
                    if not torch.isfinite(loss):
                        raise RuntimeError(f"allocation diverged: loss {float(loss)} at step {steps + 1}; "
                                           "lower --lr / quant_lr")
                    opt_w.zero_grad(set_to_none=True)
                    opt_q.zero_grad(set_to_none=True)
                    loss.backward()
                    opt_w.step()
                    opt_q.step()
                    steps += 1
                    ce_sum += float(ce.detach())
                    n_batches += 1
                    bar.update(1)
                    with torch.no_grad():
                        now = float(_cost(quantizers, terms, fixed, total))
                        if now <= spec.target + 1e-9:
                            best_bits = _current_bits(quantizers, terms)
                            best_cost = now
                acc = evaluate_accuracy(model, bundle.val, dev)
                history.append({"epoch": epoch + 1, "cross_entropy": ce_sum / max(n_batches, 1),
                                "cost": now, "val_accuracy": acc})
        finally:
            bar.close()
    met = best_bits is not None
    if not met:
        with torch.no_grad():
            best_bits = _current_bits(quantizers, terms)
            best_cost = float(_cost(quantizers, terms, fixed, total))
    point = _plan(best_bits, pinned, spec.a_bits)
    return Allocation(spec, point, best_bits, best_cost, met, history[-1]["val_accuracy"], pre.float_accuracy,
                      steps, time.perf_counter() - t0, tuple(history))


def _current_bits(quantizers: dict[str, StepRangeQuantizer], terms: list[_LayerCost]) -> dict[str, tuple[int, ...]]:
    out = {}
    for t in terms:
        b = [int(v) for v in quantizers[t.name].bits().detach().round().tolist()]
        out[t.name] = tuple(b) if len(b) == t.rows else tuple(b * t.rows)
    return out


# --- evaluation and recording ------------------------------------------------------------------

@dataclass(frozen=True)
class AllocationRun:
    """An allocation evaluated like a searched point (and recorded, when a study is given).

    ``evaluation`` is the :class:`dse.evaluate.Evaluation` (metrics of the study's hardware
    model, fine-tuned accuracy); ``bitserial`` the bit-serial model's summary of the same
    plan; ``trial`` the recorded trial number (``None`` without a study)."""

    allocation: Allocation
    point: DesignPoint
    evaluation: Any
    bitserial: dict[str, Any]
    study: Optional[str] = None
    trial: Optional[int] = None
    created: bool = False

    @property
    def accuracy(self) -> float:
        return float(self.evaluation.metrics.get("accuracy", math.nan))

    def result(self) -> dict[str, Any]:
        """The four numbers ``dse allocate`` prints: accuracy, average weight bits, sum of
        MACs x bits, bit-serial latency (s)."""
        m = self.evaluation.metrics
        return {"accuracy": self.accuracy, "avg_weight_bits": float(m["avg_weight_bits"]),
                "mac_bits": float(m["mac_bits"]), "latency_s": float(self.bitserial["latency_s"])}


def study_config(workload: str, name: str, storage: Optional[str], *, device: Optional[str] = None,
                 bits: tuple[int, int] = (2, 8), a_bits: int = 8, finetune_epochs: int = 2,
                 objectives: tuple[str, ...] = ("accuracy", "latency_s"), seed: int = 0,
                 workload_options: Optional[dict[str, Any]] = None) -> tuple[Any, dict[str, Any]]:
    """(StudyConfig, its TOML-shaped source) of a study ``dse allocate`` creates: the
    bit-serial model (knobs at their defaults, ``device`` fixed when given), fixed-point
    schemes of the allocation's widths with first and last layers searched too (so ``dse
    worker`` can later search the same space), no enqueued baselines."""
    from ..config import parse_config

    raw: dict[str, Any] = {
        "study": {"name": name, "objectives": list(objectives), "seed": int(seed), "baselines": []},
        "workload": {"name": workload, "options": dict(workload_options or {})},
        "space": {"kinds": ["fixed"], "w_bits": list(range(bits[0], bits[1] + 1)), "a_bits": [int(a_bits)],
                  "first_last": "search"},
        "hardware": {"model": "bitserial", **({"device": device} if device else {})},
        "finetune": {"epochs": int(finetune_epochs)},
    }
    if storage is not None:
        raw["study"]["storage"] = str(storage)
    return parse_config(raw, source="dse allocate"), raw


def _hardware_knobs(resolved: Any) -> dict[str, Any]:
    """The knobs of an external point in a study: its fixed knobs, and the model's
    defaults (clamped into the searched ranges) for the searched ones."""
    from search_spaces import HardwarePiece

    knobs: dict[str, Any] = {}
    for piece in resolved.space.pieces:
        if isinstance(piece, HardwarePiece):
            knobs.update(piece.fixed)
            for key, value in (piece.baseline_params(resolved.workload, 8, 8) or {}).items():
                knobs[key[len("hw."):]] = value
    return knobs


def run_allocation(workload: Union[str, WorkloadBundle], spec: AllocationSpec, seed: int = 0, *,
                   storage: Optional[str] = None, study: Optional[str] = None, device: Optional[str] = None,
                   finetune_epochs: int = 2, objectives: tuple[str, ...] = ("accuracy", "latency_s"),
                   workload_options: Optional[dict[str, Any]] = None, train_device: str = "cpu",
                   cache_dir: Any = None, threads: int = 1, progress: bool = False) -> AllocationRun:
    """Allocate, evaluate like a searched point, price on the bit-serial model and (with
    ``storage`` and ``study``) record one trial.

    An existing study is used as it is (its workload must match; its hardware model, knobs,
    objectives and fine-tune budget apply; ``device``/``finetune_epochs``/``objectives``
    are ignored); an absent one is created by :func:`study_config`. Without a study the
    point is evaluated the same way with :func:`study_config`'s settings and not stored.
    The trial's user attrs follow the search's schema (``status``, ``point``,
    ``point_key``, ``metrics``, ``hw``, ``hw_layers``, ``finetune``, ``timing``) plus
    ``allocator`` (:meth:`Allocation.summary` and the bit-serial summary)."""
    import optuna

    from hwmodels.registry import get_model

    from ..errors import UserError
    from ..evaluate import Evaluator
    from ..study import config_from_study, open_study, record_point, resolve
    from ..training import FinetuneBudget, finetune

    if (storage is None) != (study is None):
        raise UserError("--storage/--study: give both to record the run in a study, or neither")
    name = workload if isinstance(workload, str) else workload.name
    bundle = workload if isinstance(workload, WorkloadBundle) else get_workload(name, **dict(workload_options or {}))
    check_target(bundle, spec)  # before anything is written
    handle = None
    created = False
    if study is not None:
        from ..study.storage import open_storage

        handle = open_storage(storage)
        known = {s.study_name for s in optuna.get_all_study_summaries(handle.storage, include_best_trial=False)}
        if study in known:
            loaded = optuna.load_study(study_name=study, storage=handle.storage)
            cfg = config_from_study(loaded)
            if cfg.workload != name:
                raise UserError(f"--study: study {study!r} is about workload {cfg.workload!r}, not {name!r}")
            if cfg.fidelity != "finetune":
                raise UserError(f"--study: study {study!r} scores accuracy with fidelity {cfg.fidelity!r}; "
                                "an allocation is scored by a fine-tune (fidelity 'finetune')")
            resolved = resolve(cfg)
        else:
            cfg, raw = study_config(name, study, storage, device=device, bits=(spec.bits_min, spec.bits_max),
                                    a_bits=spec.a_bits, finetune_epochs=finetune_epochs, objectives=objectives,
                                    seed=seed, workload_options=workload_options)
            resolved = resolve(cfg)
            loaded, created = open_study(handle, cfg, raw, resolved)
    else:
        cfg, _ = study_config(name, "allocate", None, device=device, bits=(spec.bits_min, spec.bits_max),
                              a_bits=spec.a_bits, finetune_epochs=finetune_epochs, objectives=objectives,
                              seed=seed, workload_options=workload_options)
        if isinstance(workload, str):
            resolved = resolve(cfg)
        else:  # an in-memory bundle (tests, notebooks): the same parts, built by hand
            from search_spaces import HardwarePiece, SearchSpace

            from ..study import Resolved

            model = get_model("bitserial")
            fixed = {"device": device} if device else {}
            resolved = Resolved(cfg, model, workload.spec, SearchSpace([HardwarePiece(model, fixed=fixed)]),
                                workload)
    if resolved.bundle is not None:
        bundle = resolved.bundle
    alloc = allocate(bundle, spec, cfg.seed, device=train_device, cache_dir=cache_dir,
                     pretrain_epochs=cfg.finetune.pretrain_epochs, threads=threads, progress=progress)
    knobs = _hardware_knobs(resolved)
    point = alloc.point.with_knobs(**knobs)
    f = cfg.finetune
    budget = FinetuneBudget(epochs=f.epochs, steps=f.steps, lr=f.lr, optimizer=f.optimizer,
                            weight_decay=f.weight_decay, batch_size=f.batch_size)

    def ft(p: DesignPoint, abort: Any) -> Any:  # dse.study.make_finetune_fn, with this run's cache/threads
        return finetune(bundle, p, budget, seed=cfg.seed, abort=abort, device=train_device, cache_dir=cache_dir,
                        pretrain_epochs=f.pretrain_epochs, threads=threads)

    ev = Evaluator(cfg, resolved.model, resolved.workload, ft).evaluate(point)
    if resolved.model.name == "bitserial":
        bs = dict(ev.hw) if ev.hw else resolved.model.evaluate(resolved.workload, point).summary()
    else:
        dev_knob = {"device": knobs["device"]} if "device" in knobs else {}
        bs = get_model("bitserial").evaluate(resolved.workload, alloc.point.with_knobs(**dev_knob)).summary()
    trial = None
    if handle is not None:
        frozen = record_point(handle, loaded, point, ev, {"allocator": {**alloc.summary(), "bitserial": bs}})
        trial = frozen.number
    return AllocationRun(alloc, point, ev, bs, study, trial, created)


__all__ = ["Allocation", "AllocationRun", "AllocationSpec", "METRICS", "StepRangeQuantizer", "allocate",
           "bit_width", "cost_range", "run_allocation", "study_config"]
