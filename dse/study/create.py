"""Create or resume a study: its stored config, baselines and the checks that keep a resumed
study meaning what it meant."""

from __future__ import annotations

import time
from typing import Any

import optuna

from hwmodels.formats import BASELINE_KIND
from search_spaces import HardwarePiece

from .. import __version__
from ..config import StudyConfig, parse_config
from ..errors import UserError
from ..record import StudyRecord, baseline_attrs
from .storage import StorageHandle
from .recording import jsonable
from .resolve import Resolved

#: config fields that may differ when a study is resumed
#: config fields that may differ when a study is resumed
_RESUMABLE_FIELDS = ("trials", "timeout_s", "storage", "name", "seed")


def _comparable(cfg_dict: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cfg_dict.items() if k not in _RESUMABLE_FIELDS}


def open_study(handle: StorageHandle, cfg: StudyConfig, raw_config: dict[str, Any],
               resolved: Resolved, create: bool = True) -> tuple[optuna.Study, bool]:
    """Load the study, or create it (with its config and baselines) when absent.

    Resuming with a config that differs in anything but trials/timeout/seed is an error:
    the stored trials would not mean the same thing. Runs under the storage's lock, so two
    searches started at the same instant create the study (and its baselines) once.
    """
    with handle.lock():
        return _open_study(handle, cfg, raw_config, resolved, create)


def check_resumable(handle: StorageHandle, cfg: StudyConfig) -> bool:
    """Whether study ``cfg.name`` exists in the storage; UserError when it does with a config
    that means something else (objectives, space, workload, ...). Writes nothing."""
    names = {s.study_name for s in optuna.get_all_study_summaries(handle.storage, include_best_trial=False)}
    if cfg.name not in names:
        return False
    study = optuna.load_study(study_name=cfg.name, storage=handle.storage)
    stored = StudyRecord.of(study).config
    if stored is None:
        raise UserError(f"study.name: {cfg.name!r} in this storage was not created by dse search; pick another "
                        "--study name")
    cfg_dict = jsonable(cfg.to_dict())
    if _comparable(stored) != _comparable(cfg_dict):
        diff = sorted(k for k in set(stored) | set(cfg_dict)
                      if k not in _RESUMABLE_FIELDS and stored.get(k) != cfg_dict.get(k))
        raise UserError(f"study.name: study {cfg.name!r} already exists in this storage with a different "
                        f"config ({', '.join(diff)} differ); resume it with the same config or start a new "
                        "study with a new --study name")
    return True


def _open_study(handle: StorageHandle, cfg: StudyConfig, raw_config: dict[str, Any],
                resolved: Resolved, create: bool) -> tuple[optuna.Study, bool]:
    summaries = {s.study_name: s for s in optuna.get_all_study_summaries(handle.storage, include_best_trial=False)}
    cfg_dict = jsonable(cfg.to_dict())
    if cfg.name in summaries:
        check_resumable(handle, cfg)
        study = optuna.load_study(study_name=cfg.name, storage=handle.storage)
        if study.metric_names is None:  # made before dse named its objectives for Optuna's tools
            study.set_metric_names(list(cfg.objectives))
        return study, False
    if not create:
        raise UserError(f"study: no study named {cfg.name!r} in this storage; known: "
                        f"{', '.join(sorted(summaries)) or 'none'}")
    study = optuna.create_study(study_name=cfg.name, storage=handle.storage, directions=cfg.directions)
    study.set_metric_names(list(cfg.objectives))  # optuna-dashboard and optuna.visualization show these
    attrs = {
        "config": cfg_dict, "raw_config": jsonable(raw_config), "config_source": cfg.source,
        "workload": cfg.workload, "hwmodel": resolved.model.name,
        "device": _device_of(resolved), "objectives": list(cfg.objectives), "directions": cfg.directions,
        "caps": [str(c) for c in cfg.caps], "sampler": cfg.sampler, "seed": cfg.seed,
        "layers": [{"name": l.name, "macs": l.macs, "weights": l.weights, "M": l.M, "K": l.K, "N": l.N}
                   for l in resolved.workload.layers],
        "created_unix": time.time(), "dse_version": __version__,
    }
    StudyRecord.write(study, **attrs)
    notes = enqueue_baselines(study, resolved)
    StudyRecord.write(study, baseline_notes=notes)
    return study, True


def _device_of(resolved: Resolved) -> str:
    knobs = {k.name: k for k in resolved.model.knobs()}
    fixed = {}
    for p in resolved.space.pieces:
        if isinstance(p, HardwarePiece):
            fixed = dict(p.fixed)
    if "device" in fixed:
        return str(fixed["device"])
    if "device" in knobs:
        return str(knobs["device"].default) + ("" if resolved.cfg.hardware.search is not None and "device" not in
                                               (resolved.cfg.hardware.search or ()) else "")
    return ""


def enqueue_baselines(study: optuna.Study, resolved: Resolved) -> list[str]:
    """Enqueue uniform fixed-point baselines (e.g. W8A8, W4A4) so every front is compared
    against them. Returns notes on baselines the space cannot express."""
    notes = []
    a_choices = resolved.cfg.space.a_bits
    for bits in resolved.cfg.baselines:
        a = bits if bits in a_choices else min(a_choices, key=lambda x: (abs(x - bits), -x))
        params = resolved.space.baseline_params(resolved.workload, bits, a)
        if params is None:
            notes.append(f"baseline fixed W{bits}A{a} not enqueued: the search space cannot express it "
                         f"(needs kind '{BASELINE_KIND}' and {bits} in space.w_bits)")
            continue
        study.enqueue_trial(params, user_attrs=baseline_attrs(f"fixed W{bits}A{a}"), skip_if_exists=True)
    return notes


def config_from_study(study: optuna.Study) -> StudyConfig:
    sr = StudyRecord.of(study)
    raw = sr.raw_config
    if raw is None:
        raise UserError(f"study: {study.study_name!r} was not created by dse search (no stored config)")
    source = sr.config_source or ""
    if not raw and source == "<built-in digits demo>":
        # `dse search` without a config stores no TOML (raw {}): its workers (--jobs N,
        # dse worker) must rebuild the demo, not parse_config's defaults (another model/space)
        from ..config import DEMO

        raw = DEMO
    cfg = parse_config(raw, source=source)
    stored = sr.config or {}
    from dataclasses import replace

    return replace(cfg, name=study.study_name, trials=stored.get("trials", cfg.trials),
                   timeout_s=stored.get("timeout_s", cfg.timeout_s), seed=stored.get("seed", cfg.seed))
