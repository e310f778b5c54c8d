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
                   check_layers,
                   check_plan,
                   finetune,
                   plan_schemes,
                   uniform_plan,
)
from .loop import (
                   OPTIMIZERS,
                   SCHEDULES,
                   AbortHook,
                   EpochHook,
                   FinetuneBudget,
                   Hooks,
                   LossHook,
                   StepHook,
                   TrainRun,
                   cross_entropy_loss,
                   make_optimizer,
                   train_loop,
)
from .pretrain import (
                   CACHE_ENV,
                   CODE_VERSION,
                   MEMORY_ENTRIES,
                   Pretrained,
                   architecture_digest,
                   as_bundle,
                   cache_path,
                   cache_root,
                   forget_pretrained,
                   pretrain,
                   pretrained_model,
                   require_data,
                   write_atomic,
)

__all__ = ["AbortHook", "CACHE_ENV", "CODE_VERSION", "CPU_THREADS", "EpochHook", "FinetuneBudget", "FinetuneResult",
           "Hooks", "LossHook", "MEMORY_ENTRIES", "OPTIMIZERS", "PlanLike", "Pretrained", "SCHEDULES", "StepHook",
           "TrainRun", "architecture_digest", "as_bundle", "batches", "cache_path", "cache_root",
           "calibrate_activations", "check_layers", "check_plan", "cross_entropy_loss", "evaluate_accuracy",
           "finetune", "forget_pretrained", "make_optimizer", "model_device", "num_batches", "plan_schemes",
           "pretrain", "pretrained_model", "progress_bar", "require_data", "resolve_device", "seeded", "to_device",
           "train_loop", "uniform_plan", "write_atomic"]
