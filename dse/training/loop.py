"""The one training loop: optimizer, cosine schedule, divergence check, per-epoch validation and an
early-abort hook. Fine-tuning, pre-training, multi-resolution and allocation all train through it."""

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import batches, evaluate_accuracy, num_batches, progress_bar, to_device

OPTIMIZERS = ("sgd", "adam", "adamw")


SCHEDULES = ("cosine", "constant")


AbortHook = Callable[[int, float], Optional[str]]


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


@dataclass
class TrainRun:
    history: list[float] = field(default_factory=list)
    epochs_run: int = 0
    steps: int = 0
    aborted: bool = False
    diverged: bool = False
    reason: str = ""


def make_optimizer(model: nn.Module, budget: FinetuneBudget) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": budget.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if budget.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=budget.lr, momentum=0.9)
    if budget.optimizer == "adam":
        return torch.optim.Adam(groups, lr=budget.lr)
    return torch.optim.AdamW(groups, lr=budget.lr)


def train_loop(model: nn.Module, train: Any, val: Any, budget: FinetuneBudget, batch_size: int, seed: int,
           device: torch.device, abort: Optional[AbortHook], progress: bool, desc: str) -> TrainRun:
    run = TrainRun()
    per_epoch = num_batches(train, batch_size)
    if budget.steps is not None:
        total = budget.steps
        epochs = -(-budget.steps // per_epoch) if per_epoch else None
    else:
        epochs = budget.epochs
        total = epochs * per_epoch if per_epoch is not None else None
    if epochs == 0 or total == 0:
        run.history.append(evaluate_accuracy(model, val, device))
        if abort is not None:
            ask_abort(abort, 0, run)
        return run
    opt = make_optimizer(model, budget)
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
                    lr = budget.lr * 0.5 * (1.0 + math.cos(math.pi * run.steps / total))
                    for g in opt.param_groups:
                        g["lr"] = lr
                x, y = to_device(x, device), to_device(y, device)
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
            if abort is not None and ask_abort(abort, epoch, run):
                return run
            done = run.steps >= budget.steps if budget.steps is not None else epoch >= budget.epochs
            if done:
                return run
    finally:
        bar.close()


def ask_abort(abort: AbortHook, epoch: int, run: TrainRun) -> bool:
    reason = abort(epoch, run.history[-1])
    if reason is not None:
        run.aborted = True
        run.reason = str(reason) or "aborted"
        return True
    return False
