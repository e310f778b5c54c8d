"""FP32 pre-training, cached on disk keyed by the workload, architecture, seed and epochs."""

import hashlib
import json
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import nn


from .. import __version__
from ..errors import UserError
from ..workloads import WorkloadBundle, get_workload
from .data import CPU_THREADS, resolve_device, seeded
from .loop import FinetuneBudget, train_loop


#: bump when a change to training makes earlier cached FP32 weights stale
CODE_VERSION = 1


CACHE_ENV = "DSE_CACHE_DIR"


_FORMAT = "dse-pretrained-v1"


@dataclass(frozen=True)
class Pretrained:
    """FP32 weights of a workload for one seed and epoch count, and where they live."""

    workload: str
    seed: int
    epochs: int
    float_accuracy: float
    path: str
    from_cache: bool
    time_s: float
    history: tuple[float, ...] = ()
    note: str = ""
    state_dict: dict = field(default_factory=dict, repr=False, compare=False)


def cache_root(cache_dir: Optional[Union[str, os.PathLike]] = None) -> Path:
    """The cache directory: ``cache_dir``, else ``$DSE_CACHE_DIR``, else ``~/.cache/dse``."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "dse"


def architecture_digest(model: nn.Module) -> str:
    text = repr(model) + "".join(f"{k}:{tuple(v.shape)}" for k, v in model.state_dict().items())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cache_key(bundle: WorkloadBundle, architecture: str, seed: int, epochs: int) -> dict[str, Any]:
    return {
        "workload": bundle.name, "options": [[k, repr(v)] for k, v in bundle.options], "seed": int(seed),
        "epochs": int(epochs), "code_version": CODE_VERSION, "dse_version": __version__,
        "architecture": architecture, "lr": bundle.pretrain_lr,
        "optimizer": bundle.pretrain_optimizer, "weight_decay": bundle.pretrain_weight_decay,
        "batch_size": bundle.batch_size,
    }


def cache_path(bundle: WorkloadBundle, seed: int = 0, epochs: Optional[int] = None,
               cache_dir: Optional[Union[str, os.PathLike]] = None) -> Path:
    """Where the FP32 weights of ``bundle`` for ``seed``/``epochs`` are (or will be) cached."""
    epochs = bundle.pretrain_epochs if epochs is None else epochs
    with torch.random.fork_rng(devices=[]):
        model = bundle.build_model()
    return _cache_path(bundle, _cache_key(bundle, architecture_digest(model), seed, epochs), cache_dir)


def _cache_path(bundle: WorkloadBundle, key: dict[str, Any], cache_dir: Any) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", bundle.name).strip("_") or "workload"
    return cache_root(cache_dir) / "pretrained" / f"{safe}-seed{key['seed']}-ep{key['epochs']}-{digest}.pt"


def _read_cache(path: Path, key: dict[str, Any], model: nn.Module) -> tuple[Optional[dict], str]:
    """(payload, why-not): the payload if the file is complete and matches, else a reason."""
    if not path.exists():
        return None, ""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
            raise ValueError("not a dse pre-training file")
        if payload.get("key") != key:
            raise ValueError("its key does not match")
        acc = payload["float_accuracy"]
        if not isinstance(acc, float) or not 0.0 <= acc <= 1.0:
            raise ValueError("bad accuracy")
        model.load_state_dict(payload["state_dict"], strict=True)
        return payload, ""
    except Exception as e:  # a truncated or foreign file: rebuild, never trust
        first = (str(e).splitlines() or [type(e).__name__])[0][:120]
        return None, f"damaged cache file {path.name} rebuilt ({type(e).__name__}: {first})"


def write_atomic(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def as_bundle(workload: Union[str, WorkloadBundle]) -> WorkloadBundle:
    return get_workload(workload) if isinstance(workload, str) else workload


def require_data(bundle: WorkloadBundle) -> None:
    if not bundle.has_model:
        bundle.build_model()  # raises the layers-only UserError
    if not bundle.has_data:
        raise UserError(f"workload {bundle.name!r} is shape-only (no data): it cannot be trained or fine-tuned; "
                        "use it for hardware-only studies (dse hw eval / workload show)")


#: pre-trained results kept in memory per process (the least recently used dropped first): a
#: worker fine-tuning trial after trial re-reads no weights file and builds no model for them
MEMORY_ENTRIES = 4


_memory: "OrderedDict[str, tuple[dict[str, Any], tuple[int, int, int], Pretrained]]" = OrderedDict()


def _file_stamp(path: Path) -> Optional[tuple[int, int, int]]:
    """(inode, size, mtime) of the cache file, or None when it is gone: a replaced, damaged
    or deleted file no longer matches what memory holds."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


_memory_lock = threading.Lock()


def _remember(path: Path, key: dict[str, Any], pre: Pretrained) -> None:
    stamp = _file_stamp(path)
    if stamp is None:
        return
    with _memory_lock:
        # as a later read of the file would return it
        _memory[str(path)] = (key, stamp, replace(pre, from_cache=True, note=""))
        _memory.move_to_end(str(path))
        while len(_memory) > MEMORY_ENTRIES:
            _memory.popitem(last=False)


def _recall(path: Path, key: dict[str, Any]) -> Optional[Pretrained]:
    stamp = _file_stamp(path)
    with _memory_lock:
        hit = _memory.get(str(path))
        if hit is None or hit[0] != key or hit[1] != stamp:
            return None
        _memory.move_to_end(str(path))
        return hit[2]


def forget_pretrained() -> None:
    """Drop the in-memory copies of pre-trained weights (the files stay)."""
    with _memory_lock:
        _memory.clear()


def pretrain(workload: Union[str, WorkloadBundle], seed: int = 0, epochs: Optional[int] = None, *,
             cache_dir: Optional[Union[str, os.PathLike]] = None, device: str = "cpu", progress: bool = False,
             rebuild: bool = False, threads: int = CPU_THREADS, architecture: Optional[str] = None) -> Pretrained:
    """FP32 weights for ``workload`` trained ``epochs`` (default: the workload's) with ``seed``,
    from the cache when a matching intact file exists, else trained and cached (written
    atomically; a damaged file is rebuilt and ``note`` says so).

    The last few results stay in memory (:data:`MEMORY_ENTRIES`), checked against the file's
    inode, size and modification time, so a repeated call reads no file; treat the returned
    ``state_dict`` as read-only. ``architecture`` is :func:`architecture_digest` of a model the
    caller has just built (it saves building one here)."""
    bundle = as_bundle(workload)
    require_data(bundle)
    epochs = bundle.pretrain_epochs if epochs is None else int(epochs)
    if epochs < 1:
        raise UserError(f"epochs: pre-training needs at least 1 epoch, got {epochs}")
    dev = resolve_device(device)
    model: Optional[nn.Module] = None
    if architecture is None:
        with seeded(seed, dev, threads):
            model = bundle.build_model()
        architecture = architecture_digest(model)
    key = _cache_key(bundle, architecture, seed, epochs)
    path = _cache_path(bundle, key, cache_dir)
    note = ""
    if not rebuild:
        known = _recall(path, key)
        if known is not None:
            return known
        payload = None
        if path.exists():
            if model is None:
                with torch.random.fork_rng(devices=[]):  # only to check the file's tensors strictly
                    model = bundle.build_model()
            payload, note = _read_cache(path, key, model)
        if payload is not None:
            pre = Pretrained(bundle.name, seed, epochs, payload["float_accuracy"], str(path), True,
                             float(payload.get("time_s", 0.0)), tuple(payload.get("history", ())), "",
                             payload["state_dict"])
            _remember(path, key, pre)
            return pre
    budget = FinetuneBudget(epochs=epochs, lr=bundle.pretrain_lr, optimizer=bundle.pretrain_optimizer,
                            weight_decay=bundle.pretrain_weight_decay, batch_size=bundle.batch_size)
    t0 = time.perf_counter()
    with seeded(seed, dev, threads):
        model = bundle.build_model().to(dev)
        run = train_loop(model, bundle.train, bundle.val, budget, bundle.batch_size, seed, dev, None, progress,
                         f"pretrain {bundle.name}")
    elapsed = time.perf_counter() - t0
    if run.diverged:
        raise RuntimeError(f"pre-training {bundle.name!r} {run.reason}")
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    acc = float(run.history[-1])
    history = [float(a) for a in run.history]
    write_atomic(path, {"format": _FORMAT, "key": key, "state_dict": state, "float_accuracy": acc,
                        "history": history, "time_s": elapsed})
    pre = Pretrained(bundle.name, seed, epochs, acc, str(path), False, elapsed, tuple(history), note, state)
    _remember(path, key, pre)
    return pre


def pretrained_model(workload: Union[str, WorkloadBundle], seed: int = 0, epochs: Optional[int] = None, *,
                     cache_dir: Optional[Union[str, os.PathLike]] = None, device: str = "cpu",
                     progress: bool = False, threads: int = CPU_THREADS) -> nn.Module:
    """A fresh FP32 model of ``workload`` carrying its pre-trained (cached) weights."""
    bundle = as_bundle(workload)
    require_data(bundle)
    model = bundle.build_model()
    pre = pretrain(bundle, seed, epochs, cache_dir=cache_dir, device=device, progress=progress, threads=threads,
                   architecture=architecture_digest(model))
    model.load_state_dict(pre.state_dict)
    return model.to(resolve_device(device))
