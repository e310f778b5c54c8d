"""Multi-resolution checkpoints: one file each, cached under ``$DSE_CACHE_DIR/multires`` (as the
FP32 weights of :mod:`dse.training.pretrain`), keyed by workload, options, seed, every training
setting and :data:`CODE_VERSION`; a damaged or foreign file is rebuilt, never trusted."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch

from ... import __version__
from ...errors import UserError
from ...training import CODE_VERSION as TRAIN_CODE_VERSION
from ...training import architecture_digest, as_bundle, cache_root, resolve_device, write_atomic
from ...workloads import WorkloadBundle
from .model import MultiresModel, build_model
from .spec import MultiresSpec, WorkloadLike

#: bump when a change to multi-resolution training makes earlier checkpoints stale
CODE_VERSION = 1


_FORMAT = "dse-multires-v1"


@dataclass(frozen=True)
class MultiresCheckpoint:
    """A trained multi-resolution model and where it lives.

    ``accuracies`` follow ``spec.budgets`` (validation accuracy per resolution, measured
    after training); ``history`` is the teacher's accuracy after each epoch; ``time_s`` is
    the training wall time (FP32 pre-training excluded, final evaluation included).
    """

    workload: str
    seed: int
    spec: MultiresSpec
    path: str
    from_cache: bool
    time_s: float
    accuracies: tuple[float, ...]
    float_accuracy: float
    steps: int = 0
    history: tuple[float, ...] = ()
    note: str = ""
    state_dict: dict = field(default_factory=dict, repr=False, compare=False)

    def model(self, workload: WorkloadLike, device: str = "cpu") -> MultiresModel:
        """A fresh :class:`MultiresModel` carrying this checkpoint's weights."""
        bundle = as_bundle(workload)
        with torch.random.fork_rng(devices=[]):
            return build_model(bundle, self.spec, state_dict=self.state_dict, device=resolve_device(device))


def checkpoint_key(bundle: WorkloadBundle, spec: MultiresSpec, seed: int) -> dict[str, Any]:
    with torch.random.fork_rng(devices=[]):
        arch = architecture_digest(bundle.build_model())
    return {"workload": bundle.name, "options": [[k, repr(v)] for k, v in bundle.options], "seed": int(seed),
            "spec": spec.to_dict(), "code_version": CODE_VERSION, "train_code_version": TRAIN_CODE_VERSION,
            "dse_version": __version__, "architecture": arch}


def checkpoint_path(workload: WorkloadLike, spec: MultiresSpec, seed: int = 0,
                    cache_dir: Optional[Union[str, Path]] = None) -> Path:
    """Where the checkpoint of ``workload``/``spec``/``seed`` is (or will be) cached."""
    bundle = as_bundle(workload)
    return cache_file(bundle, checkpoint_key(bundle, spec, seed), cache_dir)


def cache_file(bundle: WorkloadBundle, key: dict[str, Any], cache_dir: Any) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", bundle.name).strip("_") or "workload"
    spec = key["spec"]
    return (cache_root(cache_dir) / "multires" /
            f"{safe}-seed{key['seed']}-g{spec['group_size']}-r{len(spec['budgets'])}-ep{spec['epochs']}-{digest}.pt")


def _read(path: Path) -> dict[str, Any]:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ValueError("not a dse multi-resolution checkpoint")
    for name in ("key", "state_dict", "accuracies", "float_accuracy"):
        if name not in payload:
            raise ValueError(f"no {name!r} entry")
    return payload


def _from_payload(payload: dict[str, Any], path: Path, from_cache: bool, note: str = "") -> MultiresCheckpoint:
    key = payload["key"]
    return MultiresCheckpoint(
        workload=key["workload"], seed=int(key["seed"]), spec=MultiresSpec.from_dict(key["spec"]), path=str(path),
        from_cache=from_cache, time_s=float(payload.get("time_s", 0.0)),
        accuracies=tuple(float(a) for a in payload["accuracies"]), float_accuracy=float(payload["float_accuracy"]),
        steps=int(payload.get("steps", 0)), history=tuple(float(a) for a in payload.get("history", ())),
        note=note, state_dict=payload["state_dict"])


def _why(e: Exception) -> str:
    return f"{type(e).__name__}: " + (str(e).splitlines() or [""])[0][:120]


def load_checkpoint(path: Union[str, Path], workload: WorkloadLike) -> MultiresCheckpoint:
    """Read a checkpoint file written by :func:`train_multires` for ``workload``; raises
    ``UserError`` (one line) when it is missing, damaged or for another model."""
    p = Path(path).expanduser()
    bundle = as_bundle(workload)
    if not p.is_file():
        raise UserError(f"checkpoint: no such file {str(p)!r}")
    try:
        payload = _read(p)
        ckpt = _from_payload(payload, p, True)
        ckpt.model(bundle)  # the weights must fit this workload's model
    except Exception as e:
        raise UserError(f"checkpoint: {p} cannot be used for workload {bundle.name!r} ({_why(e)})") from None
    return ckpt


def find_checkpoint(bundle: WorkloadBundle, key: dict[str, Any], target: Path, explicit: bool,
                    rebuild: bool = False) -> tuple[Optional[MultiresCheckpoint], str]:
    """(the checkpoint at ``target`` when it is intact and was trained with ``key``, "") or
    (None, a note saying why it will be rebuilt; "" when there is no file). An ``explicit``
    path holding another key is an error, never overwritten silently."""
    if rebuild or not target.exists():
        return None, ""
    try:
        payload = _read(target)
        if payload["key"] == key:
            ckpt = _from_payload(payload, target, True)
            ckpt.model(bundle)  # loads strictly: a truncated state dict is damage
            return ckpt, ""
        if explicit:
            diff = sorted(k for k in set(key) | set(payload["key"]) if key.get(k) != payload["key"].get(k))
            raise UserError(f"checkpoint: {target} was trained with other settings ({', '.join(diff)} differ); "
                            "point to another file, delete it, or use the same settings")
        return None, f"stale checkpoint {target.name} rebuilt (its settings differ)"
    except UserError:
        raise
    except Exception as e:  # truncated or foreign: rebuild, never trust
        return None, f"damaged checkpoint {target.name} rebuilt ({_why(e)})"


def save_checkpoint(target: Path, key: dict[str, Any], state_dict: dict[str, Any], accuracies: Sequence[float],
                    float_accuracy: float, time_s: float, steps: int, history: Sequence[float],
                    note: str = "") -> MultiresCheckpoint:
    """Write a trained model's checkpoint atomically and return it."""
    payload = {"format": _FORMAT, "key": key, "state_dict": state_dict, "accuracies": [float(a) for a in accuracies],
               "float_accuracy": float(float_accuracy), "time_s": time_s, "steps": steps,
               "history": [float(a) for a in history]}
    write_atomic(target, payload)
    return _from_payload(payload, target, False, note)
