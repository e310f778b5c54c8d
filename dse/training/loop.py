"""The one training loop: optimizer, cosine schedule, divergence check, per-epoch validation and an
early-abort hook. Fine-tuning, pre-training, multi-resolution and allocation all train through it."""

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

# FinetuneBudget (and its OPTIMIZERS, SCHEDULES) is declared once, with the [finetune] config section
from ..config.finetune import OPTIMIZERS, SCHEDULES, FinetuneBudget  # noqa: F401 (re-exported)
from .data import batches, evaluate_accuracy, num_batches, progress_bar, to_device

AbortHook = Callable[[int, float], Optional[str]]


@dataclass
class TrainRun:
    """What a :func:`train_loop` run did: the per-epoch metric, epochs started, optimizer steps,
    and whether (and why) it stopped early."""

    history: list[float] = field(default_factory=list)
    epochs_run: int = 0
    steps: int = 0
    aborted: bool = False
    diverged: bool = False
    reason: str = ""
    #: the non-finite loss that stopped a diverged run (NaN otherwise)
    diverged_loss: float = math.nan


#: ``loss(model, x, y, step) -> scalar tensor``: the loss of one batch (already on the device);
#: ``step`` counts the optimizer steps taken before this one (0 for the first).
LossHook = Callable[[nn.Module, Any, Any, int], torch.Tensor]
#: ``after_step(steps, loss)``: called after each optimizer step (``steps`` counts from 1).
StepHook = Callable[[int, torch.Tensor], None]
#: ``after_epoch(epoch, metric)``: bookkeeping after each epoch's validation (before ``abort``).
EpochHook = Callable[[int, float], None]


def cross_entropy_loss(model: nn.Module, x: Any, y: Any, step: int) -> torch.Tensor:
    """The default loss: cross-entropy on the model's logits."""
    return F.cross_entropy(model(x), y)


@dataclass(frozen=True)
class Hooks:
    """How a method changes :func:`train_loop` without forking it.

    Attributes:
        loss: the batch loss (default :func:`cross_entropy_loss`).
        after_step: after each optimizer step (e.g. clamp or record quantizer state).
        validate: ``validate(model) -> float``, the per-epoch metric (default: top-1
            accuracy on the loop's ``val`` data); it fills ``TrainRun.history`` and is what
            the abort hook sees.
        after_epoch: after each epoch's validation.
        optimizers: optimizers to step instead of :func:`make_optimizer`'s one; the
            schedule scales each param group's starting ``lr`` (``budget.lr`` is then unused).
        diverged_hint: the advice ending the divergence message.
        metric_name: the progress bar's label for the per-epoch metric.
    """

    loss: Optional[LossHook] = None
    after_step: Optional[StepHook] = None
    validate: Optional[Callable[[nn.Module], float]] = None
    after_epoch: Optional[EpochHook] = None
    optimizers: Sequence[torch.optim.Optimizer] = ()
    diverged_hint: str = "lower the learning rate or use a wider number format"
    metric_name: str = "val_acc"


def make_optimizer(model: nn.Module, budget: FinetuneBudget) -> torch.optim.Optimizer:
    """The budget's optimizer over the model's trainable parameters; weight decay on
    weight matrices only (not on biases, BN or quantizer scales)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": budget.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if budget.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=budget.lr, momentum=0.9)
    if budget.optimizer == "adam":
        return torch.optim.Adam(groups, lr=budget.lr)
    return torch.optim.AdamW(groups, lr=budget.lr)


def train_loop(model: nn.Module, train: Any, val: Any, budget: FinetuneBudget, batch_size: int, seed: int,
               device: torch.device, abort: Optional[AbortHook] = None, progress: bool = False,
               desc: str = "train", *, hooks: Optional[Hooks] = None) -> TrainRun:
    """Train ``model`` for ``budget`` (epochs, or steps) on ``train``; validate after each epoch.

    Data order comes from a generator seeded with ``seed`` (the caller seeds the global RNG,
    see :func:`~dse.training.data.seeded`); the learning rate follows ``budget.schedule``
    (cosine: ``lr * 0.5 * (1 + cos(pi * step / total))`` per step). A non-finite loss stops
    the run with ``diverged`` set and a reason (nothing is stepped on it). After each epoch
    ``abort(epoch, metric)`` may return a reason to stop; with no epoch to run (``epochs=0``)
    the model is validated once and ``abort(0, metric)`` asked.
    """
    hooks = hooks or Hooks()
    loss_fn = hooks.loss or cross_entropy_loss
    validate = hooks.validate or (lambda m: evaluate_accuracy(m, val, device))
    run = TrainRun()
    per_epoch = num_batches(train, batch_size)
    if budget.steps is not None:
        total = budget.steps
        epochs = -(-budget.steps // per_epoch) if per_epoch else None
    else:
        epochs = budget.epochs
        total = epochs * per_epoch if per_epoch is not None else None
    if epochs == 0 or total == 0:
        run.history.append(validate(model))
        if abort is not None:
            ask_abort(abort, 0, run)
        return run
    opts = list(hooks.optimizers) or [make_optimizer(model, budget)]
    bases = [[g["lr"] for g in o.param_groups] for o in opts]
    gen = torch.Generator().manual_seed(seed)
    bar = progress_bar(total, desc, progress)
    epoch = 0
    try:
        while True:
            epoch += 1
            run.epochs_run = epoch
            model.train()
            for x, y in batches(train, batch_size, gen):
                if budget.schedule == "cosine" and total:
                    scale = 0.5 * (1.0 + math.cos(math.pi * run.steps / total))
                    for o, base in zip(opts, bases):
                        for g, lr in zip(o.param_groups, base):
                            g["lr"] = lr * scale
                x, y = to_device(x, device), to_device(y, device)
                loss = loss_fn(model, x, y, run.steps)
                if not torch.isfinite(loss):
                    run.aborted = run.diverged = True
                    run.diverged_loss = float(loss.detach())
                    run.reason = (f"diverged: loss became {run.diverged_loss} at step {run.steps + 1} "
                                  f"(epoch {epoch}); {hooks.diverged_hint}")
                    return run
                for o in opts:
                    o.zero_grad(set_to_none=True)
                loss.backward()
                for o in opts:
                    o.step()
                run.steps += 1
                bar.update(1)
                if hooks.after_step is not None:
                    hooks.after_step(run.steps, loss)
                if budget.steps is not None and run.steps >= budget.steps:
                    break
            metric = validate(model)
            run.history.append(metric)
            bar.set_postfix({hooks.metric_name: f"{metric:.3f}"})
            if hooks.after_epoch is not None:
                hooks.after_epoch(epoch, metric)
            if abort is not None and ask_abort(abort, epoch, run):
                return run
            done = run.steps >= budget.steps if budget.steps is not None else epoch >= budget.epochs
            if done:
                return run
    finally:
        bar.close()


def ask_abort(abort: AbortHook, epoch: int, run: TrainRun) -> bool:
    """Ask ``abort`` about the last metric; a returned string stops ``run`` with that reason."""
    reason = abort(epoch, run.history[-1])
    if reason is not None:
        run.aborted = True
        run.reason = str(reason) or "aborted"
        return True
    return False
