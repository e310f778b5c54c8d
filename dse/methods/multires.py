"""Multi-resolution term training, and scoring search candidates from it without a fine-tune.

Recipe: Zhang, McDanel, Kung and Dong, "Training for multi-resolution inference using
reusable quantization terms" (ASPLOS 2021), on the term quantization of Kung, McDanel and
Zhang (SC 2020). One model, one set of weights, serves a list of *resolutions*, each a
budget ``a:k`` = ``a`` power-of-two terms per activation and ``k`` terms per group of
``g`` weights (along the reduction axis):

- weights are normalised and clipped by a learned scale (``dse.quant.WeightQuantizer``,
  LSQ-style, one clip per output channel), put on a ``w_bits`` integer grid, and each group
  keeps its ``k`` largest terms (binary or canonical-signed-digit encoding). The kept terms
  at budget ``k`` are a prefix of those at ``k + 1`` (``dse.quant.terms``), and the grid
  and clip are shared, so the terms of a smaller budget are *reused* by every larger one;
- every step runs the largest budget (by term pairs ``a * k``) as teacher and one other
  budget as student, cycling through the others in order. The loss is
  ``CE(teacher) + CE(student) + w T^2 KL(softmax(teacher / T) || softmax(student / T))``
  with distillation weight ``w`` and temperature ``T`` (Hinton's T^2 scaling; the
  teacher's logits are detached in the distillation term so that it pulls the student
  only). Defaults w = 0.1, T = 4: the reference code's student loss
  ``(1 - w) CE + w T^2 KL`` with w = 0.5 (a distillation term 8x the student's
  cross-entropy at T = 4) cost 1.5 points against individual training on mnist1d, over
  three seeds, where w = 0.1 here cost 0.5 and w = 0 cost 0.4 (docs/reproduction.md);
- every BatchNorm is replaced by a :class:`SwitchableBatchNorm` holding one BatchNorm per
  resolution (statistics and affine parameters); everything else is shared;
- training starts from the workload's cached FP32 weights, with the fine-tune's optimizer
  (Adam, cosine decay) and data order. With ``first_last = "fixed8"`` the first and last
  compute layers stay at 8-bit fixed point, as in the paper; with ``term`` (default) every
  compute layer is multi-resolution.

Scoring a candidate (``fidelity = "multires"``): its per-layer (or global) term budgets are
applied to a copy of the checkpoint, each BatchNorm takes the resolution nearest to the
budget of the layer feeding it (nearest in term pairs, on a log scale), its running
statistics are re-estimated on :data:`DEFAULT_CALIBRATION_BATCHES` (``[multires]
calibration_batches``) shuffled training batches, and the copy is evaluated. No weight
changes. Any budget can be applied, not only those in the list (terms nest), but only
kind ``term`` layers on the checkpoint's grid, group size, encoding and granularity: any
other candidate fails with a reason naming the layer.

Checkpoints are one file each, cached under ``$DSE_CACHE_DIR/multires`` (as
``dse.train``'s FP32 weights), keyed by workload, options, seed, every training setting and
:data:`CODE_VERSION`; a damaged or foreign file is rebuilt.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from hwmodels.base import DesignPoint
from hwmodels.formats import ENCODINGS, GRANULARITIES, MAX_BITS, MIN_BITS, QuantScheme, max_terms
from hwmodels.workload import Workload

from .. import __version__
from ..config import DEFAULT_MULTIRES_BUDGETS, MULTIRES_FIRST_LAST, MultiresConfig, StudyConfig, parse_budget
from ..errors import UserError
from ..quant import QuantLayer, quant_layers, quantize_model
from ..training import (CODE_VERSION as TRAIN_CODE_VERSION, CPU_THREADS, FinetuneBudget, FinetuneResult,
                    architecture_digest, as_bundle, batches, num_batches, make_optimizer,
                    progress_bar, require_data, to_device, write_atomic, cache_root, evaluate_accuracy, finetune,
                    pretrain, resolve_device, seeded)
from ..workloads import TensorData, WorkloadBundle

#: bump when a change to multi-resolution training makes earlier checkpoints stale
CODE_VERSION = 1
#: BatchNorm re-estimation batches per scored candidate (``[multires] calibration_batches``)
DEFAULT_CALIBRATION_BATCHES = MultiresConfig.calibration_batches
_FORMAT = "dse-multires-v1"

WorkloadLike = Union[str, WorkloadBundle]


# --- resolutions ----------------------------------------------------------------------------

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


@dataclass(frozen=True)
class MultiresSpec:
    """Everything that defines a multi-resolution model and its training (the cache key).

    ``budgets`` are kept sorted by (term pairs, weight terms, activation terms): the last
    one is the teacher. ``batch_size=None`` and ``pretrain_epochs=None`` take the
    workload's. The optimizer, schedule and data order are the fine-tune's
    (:func:`dse.train.finetune`), so an individually trained model differs only in the
    loss and the single resolution.
    """

    budgets: tuple[TermBudget, ...] = tuple(TermBudget(a, k) for a, k in DEFAULT_MULTIRES_BUDGETS)
    group_size: int = 16
    w_bits: int = 8
    a_bits: int = 8
    encoding: str = "binary"
    granularity: str = "per_row"
    first_last: str = "term"
    epochs: int = 10
    lr: float = 1e-3
    optimizer: str = "adam"
    distill_weight: float = 0.1
    temperature: float = 4.0
    batch_size: Optional[int] = None
    pretrain_epochs: Optional[int] = None

    def __post_init__(self) -> None:
        raw = self.budgets.split(",") if isinstance(self.budgets, str) else list(self.budgets)
        budgets = tuple(sorted((TermBudget.parse(b) if not isinstance(b, TermBudget) else b for b in raw),
                               key=_order))
        if len(budgets) < 2:
            raise ValueError("budgets: need two or more (the largest is the teacher of the others)")
        if len(set(budgets)) != len(budgets):
            raise ValueError(f"budgets: has duplicate entries: {', '.join(map(str, budgets))}")
        object.__setattr__(self, "budgets", budgets)
        for name, low, high in (("group_size", 1, 4096), ("w_bits", MIN_BITS, MAX_BITS), ("a_bits", MIN_BITS, MAX_BITS)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
                raise ValueError(f"{name}: must be an integer in [{low}, {high}], got {v!r}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding: must be one of {', '.join(ENCODINGS)}; got {self.encoding!r}")
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"granularity: must be one of {', '.join(GRANULARITIES)}; got {self.granularity!r}")
        if self.first_last not in MULTIRES_FIRST_LAST:
            raise ValueError(f"first_last: must be one of {', '.join(MULTIRES_FIRST_LAST)}; got {self.first_last!r}")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs: must be an integer >= 1, got {self.epochs!r}")
        if not 0.0 <= float(self.distill_weight) <= 10.0:
            raise ValueError(f"distill_weight: must be in [0, 10], got {self.distill_weight!r}")
        if not float(self.temperature) > 0:
            raise ValueError(f"temperature: must be > 0, got {self.temperature!r}")
        FinetuneBudget(epochs=self.epochs, lr=self.lr, optimizer=self.optimizer, batch_size=self.batch_size)
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
            return QuantScheme(kind="term", w_bits=self.w_bits, a_bits=self.a_bits, granularity=self.granularity,
                               term_budget=b.weight_terms, group_size=self.group_size,
                               term_encoding=self.encoding, a_term_budget=b.act_terms)
        except ValueError as e:
            raise ValueError(f"budgets: {b}: {e}") from None

    @property
    def fixed_scheme(self) -> QuantScheme:
        """The scheme of the first and last layers when ``first_last = "fixed8"``."""
        return QuantScheme(kind="fixed", w_bits=8, a_bits=8, granularity=self.granularity)

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
        """The spec a study with ``fidelity = "multires"`` uses: ``[multires]``, plus the
        space's granularity and the fine-tune's pre-training epochs and batch size."""
        mr = cfg.multires
        return cls(budgets=tuple(TermBudget(a, k) for a, k in mr.budgets), group_size=mr.group, w_bits=mr.w_bits,
                   a_bits=mr.a_bits, encoding=mr.encoding, granularity=cfg.space.granularity,
                   first_last=mr.first_last or ("fixed8" if cfg.space.first_last == "fixed8" else "term"),
                   epochs=mr.epochs, lr=mr.lr, distill_weight=mr.distill_weight, temperature=mr.temperature,
                   batch_size=cfg.finetune.batch_size, pretrain_epochs=cfg.finetune.pretrain_epochs)


# --- the model ------------------------------------------------------------------------------

class SwitchableBatchNorm(nn.Module):
    """One BatchNorm per resolution (statistics and affine parameters); ``active`` picks."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm, resolutions: int):
        super().__init__()
        self.bns = nn.ModuleList(copy.deepcopy(bn) for _ in range(resolutions))
        self.active = resolutions - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bns[self.active](x)

    def extra_repr(self) -> str:
        return f"resolutions={len(self.bns)}, active={self.active}"


def _swap_batchnorms(net: nn.Module, resolutions: int) -> None:
    for name, module in list(net.named_modules()):
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            parent_name, _, child = name.rpartition(".")
            parent = net.get_submodule(parent_name) if parent_name else net
            setattr(parent, child, SwitchableBatchNorm(module, resolutions))


class MultiresModel(nn.Module):
    """A quantized model whose term layers and BatchNorms switch between resolutions.

    ``term_layers`` are the multi-resolution compute layers (the others, with
    ``first_last = "fixed8"``, stay at 8-bit fixed point); ``bn_feeds`` maps each
    switchable BatchNorm to the compute layer that last ran before it (the one feeding it).
    """

    def __init__(self, net: nn.Module, spec: MultiresSpec, term_layers: Sequence[str]):
        super().__init__()
        self.net = net
        self.spec = spec
        self.term_layers = tuple(term_layers)
        self.bn_feeds: dict[str, Optional[str]] = {}

    def forward(self, x: Any) -> torch.Tensor:
        return self.net(x)

    def layers(self) -> dict[str, QuantLayer]:
        return quant_layers(self.net)

    def batchnorms(self) -> dict[str, SwitchableBatchNorm]:
        return {n: m for n, m in self.net.named_modules() if isinstance(m, SwitchableBatchNorm)}

    def set_resolution(self, index: int) -> None:
        """Run every term layer and BatchNorm at resolution ``index`` of the budget list."""
        if not 0 <= index < len(self.spec.budgets):
            raise IndexError(f"resolution: index {index} out of range 0..{len(self.spec.budgets) - 1}")
        scheme = self.spec.scheme(index)
        layers = self.layers()
        for name in self.term_layers:
            layers[name].set_scheme(scheme)
        for bn in self.batchnorms().values():
            bn.active = index

    def apply_schemes(self, schemes: Mapping[str, QuantScheme]) -> dict[str, int]:
        """Run each term layer with its own scheme (per-layer budgets, already checked by
        :func:`check_point`); each BatchNorm takes the resolution nearest to the budget of
        the layer feeding it (the teacher's when that layer is not a term layer).
        Returns {BatchNorm name: resolution index}."""
        layers = self.layers()
        for name in self.term_layers:
            layers[name].set_scheme(schemes[name])
        chosen = {}
        for name, bn in self.batchnorms().items():
            feed = self.bn_feeds.get(name)
            s = schemes.get(feed) if feed in self.term_layers else None
            bn.active = self.spec.teacher if s is None else nearest_resolution(self.spec, s)
            chosen[name] = bn.active
        return chosen

    def trace_feeds(self, example: Any) -> None:
        """Record which compute layer runs last before each BatchNorm (one eval forward;
        activation quantizers must already be initialised)."""
        last: list[Optional[str]] = [None]
        feeds: dict[str, Optional[str]] = {}
        hooks = []
        for name, layer in self.layers().items():
            hooks.append(layer.register_forward_hook(lambda m, i, o, n=name: last.__setitem__(0, n)))
        for name, bn in self.batchnorms().items():
            hooks.append(bn.register_forward_pre_hook(lambda m, i, n=name: feeds.__setitem__(n, last[0])))
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                self(example)
        finally:
            for h in hooks:
                h.remove()
            self.train(was_training)
        self.bn_feeds = feeds


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


def build_model(bundle: WorkloadBundle, spec: MultiresSpec, state_dict: Optional[Mapping[str, Any]] = None,
                float_state: Optional[Mapping[str, Any]] = None, calibration: Optional[Any] = None,
                device: torch.device = torch.device("cpu")) -> MultiresModel:
    """The multi-resolution model of ``bundle``: from a checkpoint ``state_dict``, or from
    FP32 weights ``float_state`` with activation clips calibrated on the batch
    ``calibration`` at the teacher's resolution (as :func:`dse.train.finetune` does)."""
    if state_dict is None and calibration is None:
        raise ValueError("build_model: give a checkpoint state_dict, or a calibration batch for fresh clips")
    names = list(bundle.spec.layer_names)
    pinned = pinned_layers(names, spec)
    net = bundle.build_model()
    if float_state is not None:
        net.load_state_dict(float_state)
    plan = {n: spec.fixed_scheme if n in pinned else spec.scheme(spec.teacher) for n in names}
    quantize_model(net, plan, inplace=True)
    _swap_batchnorms(net, len(spec.budgets))
    model = MultiresModel(net, spec, [n for n in names if n not in pinned]).to(device)
    model.set_resolution(spec.teacher)
    if state_dict is not None:
        model.load_state_dict(state_dict, strict=True)
    elif calibration is not None:
        model.eval()
        with torch.no_grad():
            model(to_device(calibration, device))
    model.trace_feeds(to_device(bundle.example_input, device))
    return model


# --- training -------------------------------------------------------------------------------

def multires_loss(teacher: torch.Tensor, student: torch.Tensor, y: torch.Tensor, distill_weight: float,
                  temperature: float) -> torch.Tensor:
    """``CE(t) + CE(s) + w T^2 KL(softmax(t/T) || softmax(s/T))`` (batch mean), teacher
    detached in the distillation term."""
    w, t = float(distill_weight), float(temperature)
    loss = F.cross_entropy(teacher, y) + F.cross_entropy(student, y)
    if w > 0:
        kd = F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher.detach() / t, dim=1),
                      reduction="batchmean", log_target=True)
        loss = loss + w * t * t * kd
    return loss


@dataclass
class _Fit:
    steps: int = 0
    history: list[float] = field(default_factory=list)  # teacher accuracy after each epoch
    accuracies: list[float] = field(default_factory=list)  # every resolution, after training
    diverged: str = ""


def _fit(model: MultiresModel, bundle: WorkloadBundle, spec: MultiresSpec, batch_size: int, seed: int,
         device: torch.device, progress: bool) -> _Fit:
    run = _Fit()
    budget = spec.finetune_budget()
    per_epoch = num_batches(bundle.train, batch_size)
    total = spec.epochs * per_epoch if per_epoch else None
    opt = make_optimizer(model, budget)
    gen = torch.Generator().manual_seed(seed)
    students = spec.students
    bar = progress_bar(total, f"multires {bundle.name}", progress)
    try:
        for epoch in range(1, spec.epochs + 1):
            model.train()
            for x, y in batches(bundle.train, batch_size, gen):
                if total:
                    lr = budget.lr * 0.5 * (1.0 + math.cos(math.pi * run.steps / total))
                    for g in opt.param_groups:
                        g["lr"] = lr
                x, y = to_device(x, device), to_device(y, device)
                model.set_resolution(spec.teacher)
                out_t = model(x)
                model.set_resolution(students[run.steps % len(students)])
                out_s = model(x)
                loss = multires_loss(out_t, out_s, y, spec.distill_weight, spec.temperature)
                if not torch.isfinite(loss):
                    run.diverged = (f"diverged: loss became {float(loss.detach())} at step {run.steps + 1} "
                                    f"(epoch {epoch}); lower multires.lr")
                    return run
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                run.steps += 1
                bar.update(1)
            run.history.append(_eval_at(model, spec.teacher, bundle.val, device))
            bar.set_postfix(teacher_acc=f"{run.history[-1]:.3f}")
    finally:
        bar.close()
    run.accuracies = evaluate_resolutions(model, bundle.val, device)
    return run


def evaluate_resolutions(model: MultiresModel, val: Any, device: Optional[torch.device] = None) -> list[float]:
    """Validation accuracy at every resolution of the list (budget order), each with its
    own trained BatchNorm; the model is left at the teacher's resolution."""
    try:
        return [_eval_at(model, i, val, device) for i in range(len(model.spec.budgets))]
    finally:
        model.set_resolution(model.spec.teacher)


def _eval_at(model: MultiresModel, index: int, val: Any, device: Optional[torch.device]) -> float:
    model.set_resolution(index)
    return evaluate_accuracy(model, val, device)


# --- checkpoints ----------------------------------------------------------------------------

@dataclass(frozen=True)
class MultiresCheckpoint:
    """A trained multi-resolution model and where it lives.

    ``accuracies`` follow ``spec.budgets`` (validation accuracy per resolution, measured
    after training); ``history`` is the teacher's accuracy after each epoch; ``time_s`` is
    the training wall time (FP32 pre-training excluded, final evaluation included).
    """

    workload: str
    seed: int
    spec: MultiresSpec
    path: str
    from_cache: bool
    time_s: float
    accuracies: tuple[float, ...]
    float_accuracy: float
    steps: int = 0
    history: tuple[float, ...] = ()
    note: str = ""
    state_dict: dict = field(default_factory=dict, repr=False, compare=False)

    def model(self, workload: WorkloadLike, device: str = "cpu") -> MultiresModel:
        """A fresh :class:`MultiresModel` carrying this checkpoint's weights."""
        bundle = as_bundle(workload)
        with torch.random.fork_rng(devices=[]):
            return build_model(bundle, self.spec, state_dict=self.state_dict, device=resolve_device(device))


def _key(bundle: WorkloadBundle, spec: MultiresSpec, seed: int) -> dict[str, Any]:
    with torch.random.fork_rng(devices=[]):
        arch = architecture_digest(bundle.build_model())
    return {"workload": bundle.name, "options": [[k, repr(v)] for k, v in bundle.options], "seed": int(seed),
            "spec": spec.to_dict(), "code_version": CODE_VERSION, "train_code_version": TRAIN_CODE_VERSION,
            "dse_version": __version__, "architecture": arch}


def checkpoint_path(workload: WorkloadLike, spec: MultiresSpec, seed: int = 0,
                    cache_dir: Optional[Union[str, Path]] = None) -> Path:
    """Where the checkpoint of ``workload``/``spec``/``seed`` is (or will be) cached."""
    bundle = as_bundle(workload)
    return _cache_path(bundle, _key(bundle, spec, seed), cache_dir)


def _cache_path(bundle: WorkloadBundle, key: dict[str, Any], cache_dir: Any) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", bundle.name).strip("_") or "workload"
    spec = key["spec"]
    return (cache_root(cache_dir) / "multires" /
            f"{safe}-seed{key['seed']}-g{spec['group_size']}-r{len(spec['budgets'])}-ep{spec['epochs']}-{digest}.pt")


def _read(path: Path) -> dict[str, Any]:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ValueError("not a dse multi-resolution checkpoint")
    for name in ("key", "state_dict", "accuracies", "float_accuracy"):
        if name not in payload:
            raise ValueError(f"no {name!r} entry")
    return payload


def _from_payload(payload: dict[str, Any], path: Path, from_cache: bool, note: str = "") -> MultiresCheckpoint:
    key = payload["key"]
    return MultiresCheckpoint(
        workload=key["workload"], seed=int(key["seed"]), spec=MultiresSpec.from_dict(key["spec"]), path=str(path),
        from_cache=from_cache, time_s=float(payload.get("time_s", 0.0)),
        accuracies=tuple(float(a) for a in payload["accuracies"]), float_accuracy=float(payload["float_accuracy"]),
        steps=int(payload.get("steps", 0)), history=tuple(float(a) for a in payload.get("history", ())),
        note=note, state_dict=payload["state_dict"])


def _why(e: Exception) -> str:
    return f"{type(e).__name__}: " + (str(e).splitlines() or [""])[0][:120]


def load_checkpoint(path: Union[str, Path], workload: WorkloadLike) -> MultiresCheckpoint:
    """Read a checkpoint file written by :func:`train_multires` for ``workload``; raises
    ``UserError`` (one line) when it is missing, damaged or for another model."""
    p = Path(path).expanduser()
    bundle = as_bundle(workload)
    if not p.is_file():
        raise UserError(f"checkpoint: no such file {str(p)!r}")
    try:
        payload = _read(p)
        ckpt = _from_payload(payload, p, True)
        ckpt.model(bundle)  # the weights must fit this workload's model
    except Exception as e:
        raise UserError(f"checkpoint: {p} cannot be used for workload {bundle.name!r} ({_why(e)})") from None
    return ckpt


def train_multires(workload: WorkloadLike, spec: MultiresSpec, seed: int = 0, *,
                   cache_dir: Optional[Union[str, Path]] = None, path: Optional[Union[str, Path]] = None,
                   device: str = "cpu", progress: bool = False, rebuild: bool = False,
                   threads: int = CPU_THREADS) -> MultiresCheckpoint:
    """The multi-resolution checkpoint of ``workload`` for ``spec`` and ``seed``: read from
    ``path`` (default: the cache, see :func:`checkpoint_path`) when a matching intact file
    is there, else trained and written atomically (a damaged file is rebuilt and ``note``
    says so). An explicit ``path`` holding a checkpoint trained with other settings is an
    error, never overwritten silently.

    Raises:
        UserError: a shape-only workload, a bad device, or a mismatching explicit ``path``.
        RuntimeError: training diverged.
    """
    bundle = as_bundle(workload)
    require_data(bundle)
    dev = resolve_device(device)
    key = _key(bundle, spec, seed)
    target = Path(path).expanduser() if path else _cache_path(bundle, key, cache_dir)
    note = ""
    if not rebuild and target.exists():
        try:
            payload = _read(target)
            if payload["key"] == key:
                ckpt = _from_payload(payload, target, True)
                ckpt.model(bundle)  # loads strictly: a truncated state dict is damage
                return ckpt
            if path:
                diff = sorted(k for k in set(key) | set(payload["key"]) if key.get(k) != payload["key"].get(k))
                raise UserError(f"checkpoint: {target} was trained with other settings ({', '.join(diff)} differ); "
                                "point to another file, delete it, or use the same settings")
            note = f"stale checkpoint {target.name} rebuilt (its settings differ)"
        except UserError:
            raise
        except Exception as e:  # truncated or foreign: rebuild, never trust
            note = f"damaged checkpoint {target.name} rebuilt ({_why(e)})"
    pre = pretrain(bundle, seed, spec.pretrain_epochs, cache_dir=cache_dir, device=device, progress=progress,
                   threads=threads)
    batch_size = spec.batch_size or bundle.batch_size
    t0 = time.perf_counter()
    with seeded(seed, dev, threads):
        first = next(iter(batches(bundle.train, batch_size, None)))[0]
        model = build_model(bundle, spec, float_state=pre.state_dict, calibration=first, device=dev)
        run = _fit(model, bundle, spec, batch_size, seed, dev, progress)
    elapsed = time.perf_counter() - t0
    if run.diverged:
        raise RuntimeError(f"multi-resolution training of {bundle.name!r} {run.diverged}")
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    payload = {"format": _FORMAT, "key": key, "state_dict": state, "accuracies": [float(a) for a in run.accuracies],
               "float_accuracy": float(pre.float_accuracy), "time_s": elapsed, "steps": run.steps,
               "history": [float(a) for a in run.history]}
    write_atomic(target, payload)
    return _from_payload(payload, target, False, note)


def train_individual(workload: WorkloadLike, spec: MultiresSpec, index: int, seed: int = 0, *,
                     cache_dir: Optional[Union[str, Path]] = None, device: str = "cpu", progress: bool = False,
                     threads: int = CPU_THREADS) -> FinetuneResult:
    """A model trained at resolution ``index`` alone (the baseline of the paper's claim):
    the same FP32 start, layers, epochs, optimizer, schedule and data order as the
    multi-resolution model, cross-entropy only, ordinary BatchNorm."""
    bundle = as_bundle(workload)
    names = list(bundle.spec.layer_names)
    pinned = pinned_layers(names, spec)
    plan = {n: spec.fixed_scheme if n in pinned else spec.scheme(index) for n in names}
    return finetune(bundle, plan, spec.finetune_budget(), seed=seed, device=device, progress=progress,
                    cache_dir=cache_dir, pretrain_epochs=spec.pretrain_epochs, threads=threads)


def resolution_point(workload: Workload, spec: MultiresSpec, index: int) -> DesignPoint:
    """The design point of resolution ``index`` (every term layer at that budget)."""
    names = list(workload.layer_names)
    pinned = pinned_layers(names, spec)
    return DesignPoint.make({n: spec.fixed_scheme if n in pinned else spec.scheme(index) for n in names})


def resolution_costs(workload: Workload, spec: MultiresSpec, hwmodel: str = "termserial") -> list[dict[str, float]]:
    """Per resolution: term pairs per MAC over the whole network (MAC-weighted, pinned
    layers included) and the latency the hardware model ``hwmodel`` gives with its
    default knobs."""
    from hwmodels.registry import get_model

    from ..evaluate import complexity_metrics

    model = get_model(hwmodel)
    macs = sum(layer.macs for layer in workload.layers) or 1
    rows = []
    for i in range(len(spec.budgets)):
        point = resolution_point(workload, spec, i)
        report = model.evaluate(workload, point)
        rows.append({"term_pairs_per_mac": complexity_metrics(workload, point)["term_pairs"] / macs,
                     "latency_s": float(report.latency_s), "cycles": float(report.cycles)})
    return rows


# --- scoring candidates without a fine-tune ----------------------------------------------------

def check_point(point: DesignPoint, workload: Workload, spec: MultiresSpec) -> tuple[dict[str, QuantScheme], str]:
    """({term layer: scheme}, "") when the checkpoint can score ``point``, else ({}, reason)
    naming the first layer it cannot."""
    names = list(workload.layer_names)
    pinned = pinned_layers(names, spec)
    out: dict[str, QuantScheme] = {}
    for name in names:
        s = point.scheme_for(name)
        if name in pinned:
            if s != spec.fixed_scheme:
                return {}, (f"layer {name!r}: the multi-resolution checkpoint keeps it at fixed 8-bit "
                            f"(multires.first_last = 'fixed8'); the candidate gives {s.kind}:{s.w_bits}")
            continue
        if s.kind != "term":
            return {}, (f"layer {name!r}: kind {s.kind!r} cannot be scored from the multi-resolution checkpoint, "
                        "which serves term budgets only; restrict space.kinds to ['term'] or use fidelity 'finetune'")
        for what, got, want, fix in (("group size", s.group_size, spec.group_size, "multires.group"),
                                     ("w_bits", s.w_bits, spec.w_bits, "multires.w_bits"),
                                     ("a_bits", s.a_bits, spec.a_bits, "multires.a_bits"),
                                     ("term encoding", s.term_encoding, spec.encoding, "multires.encoding"),
                                     ("granularity", s.granularity, spec.granularity, "space.granularity")):
            if got != want:
                return {}, (f"layer {name!r}: {what} {got!r} differs from the multi-resolution checkpoint's "
                            f"{want!r} ({fix}); restrict the space to it or use fidelity 'finetune'")
        out[name] = s
    return out, ""


def calibration_batches(bundle: WorkloadBundle, count: int, seed: int, batch_size: Optional[int] = None) -> list:
    """``count`` training batches in a seeded shuffled order, without augmentation: the
    data BatchNorm statistics are re-estimated on."""
    bs = batch_size or bundle.batch_size
    data = bundle.train
    if isinstance(data, TensorData):
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:count * bs]
        out = []
        for start in range(0, len(order), bs):
            idx = order[start:start + bs]
            xb = data.x[idx]
            out.append(data.prepare(xb, None) if data.prepare is not None else xb)
        return out
    out = []
    for x, _ in batches(data, bs, torch.Generator().manual_seed(seed)):
        out.append(x)
        if len(out) >= count:
            break
    return out


def recalibrate_batchnorm(model: MultiresModel, batches: Iterable[Any], device: Optional[torch.device] = None) -> None:
    """Re-estimate the running statistics of each BatchNorm's active resolution on
    ``batches`` (a plain average over them; nothing else changes)."""
    dev = device or next(model.parameters()).device
    active = [bn.bns[bn.active] for bn in model.batchnorms().values()]
    momenta = [bn.momentum for bn in active]
    model.eval()
    try:
        for bn in active:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration batches
            bn.train()
        with torch.no_grad():
            for x in batches:
                model(to_device(x, dev))
    finally:
        for bn, m in zip(active, momenta):
            bn.momentum = m
        model.eval()


@dataclass(frozen=True)
class MultiresScore:
    """Accuracy of one candidate read off the multi-resolution checkpoint (no fine-tune).

    ``failed`` (with ``reason``): the checkpoint cannot score the candidate; it is exposed
    as ``diverged`` too, the flag by which the study's evaluator fails a trial with its
    reason while keeping the hardware metrics. ``batchnorm_resolutions``: the budget
    ("a:k") each BatchNorm ran with.
    """

    accuracy: float
    float_accuracy: float
    time_s: float
    calibration_batches: int
    checkpoint: str
    batchnorm_resolutions: tuple[tuple[str, str], ...] = ()
    failed: bool = False
    reason: str = ""
    aborted: bool = False
    fidelity: str = "multires"

    @property
    def diverged(self) -> bool:
        return self.failed

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["batchnorm_resolutions"] = dict(self.batchnorm_resolutions)
        if not math.isfinite(self.accuracy):
            d["accuracy"] = None
        return d


def score_point(model: MultiresModel, point: DesignPoint, workload: Workload, bundle: WorkloadBundle,
                batches: Sequence[Any], device: torch.device, checkpoint: str = "",
                float_accuracy: float = float("nan")) -> MultiresScore:
    """Apply ``point``'s term budgets to a copy of ``model``, re-estimate BatchNorm
    statistics on ``batches``, and evaluate on the validation set."""
    t0 = time.perf_counter()
    schemes, reason = check_point(point, workload, model.spec)
    if reason:
        return MultiresScore(float("nan"), float_accuracy, time.perf_counter() - t0, len(batches), checkpoint,
                             failed=True, reason=reason)
    m = copy.deepcopy(model)
    chosen = m.apply_schemes(schemes)
    recalibrate_batchnorm(m, batches, device)
    acc = evaluate_accuracy(m, bundle.val, device)
    labels = tuple((n, str(model.spec.budgets[i])) for n, i in sorted(chosen.items()))
    return MultiresScore(acc, float_accuracy, time.perf_counter() - t0, len(batches), checkpoint, labels)


def multires_score_fn(resolved: Any) -> Callable[[DesignPoint, Callable], MultiresScore]:
    """The study's scoring function for ``fidelity = "multires"``: trains (or loads) the
    checkpoint ``[multires]`` describes, once, then scores each candidate with
    :func:`score_point` (the abort hook is not consulted: there are no epochs)."""
    cfg: StudyConfig = resolved.cfg
    bundle: WorkloadBundle = resolved.bundle
    spec = MultiresSpec.from_config(cfg)
    dev = resolve_device(cfg.finetune.device)
    ckpt = train_multires(bundle, spec, cfg.seed, path=cfg.multires.checkpoint, device=cfg.finetune.device)
    model = ckpt.model(bundle, cfg.finetune.device)
    batches = calibration_batches(bundle, cfg.multires.calibration_batches, cfg.seed, spec.batch_size)

    def fn(point: DesignPoint, abort: Callable) -> MultiresScore:
        with seeded(cfg.seed, dev):
            return score_point(model, point, resolved.workload, bundle, batches, dev, ckpt.path, ckpt.float_accuracy)

    return fn


__all__ = ["CODE_VERSION", "DEFAULT_CALIBRATION_BATCHES", "MultiresCheckpoint", "MultiresModel", "MultiresScore",
           "MultiresSpec", "SwitchableBatchNorm", "TermBudget", "build_model", "calibration_batches",
           "check_point", "checkpoint_path", "evaluate_resolutions", "load_checkpoint", "multires_loss",
           "multires_score_fn", "nearest_resolution", "pinned_layers", "recalibrate_batchnorm", "resolution_costs",
           "resolution_point", "score_point",
           "train_individual", "train_multires"]
