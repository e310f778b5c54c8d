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
``dse.training``'s FP32 weights), keyed by workload, options, seed, every training setting and
:data:`CODE_VERSION`; a damaged or foreign file is rebuilt.

Modules: ``spec`` (:class:`TermBudget`, :class:`MultiresSpec`), ``model`` (switchable
BatchNorm, :class:`MultiresModel`, :func:`build_model`), ``train`` (the distillation loss and
training, :func:`train_multires`), ``checkpoint`` (cache, load), ``score`` (the screening
scorer, registered as the study's ``multires`` fidelity), ``compare`` (individual training
and per-resolution hardware costs, the baselines of the paper's claim).
"""

from .checkpoint import CODE_VERSION, MultiresCheckpoint, checkpoint_path, load_checkpoint
from .compare import comparison_rows, resolution_costs, resolution_point, train_individual
from .model import MultiresModel, SwitchableBatchNorm, build_model
from .score import (DEFAULT_CALIBRATION_BATCHES, MultiresScore, calibration_batches, check_point, multires_score_fn,
                    recalibrate_batchnorm, score_point)
from .spec import MultiresSpec, TermBudget, WorkloadLike, nearest_resolution, pinned_layers, resolution_plan
from .train import evaluate_resolutions, multires_loss, train_multires

__all__ = ["CODE_VERSION", "DEFAULT_CALIBRATION_BATCHES", "MultiresCheckpoint", "MultiresModel", "MultiresScore",
           "MultiresSpec", "SwitchableBatchNorm", "TermBudget", "WorkloadLike", "build_model", "calibration_batches",
           "check_point", "checkpoint_path", "comparison_rows", "evaluate_resolutions", "load_checkpoint",
           "multires_loss", "multires_score_fn", "nearest_resolution", "pinned_layers", "recalibrate_batchnorm",
           "resolution_costs", "resolution_plan", "resolution_point", "score_point", "train_individual",
           "train_multires"]
