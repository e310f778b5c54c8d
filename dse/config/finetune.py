"""``[finetune]``: how a candidate is fine-tuned. Declared once: :class:`FinetuneBudget` is the
training subset (what ``dse.training`` needs, torch-free here) and :class:`FinetuneConfig`
the TOML section = the budget + the study-level settings around it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

from .schema import Choice, Int, Num, check_instance, setting

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "constant")
TORCH_DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class FinetuneBudget:
    """How much training a run gets (the fields' docs are the CLI help and the docs' rows).

    Validated on construction (types, names, lower bounds); the upper bounds guard config
    files and CLI flags only. Errors are ``ValueError`` (and UserError) starting ``field:``.
    """

    epochs: int = setting(2, Int(0, 10000), "passes over the training data (0: calibrate and evaluate only, "
                                            "i.e. post-training quantization); ignored when steps is set")
    steps: Optional[int] = setting(None, Int(1), "optimizer steps instead of epochs (evaluated at each epoch end "
                                                 "and at the last step)")
    lr: float = setting(1e-3, Num(0.0, 10.0, strict_low=True), "peak learning rate (cosine decay to 0 unless "
                                                               "schedule = 'constant')")
    optimizer: str = setting("adam", Choice(OPTIMIZERS), "sgd (momentum 0.9), adam or adamw")
    batch_size: Optional[int] = setting(None, Int(1, 1 << 16), "batch size (default: the workload's)")
    weight_decay: float = setting(0.0, Num(0.0, 1.0), "L2 / decoupled decay on weight matrices (not on biases, "
                                                      "BN or scales)")
    schedule: str = setting("cosine", Choice(SCHEDULES), "learning-rate schedule: cosine or constant")

    def __post_init__(self) -> None:
        check_instance(self)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in FinetuneBudget.__dataclass_fields__}

    def budget(self) -> "FinetuneBudget":
        """The training subset (itself for a budget; a FinetuneConfig's training settings)."""
        return FinetuneBudget(**FinetuneBudget.to_dict(self))


@dataclass(frozen=True)
class FinetuneConfig(FinetuneBudget):
    abandon_below: float | None = setting(None, Num(0.0, 1.0), "abandon a candidate whose accuracy stays below "
                                                               "this fraction after its first epoch")
    pretrain_epochs: int | None = setting(None, Int(1, 10000), "FP32 pre-training epochs (default: the "
                                                               "workload's)")
    device: str = setting("cpu", Choice(TORCH_DEVICES), "torch device for training: cpu, cuda or auto "
                                                        "(CLI: --torch-device)")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.schedule == "cosine":  # the default; configs stored before the key existed stay comparable
            d.pop("schedule")
        return d
