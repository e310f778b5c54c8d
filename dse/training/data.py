"""Data and devices for training: seeding, batching, moving to a device, accuracy, calibration."""

import random
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Union

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..errors import UserError
from ..workloads import TensorData

#: CPU intra-op threads while training. One: the built-in models are too small to gain
#: from more (a second thread made steps 10-25x slower on a shared 2-core machine, and
#: no faster on an idle one), a search runs one trial per core, and a fixed count keeps
#: CPU results reproducible across machines. 0 leaves torch's setting.
CPU_THREADS = 1


def resolve_device(device: str = "cpu") -> torch.device:
    """``cpu``, ``cuda`` (error when absent), ``cuda:N`` or ``auto`` (cuda when present)."""
    name = str(device or "cpu").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"device: {device!r} asked for but torch sees no CUDA GPU; use --device cpu "
                            "(or auto to take a GPU only when present)")
    elif name != "cpu":
        raise UserError(f"device: must be cpu, cuda, cuda:N or auto; got {device!r}")
    try:
        return torch.device(name)
    except RuntimeError as e:
        raise UserError(f"device: {e}") from None


def _deterministic(mode: bool, warn_only: bool) -> None:
    """``torch.use_deterministic_algorithms`` without its first call's import of
    ``torch._inductor.config`` (~1 s of CPU in every process that fine-tunes: it only carries the
    flag to ``torch.compile``, which nothing here uses). Once inductor is imported, or where
    torch lacks the setter it calls, the public function is used."""
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None or "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        setter(mode, warn_only=warn_only)


@contextmanager
def seeded(seed: int, device: torch.device = torch.device("cpu"),
           threads: int = CPU_THREADS) -> Iterator[None]:
    """Seed torch, numpy and random; on CPU ask for deterministic algorithms and use
    ``threads`` intra-op threads (0: leave torch's setting); restore all of it (RNG
    states, the flag, the thread count) on exit."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads: must be an integer >= 0, got {threads!r}")
    py_state, np_state = random.getstate(), np.random.get_state()
    prev_threads = torch.get_num_threads()
    cuda = [device.index or 0] if device.type == "cuda" else []
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        if device.type == "cpu":
            _deterministic(True, warn_only=True)
            if threads:
                torch.set_num_threads(threads)
        try:
            yield
        finally:
            if torch.get_num_threads() != prev_threads:
                torch.set_num_threads(prev_threads)
            _deterministic(prev_det, warn_only=prev_warn)
            random.setstate(py_state)
            np.random.set_state(np_state)


def batches(data: Any, batch_size: int, generator: Optional[torch.Generator]) -> Iterator[tuple[Any, Any]]:
    """(inputs, labels) batches of any supported data; shuffled when ``generator`` is given
    (DataLoaders keep their own sampler, seeded from the global torch RNG)."""
    if isinstance(data, TensorData):
        yield from data.batches(batch_size, generator)
    elif isinstance(data, DataLoader):
        for batch in data:
            yield batch[0], batch[1]
    elif isinstance(data, Dataset):
        loader = DataLoader(data, batch_size=batch_size, shuffle=generator is not None, generator=generator)
        for batch in loader:
            yield batch[0], batch[1]
    else:
        for batch in data:
            yield batch[0], batch[1]


def num_batches(data: Any, batch_size: int) -> Optional[int]:
    if isinstance(data, TensorData):
        return -(-len(data) // batch_size)
    if isinstance(data, DataLoader):
        try:
            return len(data)
        except TypeError:
            return None
    if isinstance(data, Dataset):
        try:
            return -(-len(data) // batch_size)  # type: ignore[arg-type]
        except TypeError:
            return None
    try:
        return len(data)
    except TypeError:
        return None


def to_device(x: Any, device: torch.device) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    if isinstance(x, (tuple, list)):
        return type(x)(to_device(v, device) for v in x)
    return x


def model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def evaluate_accuracy(model: nn.Module, loader: Any, device: Optional[Union[str, torch.device]] = None,
                      batch_size: int = 512) -> float:
    """Top-1 accuracy (fraction in [0, 1]) of ``model`` on ``loader`` (a DataLoader, a
    Dataset, :class:`TensorData` or any iterable of (inputs, labels)); eval mode, no
    gradients; the model's train/eval mode is restored."""
    dev = torch.device(device) if device is not None else model_device(model)
    was_training = model.training
    model.eval()
    correct = total = 0
    try:
        with torch.no_grad():
            for x, y in batches(loader, batch_size, None):
                pred = model(to_device(x, dev)).argmax(dim=1)
                y = y.to(pred.device)
                correct += int((pred == y).sum())
                total += int(y.numel())
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("loader: no validation examples")
    return correct / total


def progress_bar(total: Optional[int], desc: str, progress: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", leave=False, file=sys.stderr,
                disable=not (progress and sys.stderr.isatty()))


def calibrate_activations(model: nn.Module, train: Any, batch_size: int, device: torch.device) -> None:
    """One forward pass on the first unshuffled training batch, in eval mode: activation
    quantizers fix their sign and initial clip on it; BN statistics are untouched."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for x, _ in batches(train, batch_size, None):
                model(to_device(x, device))
                break
    finally:
        model.train(was_training)
