"""``digits``: scikit-learn's bundled 8x8 handwritten digits (1797 images, no download) and
a small CNN. The default workload: pre-training takes seconds on two CPU cores."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from .bundle import TensorData, WorkloadBundle
from .datacache import cached, package_version


class DigitsCNN(nn.Module):
    """conv(1->16) -> conv(16->32) -> pool -> conv(32->32) -> pool -> fc(128->10), BN + ReLU."""

    def __init__(self, width: int = 16, num_classes: int = 10):
        super().__init__()
        w = width
        self.conv1 = nn.Conv2d(1, w, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.conv2 = nn.Conv2d(w, 2 * w, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * w)
        self.conv3 = nn.Conv2d(2 * w, 2 * w, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(2 * w)
        self.pool = nn.MaxPool2d(2)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(2 * w * 2 * 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.pool(self.relu(self.bn2(self.conv2(x))))  # 8x8 -> 4x4
        x = self.pool(self.relu(self.bn3(self.conv3(x))))  # 4x4 -> 2x2
        return self.fc(torch.flatten(x, 1))


#: bump when what _split() returns changes: old cache files are ignored
DATA_FORMAT = 1


def _make_split(split_seed: int, val_fraction: float) -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.images / 16.0, dtype=torch.float32).unsqueeze(1)  # (1797, 1, 8, 8) in [0, 1]
    x = (x - 0.5) / 0.5
    y = torch.tensor(data.target, dtype=torch.long)
    order = torch.as_tensor(np.random.default_rng(split_seed).permutation(len(y)))
    n_val = int(round(len(y) * val_fraction))
    val_idx, train_idx = order[:n_val], order[n_val:]
    return {"x": x[train_idx].numpy(), "y": y[train_idx].numpy(), "x_val": x[val_idx].numpy(),
            "y_val": y[val_idx].numpy()}


def _valid(a: dict[str, np.ndarray], val_fraction: float) -> bool:
    if set(a) != {"x", "y", "x_val", "y_val"}:
        return False
    n_val = int(round(1797 * val_fraction))
    return (a["x"].dtype == np.float32 and a["x_val"].dtype == np.float32 and a["y"].dtype == np.int64
            and a["y_val"].dtype == np.int64 and a["x"].shape == (1797 - n_val, 1, 8, 8)
            and a["x_val"].shape == (n_val, 1, 8, 8) and len(a["y"]) == 1797 - n_val and len(a["y_val"]) == n_val)


@lru_cache(maxsize=4)
def _split(split_seed: int, val_fraction: float) -> tuple[TensorData, TensorData]:
    """The fixed train/val split, kept in the derived-data cache after the first load
    (:mod:`dse.workloads.datacache`: importing scikit-learn to read its bundled file cost ~1.3 s
    of CPU in every process; the cached arrays are the same bit for bit)."""
    sklearn = package_version("scikit-learn")
    key = None if sklearn is None else {"format": DATA_FORMAT, "scikit-learn": sklearn, "split_seed": split_seed,
                                        "val_fraction": repr(float(val_fraction))}
    a = cached(f"digits-split{split_seed}", key, lambda: _make_split(split_seed, val_fraction),
               lambda a: _valid(a, val_fraction))
    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in a.items()}
    return TensorData(t["x"], t["y"]), TensorData(t["x_val"], t["y_val"])


def workload(split_seed: int = 0, val_fraction: float = 0.2, width: int = 16) -> WorkloadBundle:
    """8x8 handwritten digits (scikit-learn, bundled), small CNN; seconds per fine-tune.

    Options: ``split_seed`` (the fixed train/val split), ``val_fraction``, ``width``
    (channels of the first convolution).
    """
    if not 0.0 < float(val_fraction) < 1.0:
        raise UserError(f"val_fraction: must be in (0, 1), got {val_fraction!r}")
    return WorkloadBundle(
        name="digits",
        model_factory=lambda: DigitsCNN(int(width)),
        example_input=torch.zeros(1, 1, 8, 8),
        num_classes=10,
        description="8x8 handwritten digits (scikit-learn, bundled), small CNN",
        pretrain_epochs=10,
        pretrain_lr=3e-3,
        pretrain_optimizer="adam",
        batch_size=64,
        data_factory=lambda: _split(int(split_seed), float(val_fraction)),
        options={"split_seed": split_seed, "val_fraction": val_fraction, "width": width},
        origin="built-in",
    )
