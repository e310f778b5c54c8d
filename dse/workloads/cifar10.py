"""``cifar10``: a ResNet-20 (He et al., 2016, the CIFAR variant: 3 stages of 3 basic
blocks, 16/32/64 channels, parameter-free "option A" shortcuts) on CIFAR-10 read from a
local directory in the standard python-pickle batch format (``data_batch_1`` ..
``data_batch_5``, ``test_batch``; from ``cifar-10-python.tar.gz``). Nothing is downloaded.

Training uses the usual augmentation (4-pixel padded random crop, horizontal flip) drawn
from the run's generator, so it stays deterministic. On a CPU a full pre-training takes
hours; use a GPU (``--device cuda``) or fewer epochs.
"""

from __future__ import annotations

import os
import pickle
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from .bundle import TensorData, WorkloadBundle

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
DATA_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


class ShortcutA(nn.Module):
    """Option-A shortcut: subsample by 2 and zero-pad the new channels (no weights)."""

    def __init__(self, extra_channels: int):
        super().__init__()
        self.pad = extra_channels // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class BasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.shortcut = ShortcutA(planes - inplanes) if stride != 1 or inplanes != planes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    """ResNet-20 for 32x32 inputs: 0.27 M weights, 40.6 M MACs."""

    def __init__(self, num_classes: int = 10, blocks: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        stages, inplanes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            layers = []
            for i in range(blocks):
                layers.append(BasicBlock(inplanes, planes, stride if i == 0 else 1))
                inplanes = planes
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


def find_data_dir(data_dir: str | os.PathLike) -> Path:
    """The folder holding the batches: ``data_dir`` itself or its ``cifar-10-batches-py``
    subfolder (as extracted from the archive). Raises UserError saying where the files go."""
    root = Path(data_dir).expanduser()
    for cand in (root, root / "cifar-10-batches-py"):
        if all((cand / f).is_file() for f in TRAIN_FILES + (TEST_FILE,)):
            return cand
    missing = [f for f in TRAIN_FILES + (TEST_FILE,) if not (root / f).is_file()]
    where = f"'{root}' does not exist" if not root.exists() else f"'{root}' lacks {', '.join(missing)}"
    raise UserError(f"data_dir: CIFAR-10 not found: {where}; download the python version ({DATA_URL}) and "
                    f"extract it so that {root}/data_batch_1..5 and {root}/test_batch exist "
                    "(or point data_dir at the extracted cifar-10-batches-py folder)")


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        data = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(d[b"labels"], dtype=np.int64)
    except Exception as e:
        raise UserError(f"data_dir: {path} is not a CIFAR-10 python batch ({type(e).__name__}: {e}); "
                        f"re-extract {DATA_URL}") from None
    if len(labels) != len(data):
        raise UserError(f"data_dir: {path} has {len(data)} images but {len(labels)} labels; re-extract it")
    return data, labels


def _normalize(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x.float() / 255.0 - mean) / std


def _augment(x: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    """uint8 batch -> normalized float; with a generator (training) also random crop
    (4-pixel zero padding) and horizontal flip, drawn from that generator."""
    x = _normalize(x)
    if generator is None:
        return x
    n = x.shape[0]
    padded = F.pad(x, (4, 4, 4, 4))
    dx = torch.randint(0, 9, (n,), generator=generator)
    dy = torch.randint(0, 9, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    rows = (dy.view(n, 1) + torch.arange(32).view(1, 32))  # (n, 32)
    cols = (dx.view(n, 1) + torch.arange(32).view(1, 32))
    cols = torch.where(flip.view(n, 1), cols.flip(1), cols)
    out = padded.gather(2, rows.view(n, 1, 32, 1).expand(n, 3, 32, 40))  # pick 32 rows
    return out.gather(3, cols.view(n, 1, 1, 32).expand(n, 3, 32, 32))  # then 32 (maybe flipped) columns


@lru_cache(maxsize=1)
def load(data_dir: str) -> tuple[TensorData, TensorData]:
    """(train, test) from the python batches in ``data_dir`` (uint8, normalized per batch)."""
    folder = find_data_dir(data_dir)
    parts = [_read_batch(folder / f) for f in TRAIN_FILES]
    x = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    y = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    tx, ty = _read_batch(folder / TEST_FILE)
    return (TensorData(x, y, prepare=_augment),
            TensorData(torch.from_numpy(tx), torch.from_numpy(ty), prepare=_augment))


def workload(data_dir: Optional[str] = None, blocks: int = 3) -> WorkloadBundle:
    """CIFAR-10 from a local folder (python batches), ResNet-20; needs option data_dir to train.

    Options: ``data_dir`` (folder with data_batch_1..5 and test_batch; only needed to
    train: its hardware view needs no data), ``blocks`` (basic blocks per stage: 3 gives
    ResNet-20, 5 ResNet-32, ...).
    """
    if data_dir is not None:
        find_data_dir(data_dir)  # fail now, not after the search has started

    def data() -> tuple[TensorData, TensorData]:
        if data_dir is None:
            raise UserError("data_dir: workload 'cifar10' needs its data to train: set option data_dir to a "
                            f"folder with data_batch_1..5 and test_batch (extracted from {DATA_URL})")
        return load(str(Path(data_dir).expanduser().resolve()))

    depth = 6 * int(blocks) + 2
    return WorkloadBundle(
        name="cifar10",
        model_factory=lambda: ResNet20(10, int(blocks)),
        example_input=torch.zeros(1, 3, 32, 32),
        num_classes=10,
        description=f"CIFAR-10 from a local folder (python batches), ResNet-{depth}",
        pretrain_epochs=100,
        pretrain_lr=0.1,
        pretrain_optimizer="sgd",
        pretrain_weight_decay=5e-4,
        batch_size=128,
        data_factory=data,
        options={"data_dir": None if data_dir is None else str(data_dir), "blocks": blocks},
        origin="built-in",
    )
