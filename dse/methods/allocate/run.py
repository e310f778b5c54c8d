"""An allocation evaluated like a searched point: fine-tuned with the study's budget, priced by
the study's hardware model and the bit-serial one, recorded as one trial (:func:`run_allocation`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Union

from hwmodels import DesignPoint
from hwmodels.formats import BASELINE_KIND

from ...workloads import WorkloadBundle, get_workload
from .learn import Allocation, allocate
from .cost import check_target
from .spec import AllocationSpec

@dataclass(frozen=True)
class AllocationRun:
    """An allocation evaluated like a searched point (and recorded, when a study is given).

    ``evaluation`` is the :class:`dse.evaluate.Evaluation` (metrics of the study's hardware
    model, fine-tuned accuracy); ``bitserial`` the bit-serial model's summary of the same
    plan; ``trial`` the recorded trial number (``None`` without a study)."""

    allocation: Allocation
    point: DesignPoint
    evaluation: Any
    bitserial: dict[str, Any]
    study: Optional[str] = None
    trial: Optional[int] = None
    created: bool = False

    @property
    def accuracy(self) -> float:
        return float(self.evaluation.metrics.get("accuracy", math.nan))

    def result(self) -> dict[str, Any]:
        """The four numbers ``dse allocate`` prints: accuracy, average weight bits, sum of
        MACs x bits, bit-serial latency (s)."""
        m = self.evaluation.metrics
        return {"accuracy": self.accuracy, "avg_weight_bits": float(m["avg_weight_bits"]),
                "mac_bits": float(m["mac_bits"]), "latency_s": float(self.bitserial["latency_s"])}


def study_config(workload: str, name: str, storage: Optional[str], *, device: Optional[str] = None,
                 bits: tuple[int, int] = (2, 8), a_bits: int = 8, finetune_epochs: int = 2,
                 objectives: tuple[str, ...] = ("accuracy", "latency_s"), seed: int = 0,
                 workload_options: Optional[dict[str, Any]] = None) -> tuple[Any, dict[str, Any]]:
    """(StudyConfig, its TOML-shaped source) of a study ``dse allocate`` creates: the
    bit-serial model (knobs at their defaults, ``device`` fixed when given), fixed-point
    schemes of the allocation's widths with first and last layers searched too (so ``dse
    worker`` can later search the same space), no enqueued baselines."""
    from ...config import parse_config

    raw: dict[str, Any] = {
        "study": {"name": name, "objectives": list(objectives), "seed": int(seed), "baselines": []},
        "workload": {"name": workload, "options": dict(workload_options or {})},
        "space": {"kinds": [BASELINE_KIND], "w_bits": list(range(bits[0], bits[1] + 1)), "a_bits": [int(a_bits)],
                  "first_last": "search"},
        "hardware": {"model": "bitserial", **({"device": device} if device else {})},
        "finetune": {"epochs": int(finetune_epochs)},
    }
    if storage is not None:
        raw["study"]["storage"] = str(storage)
    return parse_config(raw, source="dse allocate"), raw


def hardware_knobs(resolved: Any) -> dict[str, Any]:
    """The knobs of an external point in a study: its fixed knobs, and the model's
    defaults (clamped into the searched ranges) for the searched ones."""
    from search_spaces import HardwarePiece

    knobs: dict[str, Any] = {}
    for piece in resolved.space.pieces:
        if isinstance(piece, HardwarePiece):
            knobs.update(piece.fixed)
            for key, value in (piece.baseline_params(resolved.workload, 8, 8) or {}).items():
                knobs[key[len("hw."):]] = value
    return knobs


def run_allocation(workload: Union[str, WorkloadBundle], spec: AllocationSpec, seed: int = 0, *,
                   storage: Optional[str] = None, study: Optional[str] = None, device: Optional[str] = None,
                   finetune_epochs: int = 2, objectives: tuple[str, ...] = ("accuracy", "latency_s"),
                   workload_options: Optional[dict[str, Any]] = None, train_device: str = "cpu",
                   cache_dir: Any = None, threads: int = 1, progress: bool = False) -> AllocationRun:
    """Allocate, evaluate like a searched point, price on the bit-serial model and (with
    ``storage`` and ``study``) record one trial.

    An existing study is used as it is (its workload must match; its hardware model, knobs,
    objectives and fine-tune budget apply; ``device``/``finetune_epochs``/``objectives``
    are ignored); an absent one is created by :func:`study_config`. Without a study the
    point is evaluated the same way with :func:`study_config`'s settings and not stored.
    The trial's user attrs follow the search's schema (``status``, ``point``,
    ``point_key``, ``metrics``, ``hw``, ``hw_layers``, ``finetune``, ``timing``) plus
    ``allocator`` (:meth:`Allocation.summary` and the bit-serial summary)."""
    import optuna

    from hwmodels.registry import get_model

    from ...errors import UserError
    from ...evaluate import Evaluator
    from ...study import config_from_study, open_study, record_point, resolve
    from ...training import finetune

    if (storage is None) != (study is None):
        raise UserError("--storage/--study: give both to record the run in a study, or neither")
    name = workload if isinstance(workload, str) else workload.name
    bundle = workload if isinstance(workload, WorkloadBundle) else get_workload(name, **dict(workload_options or {}))
    check_target(bundle, spec)  # before anything is written
    handle = None
    created = False
    if study is not None:
        from ...study.storage import open_storage

        handle = open_storage(storage)
        known = {s.study_name for s in optuna.get_all_study_summaries(handle.storage, include_best_trial=False)}
        if study in known:
            loaded = optuna.load_study(study_name=study, storage=handle.storage)
            cfg = config_from_study(loaded)
            if cfg.workload != name:
                raise UserError(f"--study: study {study!r} is about workload {cfg.workload!r}, not {name!r}")
            if cfg.fidelity != "finetune":
                raise UserError(f"--study: study {study!r} scores accuracy with fidelity {cfg.fidelity!r}; "
                                "an allocation is scored by a fine-tune (fidelity 'finetune')")
            resolved = resolve(cfg)
        else:
            cfg, raw = study_config(name, study, storage, device=device, bits=(spec.bits_min, spec.bits_max),
                                    a_bits=spec.a_bits, finetune_epochs=finetune_epochs, objectives=objectives,
                                    seed=seed, workload_options=workload_options)
            resolved = resolve(cfg)
            loaded, created = open_study(handle, cfg, raw, resolved)
    else:
        cfg, _ = study_config(name, "allocate", None, device=device, bits=(spec.bits_min, spec.bits_max),
                              a_bits=spec.a_bits, finetune_epochs=finetune_epochs, objectives=objectives,
                              seed=seed, workload_options=workload_options)
        if isinstance(workload, str):
            resolved = resolve(cfg)
        else:  # an in-memory bundle (tests, notebooks): the same parts, built by hand
            from search_spaces import HardwarePiece, SearchSpace

            from ...study import Resolved

            model = get_model("bitserial")
            fixed = {"device": device} if device else {}
            resolved = Resolved(cfg, model, workload.spec, SearchSpace([HardwarePiece(model, fixed=fixed)]),
                                workload)
    if resolved.bundle is not None:
        bundle = resolved.bundle
    alloc = allocate(bundle, spec, cfg.seed, device=train_device, cache_dir=cache_dir,
                     pretrain_epochs=cfg.finetune.pretrain_epochs, threads=threads, progress=progress)
    knobs = hardware_knobs(resolved)
    point = alloc.point.with_knobs(**knobs)
    f = cfg.finetune
    budget = f.budget()

    def ft(p: DesignPoint, abort: Any) -> Any:  # dse.study.make_finetune_fn, with this run's cache/threads
        return finetune(bundle, p, budget, seed=cfg.seed, abort=abort, device=train_device, cache_dir=cache_dir,
                        pretrain_epochs=f.pretrain_epochs, threads=threads)

    ev = Evaluator(cfg, resolved.model, resolved.workload, ft).evaluate(point)
    if resolved.model.name == "bitserial":
        bs = dict(ev.hw) if ev.hw else resolved.model.evaluate(resolved.workload, point).summary()
    else:
        dev_knob = {"device": knobs["device"]} if "device" in knobs else {}
        bs = get_model("bitserial").evaluate(resolved.workload, alloc.point.with_knobs(**dev_knob)).summary()
    trial = None
    if handle is not None:
        frozen = record_point(handle, loaded, point, ev, {"allocator": {**alloc.summary(), "bitserial": bs}})
        trial = frozen.number
    return AllocationRun(alloc, point, ev, bs, study, trial, created)
