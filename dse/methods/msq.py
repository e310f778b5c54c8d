"""Row-wise mixed SP2 / fixed-point quantization with the SP2 fraction derived from the device.

After Chang et al., "Mix and Match: a novel FPGA-centric deep neural network quantization
framework" (HPCA 2021). An ``msq`` layer puts a fraction ``f`` of its rows (output
channels) in SP2, computed by shift-add lanes in LUTs, and the rest in fixed point on DSP
slices; the two arrays of :class:`hwmodels.hetero.HeteroModel` run side by side.

- **Which rows**: :func:`dse.quant.assign_sp2_rows` ranks rows by excess kurtosis (SP2
  levels are dense near zero and sparse in the tails, so bell-shaped, heavy-tailed rows go
  to SP2; uniform-like rows, kurtosis near -1.2, stay fixed point). With one scale per row
  the statistic must be scale-free: kurtosis measures shape only.
- **How many**: searched (``space.sp2_fractions``) or, here, derived from the device:
  :func:`hwmodels.hetero.balanced_split` sizes both arrays (every DSP slice, then 70 % of
  the LUTs) and returns the fraction that makes them finish together,
  ``sp2_cols / (sp2_cols + fixed_cols)``. :func:`set_balanced_fractions` applies it to
  every ``msq`` layer of a plan, with the matching hardware knobs.

:func:`compare` measures what the paper claims: accuracy of all-fixed, all-SP2 and mixed at
the same width after the same fine-tune, and the modelled throughput of the mixed design
(hetero model, balanced split) against a DSP-only design on the same device (systolic
model, every DSP slice, fixed point).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Union

from hwmodels import DesignPoint, QuantScheme, Workload, get_model
from hwmodels.formats import get_format
from hwmodels.hetero import HeteroSplit, balanced_split

#: the row-mixed format of the method, and the two formats its rows use (SP2 in LUTs, fixed point
#: on DSP slices): the plans :func:`compare` fine-tunes are named after them
MSQ = "msq"
SP2, FIXED = get_format(MSQ).row_formats

#: array heights tried when ``rows`` is ``None`` (each design gets its best)
ROW_CHOICES = (4, 8, 16, 32, 64)
DATAFLOW = "os"


def balanced_fraction(device: str, w_bits: int = 4, a_bits: Optional[int] = None, rows: int = 16) -> HeteroSplit:
    """The heterogeneous arrays sized for ``device`` and their balancing SP2 fraction
    (``hwmodels.hetero.balanced_split``)."""
    return balanced_split(device, rows=rows, w_bits=w_bits, a_bits=w_bits if a_bits is None else a_bits)


def set_balanced_fractions(point: DesignPoint, device: str, rows: int = 16) -> DesignPoint:
    """``point`` with every ``msq`` layer's ``sp2_fraction`` set to the device's balanced
    fraction and the hetero knobs (``device``, ``rows``, ``fixed_cols``, ``sp2_cols``) set
    to the balanced arrays. The arrays are sized for the widest msq format of the plan
    (both must hold it), so every msq layer gets the same fraction."""
    msq = [s for _, s in point.schemes if s.kind == MSQ]
    if not msq:
        raise ValueError("plan: no msq layer to balance")
    split = balanced_fraction(device, max(s.w_bits for s in msq), max(s.a_bits for s in msq), rows)
    schemes = {n: (QuantScheme(MSQ, s.w_bits, s.a_bits, "per_row", sp2_fraction=split.sp2_fraction)
                   if s.kind == MSQ else s) for n, s in point.schemes}
    knobs = {**point.knob_map, "device": device, "rows": rows, "fixed_cols": split.fixed_cols,
             "sp2_cols": split.sp2_cols}
    return DesignPoint.make(schemes, knobs, point.default_scheme)


def uniform(layers: Iterable[str], scheme: QuantScheme, knobs: Optional[dict[str, Any]] = None) -> DesignPoint:
    return DesignPoint.make({n: scheme for n in layers}, knobs or {})


@dataclass(frozen=True)
class Design:
    """One priced design: the model, its array height and columns, latency and fit."""

    model: str
    rows: int
    cols: dict[str, int]
    latency_s: float
    fits: bool
    resources: dict[str, float]

    @property
    def throughput_per_s(self) -> float:
        return 1.0 / self.latency_s if self.latency_s > 0 else math.inf

    def to_dict(self, brief: bool = False) -> dict[str, Any]:
        """JSON-ready; ``brief`` leaves out the model name and the resources."""
        out: dict[str, Any] = {} if brief else {"model": self.model}
        out.update({"rows": self.rows, **self.cols, "latency_s": self.latency_s,
                    "throughput_per_s": self.throughput_per_s, "fits": self.fits})
        if not brief:
            out["resources"] = self.resources
        return out


def hetero_design(workload: Workload, device: str, w_bits: int, a_bits: int, rows: int) -> tuple[Design, DesignPoint]:
    """The mixed design: msq everywhere at the balanced fraction on the balanced arrays."""
    point = set_balanced_fractions(uniform(workload.layer_names, QuantScheme(MSQ, w_bits, a_bits, sp2_fraction=0.5),
                                           {"dataflow": DATAFLOW}), device, rows)
    rep = get_model("hetero").evaluate(workload, point)
    k = point.knob_map
    return Design("hetero", rows, {"fixed_cols": k["fixed_cols"], "sp2_cols": k["sp2_cols"]}, rep.latency_s, rep.fits,
                  rep.resources.as_dict()), point


def dsp_only_design(workload: Workload, device: str, w_bits: int, a_bits: int, rows: int) -> Design:
    """The DSP-only design: fixed point everywhere on a systolic array of every DSP slice
    (the same columns as the hetero model's DSP array)."""
    cols = balanced_fraction(device, w_bits, a_bits, rows).fixed_cols
    point = uniform(workload.layer_names, QuantScheme(FIXED, w_bits, a_bits),
                    {"device": device, "rows": rows, "cols": cols, "pe_arith": "dsp", "dataflow": DATAFLOW})
    rep = get_model("systolic").evaluate(workload, point)
    return Design("systolic", rows, {"cols": cols}, rep.latency_s, rep.fits, rep.resources.as_dict())


def best_designs(workload: Workload, device: str, w_bits: int, a_bits: int,
                 rows: Optional[int] = None) -> tuple[Design, DesignPoint, Design]:
    """(hetero design, its plan, DSP-only design), each at ``rows`` or, when ``None``, at
    the array height of :data:`ROW_CHOICES` that gives it the lowest latency (fitting
    designs first): the same freedom for both."""
    if rows is not None:
        het, point = hetero_design(workload, device, w_bits, a_bits, rows)
        return het, point, dsp_only_design(workload, device, w_bits, a_bits, rows)

    def key(d: Design) -> tuple[bool, float]:
        return (not d.fits, d.latency_s)

    hets, dsps = [], []
    for r in ROW_CHOICES:  # a height whose arrays exceed a model's column range is skipped
        try:
            hets.append(hetero_design(workload, device, w_bits, a_bits, r))
        except ValueError:
            pass
        try:
            dsps.append(dsp_only_design(workload, device, w_bits, a_bits, r))
        except ValueError:
            pass
    if not hets or not dsps:
        raise ValueError(f"rows: no array height in {ROW_CHOICES} gives valid arrays on {device}")
    het, point = min(hets, key=lambda hp: key(hp[0]))
    return het, point, min(dsps, key=key)


@dataclass(frozen=True)
class MsqComparison:
    """Accuracies of all-fixed, all-SP2 and mixed plans after the same fine-tune, and the
    modelled throughput of the mixed design against the DSP-only one."""

    workload: str
    device: str
    w_bits: int
    a_bits: int
    sp2_fraction: float
    accuracy: dict[str, float]
    float_accuracy: float
    hetero: Design
    dsp_only: Design
    epochs: int
    time_s: float
    plans: dict[str, Any] = field(default_factory=dict)

    @property
    def speedup(self) -> float:
        """Throughput of the mixed design over the DSP-only design's (latency ratio)."""
        return self.dsp_only.latency_s / self.hetero.latency_s

    def to_dict(self) -> dict[str, Any]:
        return {"workload": self.workload, "device": self.device, "w_bits": self.w_bits, "a_bits": self.a_bits,
                "sp2_fraction": self.sp2_fraction, "accuracy": dict(self.accuracy),
                "float_accuracy": self.float_accuracy, "mixed": self.hetero.to_dict(),
                "dsp_only": self.dsp_only.to_dict(), "speedup": self.speedup, "epochs": self.epochs,
                "time_s": self.time_s}


def hardware_comparison(workload: Workload, device: str, w_bits: int, a_bits: int, rows: Optional[int] = None,
                        name: Optional[str] = None) -> dict[str, Any]:
    """The mixed and DSP-only designs of :func:`best_designs` without fine-tuning (``dse msq
    --hw-only``): the keys of :meth:`MsqComparison.to_dict`, ``accuracy`` ``None``; ``name``
    (default the workload's) names the workload."""
    het, point, dsp = best_designs(workload, device, w_bits, a_bits, rows)
    return {"workload": name or workload.name, "device": device, "w_bits": w_bits, "a_bits": a_bits,
            "sp2_fraction": point.scheme_for(workload.layer_names[0]).sp2_fraction, "accuracy": None,
            "mixed": het.to_dict(brief=True), "dsp_only": dsp.to_dict(brief=True),
            "speedup": dsp.latency_s / het.latency_s}


def compare(workload: Union[str, Any], device: str = "XC7Z020", w_bits: int = 4, a_bits: Optional[int] = None,
            epochs: int = 2, seed: int = 0, rows: Optional[int] = None, *, lr: float = 1e-3,
            train_device: str = "cpu", cache_dir: Any = None, threads: int = 1, progress: bool = False,
            pretrain_epochs: Optional[int] = None) -> MsqComparison:
    """Fine-tune all-fixed, all-SP2 and mixed (balanced fraction) plans of every compute
    layer at ``w_bits`` (activations ``a_bits``, default the same) with one budget from the
    same FP32 model, and price the mixed and DSP-only designs on ``device``."""
    from ..training import FinetuneBudget, finetune
    from ..workloads import get_workload

    bundle = get_workload(workload) if isinstance(workload, str) else workload
    a_bits = w_bits if a_bits is None else a_bits
    t0 = time.perf_counter()
    spec = bundle.spec
    het, mixed_point, dsp = best_designs(spec, device, w_bits, a_bits, rows)
    f = mixed_point.scheme_for(spec.layer_names[0]).sp2_fraction
    plans = {
        FIXED: uniform(spec.layer_names, QuantScheme(FIXED, w_bits, a_bits)),
        SP2: uniform(spec.layer_names, QuantScheme(SP2, w_bits, a_bits)),
        "mixed": DesignPoint.make(mixed_point.scheme_map),
    }
    budget = FinetuneBudget(epochs=epochs, lr=lr)
    acc: dict[str, float] = {}
    fp = math.nan
    for name, plan in plans.items():
        res = finetune(bundle, plan, budget, seed=seed, device=train_device, progress=progress, cache_dir=cache_dir,
                       pretrain_epochs=pretrain_epochs, threads=threads)
        acc[name] = float(res.accuracy)
        fp = res.float_accuracy
    return MsqComparison(bundle.name, device, w_bits, a_bits, f, acc, fp, het, dsp, epochs,
                         time.perf_counter() - t0, {k: v.to_dict() for k, v in plans.items()})


__all__ = ["Design", "FIXED", "MSQ", "MsqComparison", "ROW_CHOICES", "SP2", "balanced_fraction", "best_designs",
           "compare", "dsp_only_design", "hardware_comparison", "hetero_design", "set_balanced_fractions"]
