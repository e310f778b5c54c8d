"""FP32 pre-training (cached on disk) and short quantization-aware fine-tunes.

One trial of a search calls :func:`finetune`: it starts from the workload's cached FP32
weights, applies the quantization plan with :func:`dse.quant.quantize_model`, trains for
a small budget and returns validation accuracy and timing.

Choices, and why:

- **BatchNorm is kept, not folded.** Weights are fake-quantized before BN and BN keeps
  updating its statistics during the fine-tune (it re-centres what quantization shifted,
  which is most of what a short fine-tune recovers). For ``per_row`` schemes folding BN
  into the per-row scale at deployment is exact; for ``per_tensor`` schemes the folded
  weights would need requantizing, so their accuracy here is slightly optimistic.
- **Activation quantizers are calibrated** on the first (unshuffled) training batch in
  eval mode before any step, so ``epochs=0`` is post-training quantization.
- **Determinism**: everything random draws from the run's seed (model init, the shuffling
  generator, dropout); the global torch/numpy/random states are restored afterwards and
  deterministic algorithms are asked for on CPU, with a fixed thread count
  (:data:`CPU_THREADS`). Two runs with the same seed and budget give identical results
  on CPU; GPUs are not bitwise reproducible. The global RNG, the deterministic flag and
  the thread count are process-wide, so run concurrent fine-tunes in separate
  processes, not threads.
- **Loss**: cross-entropy on the model's logits (every built-in is a classifier).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from hwmodels.base import DesignPoint
from hwmodels.formats import QuantScheme

from . import __version__
from .errors import UserError
from .quant import PlanError, compute_layer_names, normalize_plan, quantize_model
from .workloads import TensorData, WorkloadBundle, get_workload

#: bump when a change to training makes earlier cached FP32 weights stale
CODE_VERSION = 1
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "constant")
CACHE_ENV = "DSE_CACHE_DIR"
#: CPU intra-op threads while training. One: the built-in models are too small to gain
#: from more (a second thread made steps 10-25x slower on a shared 2-core machine, and
#: no faster on an idle one), a search runs one trial per core, and a fixed count keeps
#: CPU results reproducible across machines. 0 leaves torch's setting.
CPU_THREADS = 1
_FORMAT = "dse-pretrained-v1"

AbortHook = Callable[[int, float], Optional[str]]
PlanLike = Union[DesignPoint, Mapping[str, Any]]


# --- budgets and results ------------------------------------------------------------------

@dataclass(frozen=True)
class FinetuneBudget:
    """How much training a run gets.

    Attributes:
        epochs: passes over the training data (0: calibrate and evaluate only, i.e.
            post-training quantization). Ignored when ``steps`` is set.
        steps: optimizer steps instead of epochs (evaluated at each epoch end and at the last step).
        lr: peak learning rate (decayed to 0 by a cosine schedule unless ``schedule='constant'``).
        optimizer: ``sgd`` (momentum 0.9), ``adam`` or ``adamw``.
        weight_decay: L2 / decoupled decay on weight matrices (not on biases, BN or scales).
        batch_size: ``None`` takes the workload's default.
        schedule: ``cosine`` or ``constant``.
    """

    epochs: int = 2
    steps: Optional[int] = None
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    batch_size: Optional[int] = None
    schedule: str = "cosine"

    def __post_init__(self) -> None:
        def count(name: str, value: Any, low: int) -> None:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name}: must be an integer >= {low}, got {value!r}")

        count("epochs", self.epochs, 0)
        if self.steps is not None:
            count("steps", self.steps, 1)
        if self.batch_size is not None:
            count("batch_size", self.batch_size, 1)
        for name in ("lr", "weight_decay"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name}: must be a finite number >= 0, got {v!r}")
        if self.lr <= 0:
            raise ValueError(f"lr: must be > 0, got {self.lr!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer: must be one of {', '.join(OPTIMIZERS)}; got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule: must be one of {', '.join(SCHEDULES)}; got {self.schedule!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FinetuneResult:
    """Outcome of one fine-tune.

    Attributes:
        accuracy: validation accuracy (fraction in [0, 1]) when the run stopped; NaN for a
            diverged run.
        float_accuracy: validation accuracy of the FP32 starting point.
        epochs_run: epochs started (a step budget may end inside one).
        steps: optimizer steps taken.
        time_s: wall time of the fine-tune (quantize, calibrate, train, evaluate), without
            pre-training.
        aborted: stopped by the abort hook or by divergence; ``reason`` says which.
        reason: the abort hook's string, or the divergence message; empty otherwise.
        history: validation accuracy after each epoch (the first entry, for ``epochs=0``,
            is the calibrated model before training).
        diverged: the loss became NaN or infinite.
        device: where it ran.
    """

    accuracy: float
    float_accuracy: float
    epochs_run: int
    steps: int
    time_s: float
    aborted: bool = False
    reason: str = ""
    history: tuple[float, ...] = ()
    diverged: bool = False
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes ``None``)."""
        def clean(v: Any) -> Any:
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, tuple):
                return [clean(x) for x in v]
            return v

        return {k: clean(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Pretrained:
    """FP32 weights of a workload for one seed and epoch count, and where they live."""

    workload: str
    seed: int
    epochs: int
    float_accuracy: float
    path: str
    from_cache: bool
    time_s: float
    history: tuple[float, ...] = ()
    note: str = ""
    state_dict: dict = field(default_factory=dict, repr=False, compare=False)


# --- devices, seeds, data -----------------------------------------------------------------

def resolve_device(device: str = "cpu") -> torch.device:
    """``cpu``, ``cuda`` (error when absent), ``cuda:N`` or ``auto`` (cuda when present)."""
    name = str(device or "cpu").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"device: {device!r} asked for but torch sees no CUDA GPU; use --device cpu "
                            "(or auto to take a GPU only when present)")
    elif name != "cpu":
        raise UserError(f"device: must be cpu, cuda, cuda:N or auto; got {device!r}")
    try:
        return torch.device(name)
    except RuntimeError as e:
        raise UserError(f"device: {e}") from None


@contextmanager
def seeded(seed: int, device: torch.device = torch.device("cpu"),
           threads: int = CPU_THREADS) -> Iterator[None]:
    """Seed torch, numpy and random; on CPU ask for deterministic algorithms and use
    ``threads`` intra-op threads (0: leave torch's setting); restore all of it (RNG
    states, the flag, the thread count) on exit."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads: must be an integer >= 0, got {threads!r}")
    py_state, np_state = random.getstate(), np.random.get_state()
    prev_threads = torch.get_num_threads()
    cuda = [device.index or 0] if device.type == "cuda" else []
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True, warn_only=True)
            if threads:
                torch.set_num_threads(threads)
        try:
            yield
        finally:
            if torch.get_num_threads() != prev_threads:
                torch.set_num_threads(prev_threads)
            torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
            random.setstate(py_state)
            np.random.set_state(np_state)


def _batches(data: Any, batch_size: int, generator: Optional[torch.Generator]) -> Iterator[tuple[Any, Any]]:
    """(inputs, labels) batches of any supported data; shuffled when ``generator`` is given
    (DataLoaders keep their own sampler, seeded from the global torch RNG)."""
    if isinstance(data, TensorData):
        yield from data.batches(batch_size, generator)
    elif isinstance(data, DataLoader):
        for batch in data:
            yield batch[0], batch[1]
    elif isinstance(data, Dataset):
        loader = DataLoader(data, batch_size=batch_size, shuffle=generator is not None, generator=generator)
        for batch in loader:
            yield batch[0], batch[1]
    else:
        for batch in data:
            yield batch[0], batch[1]


def _num_batches(data: Any, batch_size: int) -> Optional[int]:
    if isinstance(data, TensorData):
        return -(-len(data) // batch_size)
    if isinstance(data, DataLoader):
        try:
            return len(data)
        except TypeError:
            return None
    if isinstance(data, Dataset):
        try:
            return -(-len(data) // batch_size)  # type: ignore[arg-type]
        except TypeError:
            return None
    try:
        return len(data)
    except TypeError:
        return None


def _to(x: Any, device: torch.device) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    if isinstance(x, (tuple, list)):
        return type(x)(_to(v, device) for v in x)
    return x


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def evaluate_accuracy(model: nn.Module, loader: Any, device: Optional[Union[str, torch.device]] = None,
                      batch_size: int = 512) -> float:
    """Top-1 accuracy (fraction in [0, 1]) of ``model`` on ``loader`` (a DataLoader, a
    Dataset, :class:`TensorData` or any iterable of (inputs, labels)); eval mode, no
    gradients; the model's train/eval mode is restored."""
    dev = torch.device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.eval()
    correct = total = 0
    try:
        with torch.no_grad():
            for x, y in _batches(loader, batch_size, None):
                pred = model(_to(x, dev)).argmax(dim=1)
                y = y.to(pred.device)
                correct += int((pred == y).sum())
                total += int(y.numel())
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("loader: no validation examples")
    return correct / total


# --- the training loop --------------------------------------------------------------------

@dataclass
class _Run:
    history: list[float] = field(default_factory=list)
    epochs_run: int = 0
    steps: int = 0
    aborted: bool = False
    diverged: bool = False
    reason: str = ""


def _optimizer(model: nn.Module, budget: FinetuneBudget) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": budget.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if budget.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=budget.lr, momentum=0.9)
    if budget.optimizer == "adam":
        return torch.optim.Adam(groups, lr=budget.lr)
    return torch.optim.AdamW(groups, lr=budget.lr)


def _progress_bar(total: Optional[int], desc: str, progress: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", leave=False, file=sys.stderr,
                disable=not (progress and sys.stderr.isatty()))


def _train(model: nn.Module, train: Any, val: Any, budget: FinetuneBudget, batch_size: int, seed: int,
           device: torch.device, abort: Optional[AbortHook], progress: bool, desc: str) -> _Run:
    run = _Run()
    per_epoch = _num_batches(train, batch_size)
    if budget.steps is not None:
        total = budget.steps
        epochs = -(-budget.steps // per_epoch) if per_epoch else None
    else:
        epochs = budget.epochs
        total = epochs * per_epoch if per_epoch is not None else None
    if epochs == 0 or total == 0:
        run.history.append(evaluate_accuracy(model, val, device))
        if abort is not None:
            _ask_abort(abort, 0, run)
        return run
    opt = _optimizer(model, budget)
    gen = torch.Generator().manual_seed(seed)
    bar = _progress_bar(total, desc, progress)
    epoch = 0
    try:
        while True:
            epoch += 1
            run.epochs_run = epoch
            model.train()
            for x, y in _batches(train, batch_size, gen):
                if budget.schedule == "cosine" and total:
                    lr = budget.lr * 0.5 * (1.0 + math.cos(math.pi * run.steps / total))
                    for g in opt.param_groups:
                        g["lr"] = lr
                x, y = _to(x, device), _to(y, device)
                loss = F.cross_entropy(model(x), y)
                if not torch.isfinite(loss):
                    run.aborted = run.diverged = True
                    run.reason = (f"diverged: loss became {float(loss.detach())} at step {run.steps + 1} "
                                  f"(epoch {epoch}); lower the learning rate or use a wider number format")
                    return run
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                run.steps += 1
                bar.update(1)
                if budget.steps is not None and run.steps >= budget.steps:
                    break
            acc = evaluate_accuracy(model, val, device)
            run.history.append(acc)
            bar.set_postfix(val_acc=f"{acc:.3f}")
            if abort is not None and _ask_abort(abort, epoch, run):
                return run
            done = run.steps >= budget.steps if budget.steps is not None else epoch >= budget.epochs
            if done:
                return run
    finally:
        bar.close()


def _ask_abort(abort: AbortHook, epoch: int, run: _Run) -> bool:
    reason = abort(epoch, run.history[-1])
    if reason is not None:
        run.aborted = True
        run.reason = str(reason) or "aborted"
        return True
    return False


# --- pre-training cache -------------------------------------------------------------------

def cache_root(cache_dir: Optional[Union[str, os.PathLike]] = None) -> Path:
    """The cache directory: ``cache_dir``, else ``$DSE_CACHE_DIR``, else ``~/.cache/dse``."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "dse"


def _architecture_digest(model: nn.Module) -> str:
    text = repr(model) + "".join(f"{k}:{tuple(v.shape)}" for k, v in model.state_dict().items())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cache_key(bundle: WorkloadBundle, model: nn.Module, seed: int, epochs: int) -> dict[str, Any]:
    return {
        "workload": bundle.name, "options": [[k, repr(v)] for k, v in bundle.options], "seed": int(seed),
        "epochs": int(epochs), "code_version": CODE_VERSION, "dse_version": __version__,
        "architecture": _architecture_digest(model), "lr": bundle.pretrain_lr,
        "optimizer": bundle.pretrain_optimizer, "weight_decay": bundle.pretrain_weight_decay,
        "batch_size": bundle.batch_size,
    }


def cache_path(bundle: WorkloadBundle, seed: int = 0, epochs: Optional[int] = None,
               cache_dir: Optional[Union[str, os.PathLike]] = None) -> Path:
    """Where the FP32 weights of ``bundle`` for ``seed``/``epochs`` are (or will be) cached."""
    epochs = bundle.pretrain_epochs if epochs is None else epochs
    with torch.random.fork_rng(devices=[]):
        model = bundle.build_model()
    return _cache_path(bundle, _cache_key(bundle, model, seed, epochs), cache_dir)


def _cache_path(bundle: WorkloadBundle, key: dict[str, Any], cache_dir: Any) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", bundle.name).strip("_") or "workload"
    return cache_root(cache_dir) / "pretrained" / f"{safe}-seed{key['seed']}-ep{key['epochs']}-{digest}.pt"


def _read_cache(path: Path, key: dict[str, Any], model: nn.Module) -> tuple[Optional[dict], str]:
    """(payload, why-not): the payload if the file is complete and matches, else a reason."""
    if not path.exists():
        return None, ""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
            raise ValueError("not a dse pre-training file")
        if payload.get("key") != key:
            raise ValueError("its key does not match")
        acc = payload["float_accuracy"]
        if not isinstance(acc, float) or not 0.0 <= acc <= 1.0:
            raise ValueError("bad accuracy")
        model.load_state_dict(payload["state_dict"], strict=True)
        return payload, ""
    except Exception as e:  # a truncated or foreign file: rebuild, never trust
        first = (str(e).splitlines() or [type(e).__name__])[0][:120]
        return None, f"damaged cache file {path.name} rebuilt ({type(e).__name__}: {first})"


def _write_atomic(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _as_bundle(workload: Union[str, WorkloadBundle]) -> WorkloadBundle:
    return get_workload(workload) if isinstance(workload, str) else workload


def _require_data(bundle: WorkloadBundle) -> None:
    if not bundle.has_model:
        bundle.build_model()  # raises the layers-only UserError
    if not bundle.has_data:
        raise UserError(f"workload {bundle.name!r} is shape-only (no data): it cannot be trained or fine-tuned; "
                        "use it for hardware-only studies (dse hw eval / workload show)")


def pretrain(workload: Union[str, WorkloadBundle], seed: int = 0, epochs: Optional[int] = None, *,
             cache_dir: Optional[Union[str, os.PathLike]] = None, device: str = "cpu", progress: bool = False,
             rebuild: bool = False, threads: int = CPU_THREADS) -> Pretrained:
    """FP32 weights for ``workload`` trained ``epochs`` (default: the workload's) with ``seed``,
    from the cache when a matching intact file exists, else trained and cached (written
    atomically; a damaged file is rebuilt and ``note`` says so)."""
    bundle = _as_bundle(workload)
    _require_data(bundle)
    epochs = bundle.pretrain_epochs if epochs is None else int(epochs)
    if epochs < 1:
        raise UserError(f"epochs: pre-training needs at least 1 epoch, got {epochs}")
    dev = resolve_device(device)
    with seeded(seed, dev, threads):
        model = bundle.build_model()
    key = _cache_key(bundle, model, seed, epochs)
    path = _cache_path(bundle, key, cache_dir)
    note = ""
    if not rebuild:
        payload, note = _read_cache(path, key, model)
        if payload is not None:
            return Pretrained(bundle.name, seed, epochs, payload["float_accuracy"], str(path), True,
                              float(payload.get("time_s", 0.0)), tuple(payload.get("history", ())), "",
                              payload["state_dict"])
    budget = FinetuneBudget(epochs=epochs, lr=bundle.pretrain_lr, optimizer=bundle.pretrain_optimizer,
                            weight_decay=bundle.pretrain_weight_decay, batch_size=bundle.batch_size)
    t0 = time.perf_counter()
    with seeded(seed, dev, threads):
        model = bundle.build_model().to(dev)
        run = _train(model, bundle.train, bundle.val, budget, bundle.batch_size, seed, dev, None, progress,
                     f"pretrain {bundle.name}")
    elapsed = time.perf_counter() - t0
    if run.diverged:
        raise RuntimeError(f"pre-training {bundle.name!r} {run.reason}")
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    acc = float(run.history[-1])
    _write_atomic(path, {"format": _FORMAT, "key": key, "state_dict": state, "float_accuracy": acc,
                         "history": [float(a) for a in run.history], "time_s": elapsed})
    return Pretrained(bundle.name, seed, epochs, acc, str(path), False, elapsed, tuple(run.history), note, state)


def pretrained_model(workload: Union[str, WorkloadBundle], seed: int = 0, epochs: Optional[int] = None, *,
                     cache_dir: Optional[Union[str, os.PathLike]] = None, device: str = "cpu",
                     progress: bool = False, threads: int = CPU_THREADS) -> nn.Module:
    """A fresh FP32 model of ``workload`` carrying its pre-trained (cached) weights."""
    bundle = _as_bundle(workload)
    pre = pretrain(bundle, seed, epochs, cache_dir=cache_dir, device=device, progress=progress, threads=threads)
    model = bundle.build_model()
    model.load_state_dict(pre.state_dict)
    return model.to(resolve_device(device))


# --- plans ----------------------------------------------------------------------------------

def plan_schemes(plan: Optional[PlanLike]) -> dict[str, QuantScheme]:
    """{layer: QuantScheme} from a DesignPoint, a plan-format dict (``{"layers": ...,
    "hardware": ...}``) or a mapping of layer name -> scheme; raises ``PlanError``."""
    if plan is None:
        return {}
    if isinstance(plan, Mapping) and "layers" in plan and isinstance(plan.get("layers"), Mapping):
        try:
            return DesignPoint.from_dict(plan).scheme_map
        except ValueError as e:
            raise PlanError(str(e)) from None
    return normalize_plan(plan)


def uniform_plan(layer_names: Any, scheme: Union[QuantScheme, str]) -> DesignPoint:
    """Every layer in ``layer_names`` (or every compute layer of a bundle / model) with
    one scheme (a QuantScheme or its short form, e.g. ``"fixed:4"``)."""
    if isinstance(scheme, str):
        scheme = QuantScheme.parse(scheme)
    if isinstance(layer_names, WorkloadBundle):
        layer_names = layer_names.spec.layer_names
    elif isinstance(layer_names, nn.Module):
        layer_names = compute_layer_names(layer_names)
    return DesignPoint.make({n: scheme for n in layer_names})


def check_plan(workload: Union[str, WorkloadBundle], plan: Optional[PlanLike]) -> dict[str, QuantScheme]:
    """{layer: QuantScheme} of ``plan`` after checking that every layer is a compute layer
    of the workload's model; raises ``PlanError`` naming the first that is not."""
    bundle = _as_bundle(workload)
    schemes = plan_schemes(plan)
    with torch.random.fork_rng(devices=[]):
        known = compute_layer_names(bundle.build_model())
    unknown = [n for n in schemes if n not in known]
    if unknown:
        hint = ", ".join(known[:12]) + (" ..." if len(known) > 12 else "")
        raise PlanError(f"layer {unknown[0]!r}: not a compute layer of workload {bundle.name!r}; "
                        f"its layers: {hint}")
    return schemes


# --- fine-tuning ----------------------------------------------------------------------------

def finetune(workload: Union[str, WorkloadBundle], plan: Optional[PlanLike],
             budget: Optional[FinetuneBudget] = None, seed: int = 0, abort: Optional[AbortHook] = None,
             device: str = "cpu", progress: bool = False, *,
             cache_dir: Optional[Union[str, os.PathLike]] = None, pretrain_epochs: Optional[int] = None,
             pretrain_seed: Optional[int] = None, threads: int = CPU_THREADS,
             on_model: Optional[Callable[[nn.Module], None]] = None) -> FinetuneResult:
    """Quantization-aware fine-tune of one plan, from the cached FP32 weights.

    Args:
        workload: a :class:`WorkloadBundle` or a workload name.
        plan: DesignPoint, plan-format dict or {layer: scheme}; layers not named stay
            FP32; ``None`` or ``{}`` fine-tunes the FP32 model (a baseline).
        budget: epochs or steps, lr, optimizer, ... (default :class:`FinetuneBudget()`).
        seed: seeds the fine-tune (and, unless ``pretrain_seed`` is given, pre-training).
        abort: ``abort(epoch, val_accuracy) -> str | None`` called after each epoch
            (``epoch`` counts from 1; 0 for an ``epochs=0`` run); a string stops the run
            and becomes ``reason``.
        device: ``cpu``, ``cuda`` or ``auto``.
        progress: a progress bar on stderr when it is a terminal.
        cache_dir: pre-training cache (see :func:`cache_root`).
        pretrain_epochs: FP32 epochs (default: the workload's).
        pretrain_seed: seed of the FP32 model (default: ``seed``).
        threads: CPU intra-op threads while training (see :data:`CPU_THREADS`).
        on_model: called with the fine-tuned, fake-quantized model (e.g. to export it as
            QONNX, ``dse finetune --qonnx``); not called for a diverged run.

    Raises:
        PlanError: a plan layer the model does not have (checked before any training).
        UserError: a shape-only workload, or a device that is not there.
    """
    bundle = _as_bundle(workload)
    budget = budget or FinetuneBudget()
    _require_data(bundle)
    dev = resolve_device(device)
    schemes = check_plan(bundle, plan)
    pre = pretrain(bundle, seed if pretrain_seed is None else pretrain_seed, pretrain_epochs,
                   cache_dir=cache_dir, device=device, progress=progress, threads=threads)
    batch_size = budget.batch_size or bundle.batch_size
    t0 = time.perf_counter()
    with seeded(seed, dev, threads):
        model = bundle.build_model()
        model.load_state_dict(pre.state_dict)
        model = quantize_model(model, schemes, inplace=True).to(dev)
        _calibrate(model, bundle.train, batch_size, dev)
        run = _train(model, bundle.train, bundle.val, budget, batch_size, seed, dev, abort, progress,
                     f"finetune {bundle.name}")
    elapsed = time.perf_counter() - t0
    accuracy = float("nan") if run.diverged else float(run.history[-1])
    if on_model is not None and not run.diverged:
        on_model(model)
    return FinetuneResult(accuracy=accuracy, float_accuracy=pre.float_accuracy, epochs_run=run.epochs_run,
                          steps=run.steps, time_s=elapsed, aborted=run.aborted, reason=run.reason,
                          history=tuple(run.history), diverged=run.diverged, device=str(dev))


def _calibrate(model: nn.Module, train: Any, batch_size: int, device: torch.device) -> None:
    """One forward pass on the first unshuffled training batch, in eval mode: activation
    quantizers fix their sign and initial clip on it; BN statistics are untouched."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for x, _ in _batches(train, batch_size, None):
                model(_to(x, device))
                break
    finally:
        model.train(was_training)


__all__ = ["CODE_VERSION", "FinetuneBudget", "FinetuneResult", "OPTIMIZERS", "Pretrained", "cache_path",
           "CPU_THREADS", "cache_root", "check_plan", "evaluate_accuracy", "finetune", "plan_schemes", "pretrain",
           "pretrained_model", "resolve_device", "seeded", "uniform_plan"]
