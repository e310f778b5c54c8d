"""Multi-resolution training: every step runs the teacher (the largest budget) and one student
(cycling through the others), with the distillation loss :func:`multires_loss`, from the
workload's cached FP32 weights, with the fine-tune's optimizer, schedule and data order."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional, Union

import torch
import torch.nn.functional as F

from ...training import (CPU_THREADS, Hooks, TrainRun, as_bundle, batches, evaluate_accuracy, pretrain, require_data,
                         resolve_device, seeded, train_loop)
from ...workloads import WorkloadBundle
from .checkpoint import MultiresCheckpoint, cache_file, checkpoint_key, find_checkpoint, save_checkpoint
from .model import MultiresModel, build_model
from .spec import MultiresSpec, WorkloadLike


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


def distillation_hooks(spec: MultiresSpec, val: Any, device: torch.device) -> Hooks:
    """How multi-resolution training changes the one training loop: each step runs the teacher
    and the next student (cycling through the others in order) under :func:`multires_loss`;
    the per-epoch metric is the teacher's validation accuracy."""
    students = spec.students

    def loss(model: MultiresModel, x: Any, y: Any, step: int) -> torch.Tensor:
        model.set_resolution(spec.teacher)
        out_t = model(x)
        model.set_resolution(students[step % len(students)])
        out_s = model(x)
        return multires_loss(out_t, out_s, y, spec.distill_weight, spec.temperature)

    return Hooks(loss=loss, validate=lambda model: _eval_at(model, spec.teacher, val, device),
                 diverged_hint="lower multires.lr", metric_name="teacher_acc")


def fit_resolutions(model: MultiresModel, bundle: WorkloadBundle, spec: MultiresSpec, batch_size: int, seed: int,
                    device: torch.device, progress: bool) -> tuple[TrainRun, list[float]]:
    """Train ``model`` through :func:`dse.training.train_loop` with the fine-tune's budget
    (optimizer, cosine schedule, data order) and :func:`distillation_hooks`. Returns the run
    (``history``: the teacher's accuracy per epoch) and every resolution's accuracy after
    training (empty when the run diverged)."""
    run = train_loop(model, bundle.train, bundle.val, spec.finetune_budget(), batch_size, seed, device,
                     progress=progress, desc=f"multires {bundle.name}",
                     hooks=distillation_hooks(spec, bundle.val, device))
    if run.diverged:
        return run, []
    return run, evaluate_resolutions(model, bundle.val, device)


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
    key = checkpoint_key(bundle, spec, seed)
    target = Path(path).expanduser() if path else cache_file(bundle, key, cache_dir)
    found, note = find_checkpoint(bundle, key, target, explicit=bool(path), rebuild=rebuild)
    if found is not None:
        return found
    pre = pretrain(bundle, seed, spec.pretrain_epochs, cache_dir=cache_dir, device=device, progress=progress,
                   threads=threads)
    batch_size = spec.batch_size or bundle.batch_size
    t0 = time.perf_counter()
    with seeded(seed, dev, threads):
        first = next(iter(batches(bundle.train, batch_size, None)))[0]
        model = build_model(bundle, spec, float_state=pre.state_dict, calibration=first, device=dev)
        run, accuracies = fit_resolutions(model, bundle, spec, batch_size, seed, dev, progress)
    elapsed = time.perf_counter() - t0
    if run.diverged:
        raise RuntimeError(f"multi-resolution training of {bundle.name!r} {run.reason}")
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    return save_checkpoint(target, key, state, accuracies, pre.float_accuracy, elapsed, run.steps, run.history,
                           note)
