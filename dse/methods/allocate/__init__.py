"""Learned bit allocation, per filter or per layer, with a complexity-aware penalty.

After Uhlich et al., "Mixed Precision DNNs: All you need is a good parametrization"
(ICLR 2020), case U3: a uniform weight quantizer parametrised by its step size ``d`` and
dynamic range ``q_max``,

    Q(w) = d * round(clip(w, -q_max, q_max) / d)      (round straight-through)

whose bit width follows from the two (one sign bit, ``2^(b-1) - 1`` positive levels):

    b = ceil(log2(q_max / d + 1)) + 1

``d`` is kept inside ``[q_max / (2^(B-1) - 1), q_max / (2^(b_min-1) - 1)]`` so that ``b``
stays in the configured range ``[b_min, B]``. Both are learned (as logarithms, so they stay
positive; the pair is still U3's) together with the weights, from the workload's cached
FP32 model, with

    loss = cross-entropy + lambda * relu(cost - target)

and the gradient of ``b`` passed straight through the ceiling (``d b / d log d =
-(q/d) / ((q/d + 1) ln 2)``). ``cost`` is an average bit width, so ``target`` is in bits:

- ``size``: weight bits per weight, ``sum_filters(weights x b) / sum(weights)`` (model
  size / weight count, ``avg_weight_bits``);
- ``macbits``: weight bits per MAC, ``sum_filters(MACs x b) / sum(MACs)`` (``mac_bits`` /
  MACs: the work of a bit-serial unit, which tracks its latency when every lane is busy);
- ``cycles`` (an extension, not in the paper): as ``macbits`` with each layer's output
  pixels ``M`` rounded up to a multiple of the bit-serial array's rows ``R``
  (``array_rows``): ``ceil(M/R) * R * K`` lane slots per filter. On an output-stationary
  array a layer with few output pixels (a linear layer at batch 1 has ``M = 1``) leaves
  rows idle, so its bits cost far more cycles than its MACs say.

A target of 4 is the budget of a uniform 4-bit network under either metric; it must lie
in the range the bit limits allow. The exported plan is the allocation of the last
training step whose cost met the target (the hinge lets the cost hover around the
target; cosine learning-rate decay settles it), rounded up by the formula above.

Evaluation uses the search's own path, so the point means the same as a searched one: the
plan (``fixed`` schemes, ``row_bits`` per filter or ``w_bits`` per layer, activations at
``a_bits``) is fine-tuned from the cached FP32 weights by :func:`dse.training.finetune` with
the study's fine-tune budget (default 2 epochs, as ``dse search``); the allocation's own
trained weights only decide the widths. The hardware is priced by the study's model
(``bitserial`` for a study this module creates) and always also by the bit-serial model
(``latency_s`` printed by ``dse allocate``). The run is recorded as one trial with the
search's user attrs plus ``allocator`` (see :func:`run_allocation`).

Modules: ``spec`` (:class:`AllocationSpec`), ``quantizer`` (the U3 step/range quantizer and
:func:`bit_width`), ``cost`` (the average-bits cost and its reachable range), ``learn``
(:func:`allocate`, the training through :func:`dse.training.train_loop`), ``run``
(:func:`run_allocation`: evaluate like a searched point and record a trial).
"""

from dse.lazy import lazy_exports

from .spec import FIRST_LAST, GRANULARITIES, METRICS, AllocationSpec

#: public name -> submodule defining it, loaded on first access (they import torch; the spec
#: does not, so ``dse allocate``'s options are built from it without torch)
_LAZY = {"check_target": "cost", "cost_range": "cost", "Allocation": "learn", "allocate": "learn",
         "StepRangeQuantizer": "quantizer", "bit_width": "quantizer", "AllocationRun": "run",
         "run_allocation": "run", "study_config": "run"}

__all__ = ["Allocation", "AllocationRun", "AllocationSpec", "FIRST_LAST", "GRANULARITIES", "METRICS",
           "StepRangeQuantizer", "allocate", "bit_width", "check_target", "cost_range", "run_allocation",
           "study_config"]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY, ("cost", "learn", "quantizer", "run", "spec"), __all__)
