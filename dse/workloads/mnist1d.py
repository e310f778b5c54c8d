"""``mnist1d``: the MNIST-1D benchmark (Greydanus & Kobak, 2020), generated offline with
the ``mnist1d`` package's procedural generator (never its download path), and a 1-D CNN.

Ten 1-D digit templates are padded, translated, sheared, scaled and noised into 40-sample
signals. It is small enough to train on a CPU in about a minute yet hard enough that
low-bit quantization visibly costs accuracy (unlike the 8x8 digits).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from .bundle import TensorData, WorkloadBundle

SEQ_LEN = 40


class MNIST1DCNN(nn.Module):
    """conv(1->w, k5) -> conv(w->w, k3, s2) -> conv(w->2w, k3, s2) -> conv(2w->2w, k3, s2)
    -> fc(2w*5 -> 10); BN + ReLU after each convolution. ``depth`` > 4 appends ``depth - 4``
    more conv(2w->2w, k3, s1) + BN + ReLU blocks (``conv5``, ``bn5``, ...) before the fc; the
    default (4) is the published model, module for module."""

    def __init__(self, width: int = 32, num_classes: int = 10, depth: int = 4):
        super().__init__()
        w = width
        self.extra = max(0, int(depth) - 4)
        self.conv1 = nn.Conv1d(1, w, 5, padding=2, bias=False)
        self.bn1 = nn.BatchNorm1d(w)
        self.conv2 = nn.Conv1d(w, w, 3, stride=2, padding=1, bias=False)  # 40 -> 20
        self.bn2 = nn.BatchNorm1d(w)
        self.conv3 = nn.Conv1d(w, 2 * w, 3, stride=2, padding=1, bias=False)  # 20 -> 10
        self.bn3 = nn.BatchNorm1d(2 * w)
        self.conv4 = nn.Conv1d(2 * w, 2 * w, 3, stride=2, padding=1, bias=False)  # 10 -> 5
        self.bn4 = nn.BatchNorm1d(2 * w)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(2 * w * 5, num_classes)
        for i in range(5, 5 + self.extra):
            setattr(self, f"conv{i}", nn.Conv1d(2 * w, 2 * w, 3, padding=1, bias=False))
            setattr(self, f"bn{i}", nn.BatchNorm1d(2 * w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.relu(self.bn3(self.conv3(x)))
        x = self.relu(self.bn4(self.conv4(x)))
        for i in range(5, 5 + self.extra):
            x = self.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)))
        return self.fc(torch.flatten(x, 1))


#: bump when what generate() returns changes (a new split, dtype or layout): old cache files are ignored
DATA_FORMAT = 1
DATA_CACHE_ENV = "DSE_DATA_CACHE"


def data_cache_dir() -> Optional[Path]:
    """Where generated data sets are kept: ``$DSE_DATA_CACHE`` (``0``/``off`` disables), else
    ``$XDG_CACHE_HOME/termfront-dse/data`` or ``~/.cache/termfront-dse/data``; ``None`` when
    disabled or there is no home. A derived-data cache like the native kernels' build cache
    (regenerated bit for bit when missing), deliberately not under ``$DSE_CACHE_DIR``, which holds
    a user's trained weights and which a ``--dry-run`` leaves untouched."""
    own = os.environ.get(DATA_CACHE_ENV)
    if own is not None and own.strip().lower() in ("0", "off", "false", "no", ""):
        return None
    if own:
        return Path(own).expanduser()
    try:
        xdg = os.environ.get("XDG_CACHE_HOME")
        return (Path(xdg) if xdg else Path.home() / ".cache") / "termfront-dse" / "data"
    except (RuntimeError, KeyError):  # no home directory
        return None


def _cache_file(num_samples: int, data_seed: int) -> Optional[Path]:
    root = data_cache_dir()
    if root is None:
        return None
    try:
        from importlib.metadata import version
        generator = version("mnist1d")
    except Exception:  # not installed as a distribution: no cache (the generator decides)
        return None
    key = json.dumps({"format": DATA_FORMAT, "mnist1d": generator, "num_samples": num_samples,
                      "data_seed": data_seed, "args": "defaults"}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return root / f"mnist1d-n{num_samples}-seed{data_seed}-{digest}.npz"


_ARRAYS = ("x", "y", "x_test", "y_test")


def _read(path: Path, num_samples: int) -> Optional[dict[str, np.ndarray]]:
    """The cached arrays, or None when the file is missing, truncated or not what it claims."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in _ARRAYS}
    except Exception:  # absent, truncated, foreign: regenerate
        return None
    x, y, xt, yt = (arrays[k] for k in _ARRAYS)
    ok = (x.dtype == np.float32 and xt.dtype == np.float32 and y.dtype == np.int64 and yt.dtype == np.int64
          and x.ndim == 2 and xt.ndim == 2 and x.shape[1] == SEQ_LEN and xt.shape[1] == SEQ_LEN
          and len(x) == len(y) and len(xt) == len(yt) and len(x) + len(xt) == num_samples)
    return arrays if ok else None


def _write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Best effort, atomic: a temporary file renamed into place (two processes writing at once
    leave one complete file); a read-only or full disk just means no cache."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        pass


def _make(num_samples: int, data_seed: int) -> dict[str, np.ndarray]:
    """Run the ``mnist1d`` package's generator (its defaults, our sample count and seed). It
    seeds Python's and numpy's global RNGs; their states are restored afterwards."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = int(num_samples)
    args.seed = int(data_seed)
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {"x": np.asarray(data["x"], dtype=np.float32), "y": np.asarray(data["y"], dtype=np.int64),
            "x_test": np.asarray(data["x_test"], dtype=np.float32),
            "y_test": np.asarray(data["y_test"], dtype=np.int64)}


@lru_cache(maxsize=2)
def generate(num_samples: int = 5000, data_seed: int = 42) -> tuple[TensorData, TensorData]:
    """(train, val) as generated by ``mnist1d.data.make_dataset`` (80/20 split, the
    package's defaults otherwise). Kept in the data cache (:func:`data_cache_dir`) after the
    first generation: the generator and its imports cost ~2 s of CPU in every process, the
    cached file a few milliseconds; the arrays are the same bit for bit (tested)."""
    num_samples, data_seed = int(num_samples), int(data_seed)
    path = _cache_file(num_samples, data_seed)
    arrays = _read(path, num_samples) if path is not None else None
    if arrays is None:
        arrays = _make(num_samples, data_seed)
        if path is not None:
            _write(path, arrays)

    def part(x: np.ndarray, y: np.ndarray) -> TensorData:
        return TensorData(torch.from_numpy(np.ascontiguousarray(x)).unsqueeze(1),
                          torch.from_numpy(np.ascontiguousarray(y)))

    return part(arrays["x"], arrays["y"]), part(arrays["x_test"], arrays["y_test"])


def workload(num_samples: int = 5000, data_seed: int = 42, width: int = 32, depth: int = 4) -> WorkloadBundle:
    """MNIST-1D (procedurally generated offline), 1-D CNN; quantization visibly costs accuracy.

    Options: ``num_samples`` (train + val; 80/20 split, default 5000 as in the benchmark),
    ``data_seed`` (the generator's seed; 42 is the published data set), ``width``, ``depth``
    (convolutions, 4-16; 4 is the published model, more adds stride-1 blocks at the last resolution).
    """
    if int(num_samples) < 100:
        raise UserError(f"num_samples: need at least 100 samples, got {num_samples!r}")
    if isinstance(depth, bool) or not isinstance(depth, int) or not 4 <= depth <= 16:
        raise UserError(f"depth: the number of convolutions must be an integer from 4 to 16, got {depth!r}")
    # depth joins the options (and so the FP32 cache key) only when it is not the default:
    # studies and cached weights from before the option keep their key
    extra = {"depth": depth} if depth != 4 else {}
    return WorkloadBundle(
        name="mnist1d",
        model_factory=lambda: MNIST1DCNN(int(width), depth=depth),
        example_input=torch.zeros(1, 1, SEQ_LEN),
        num_classes=10,
        description="MNIST-1D (procedurally generated offline), 1-D CNN",
        pretrain_epochs=30,
        pretrain_lr=3e-3,
        pretrain_optimizer="adam",
        batch_size=128,
        data_factory=lambda: generate(int(num_samples), int(data_seed)),
        options={"num_samples": num_samples, "data_seed": data_seed, "width": width, **extra},
        origin="built-in",
    )
