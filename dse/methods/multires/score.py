"""Scoring a search candidate from the multi-resolution checkpoint, without a fine-tune
(``fidelity = "multires"``): its term budgets applied to a copy of the checkpoint, each
BatchNorm at the resolution nearest to the budget of the layer feeding it, BatchNorm
statistics re-estimated on a few shuffled training batches, then evaluated.

:func:`multires_score_fn` is the study's fidelity ``multires``: ``dse/study/fidelity.py``
registers it by its path (``"dse.methods.multires.score:multires_score_fn"``, imported on
first use like an entry point), so the study never imports this package; keep the name and
place, or change that path with it."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Optional, Sequence

import torch

from hwmodels.base import DesignPoint
from hwmodels.formats import QuantScheme
from hwmodels.workload import Workload

from ...config import MultiresConfig, StudyConfig
from ...training import batches, evaluate_accuracy, resolve_device, seeded, to_device
from ...workloads import TensorData, WorkloadBundle
from .model import MultiresModel
from .spec import TERM, MultiresSpec, pinned_layers
from .train import train_multires

#: BatchNorm re-estimation batches per scored candidate (``[multires] calibration_batches``)
DEFAULT_CALIBRATION_BATCHES = MultiresConfig.calibration_batches


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
        if s.kind != TERM:
            return {}, (f"layer {name!r}: kind {s.kind!r} cannot be scored from the multi-resolution checkpoint, "
                        f"which serves term budgets only; restrict space.kinds to {[TERM]} or use fidelity 'finetune'")
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
