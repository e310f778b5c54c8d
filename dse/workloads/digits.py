"""``digits``: scikit-learn's bundled 8x8 handwritten digits (1797 images, no download) and
a small CNN. The default workload: pre-training takes seconds on two CPU cores."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from .bundle import TensorData, WorkloadBundle


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


@lru_cache(maxsize=4)
def _split(split_seed: int, val_fraction: float) -> tuple[TensorData, TensorData]:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.images / 16.0, dtype=torch.float32).unsqueeze(1)  # (1797, 1, 8, 8) in [0, 1]
    x = (x - 0.5) / 0.5
    y = torch.tensor(data.target, dtype=torch.long)
    order = torch.as_tensor(np.random.default_rng(split_seed).permutation(len(y)))
    n_val = int(round(len(y) * val_fraction))
    val_idx, train_idx = order[:n_val], order[n_val:]
    return TensorData(x[train_idx], y[train_idx]), TensorData(x[val_idx], y[val_idx])


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
