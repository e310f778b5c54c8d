"""Training: FP32 pre-training (cached), the one training loop, and short quantization-aware
fine-tunes. ``dse.train`` (the old path) names this package."""

from .data import (
                   CPU_THREADS,
                   batches,
                   calibrate_activations,
                   evaluate_accuracy,
                   model_device,
                   num_batches,
                   progress_bar,
                   resolve_device,
                   seeded,
                   to_device,
)
from .finetune import (
                   FinetuneResult,
                   PlanLike,
                   check_plan,
                   finetune,
                   plan_schemes,
                   uniform_plan,
)
from .loop import (
                   OPTIMIZERS,
                   SCHEDULES,
                   AbortHook,
                   FinetuneBudget,
                   TrainRun,
                   make_optimizer,
                   train_loop,
)
from .pretrain import (
                   CACHE_ENV,
                   CODE_VERSION,
                   Pretrained,
                   architecture_digest,
                   as_bundle,
                   cache_path,
                   cache_root,
                   pretrain,
                   pretrained_model,
                   require_data,
                   write_atomic,
)

__all__ = ["CACHE_ENV", "CODE_VERSION", "CPU_THREADS", "OPTIMIZERS", "SCHEDULES", "AbortHook", "FinetuneBudget",
           "FinetuneResult", "PlanLike", "Pretrained", "TrainRun", "architecture_digest", "as_bundle", "batches",
           "cache_path", "cache_root", "calibrate_activations", "check_plan", "evaluate_accuracy", "finetune",
           "make_optimizer", "model_device", "num_batches", "plan_schemes", "pretrain", "pretrained_model",
           "progress_bar", "require_data", "resolve_device", "seeded", "to_device", "train_loop", "uniform_plan",
           "write_atomic"]
