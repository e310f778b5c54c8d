"""What a workload is: a model factory, its data, and its hardware view.

torch is imported where a model or a tensor is used, not at import: a layers-only bundle
(a topology CSV) is made and read without it (issue 16).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Union

from hwmodels.workload import Workload

from ..errors import UserError

if TYPE_CHECKING:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, Dataset

#: ``prepare(x_batch, generator)``: turn a stored batch into model input; ``generator`` is
#: given while training (random augmentation may use it) and ``None`` when evaluating.
Prepare = Callable[["torch.Tensor", Optional["torch.Generator"]], "torch.Tensor"]


@dataclass(frozen=True, eq=False)
class TensorData:
    """Examples held in memory as two tensors; batches are cut by index (fast, and the
    order depends only on the generator passed to :meth:`batches`)."""

    x: torch.Tensor
    y: torch.Tensor
    prepare: Optional[Prepare] = None

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"x/y: {len(self.x)} inputs but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.y)

    def batches(self, batch_size: int, generator: Optional[torch.Generator] = None) -> Iterator[
            tuple[torch.Tensor, torch.Tensor]]:
        """(inputs, labels) batches; shuffled with ``generator`` when one is given (training)."""
        import torch

        n = len(self)
        order = torch.randperm(n, generator=generator) if generator is not None else None
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size] if order is not None else slice(start, start + batch_size)
            xb = self.x[idx]
            if self.prepare is not None:
                xb = self.prepare(xb, generator)
            yield xb, self.y[idx]


DataLike = Union[TensorData, "DataLoader", "Dataset"]


@dataclass(frozen=True, eq=False)
class WorkloadBundle:
    """A workload: how to build its model, its data, and its hardware view.

    Attributes:
        name: registry name (or the ``module:function`` spec it came from).
        model_factory: returns a fresh model; its initial weights depend only on the torch
            seed in force (``None`` for a layers-only, hardware-only workload).
        example_input: one inference's input, batch dimension included (batch 1 for the
            built-ins); used to trace :attr:`spec`.
        num_classes: classifier outputs (``None`` when unknown or not a classifier).
        description: one line for ``dse workload list``.
        pretrain_epochs / pretrain_lr / pretrain_optimizer / pretrain_weight_decay: the
            FP32 pre-training recipe (cosine learning-rate decay).
        batch_size: default training batch size.
        data_factory: returns ``(train, val)`` on first use (so hardware-only uses never
            load data); each a :class:`TensorData`, a ``DataLoader`` or a ``Dataset``.
        layers: an explicit hardware view; when ``None`` it is traced from the model.
        options: the options the workload was built with (part of the pre-training cache key).
        origin: where it came from (``built-in``, an entry point's distribution, ``module:function``).
    """

    name: str
    model_factory: Optional[Callable[[], nn.Module]]
    example_input: Optional[Any] = None
    num_classes: Optional[int] = None
    description: str = ""
    pretrain_epochs: int = 10
    pretrain_lr: float = 1e-3
    pretrain_optimizer: str = "adam"
    pretrain_weight_decay: float = 0.0
    batch_size: int = 64
    data_factory: Optional[Callable[[], tuple[Optional[DataLike], Optional[DataLike]]]] = None
    layers: Optional[Workload] = None
    options: tuple[tuple[str, Any], ...] = field(default=())
    origin: str = ""

    def __post_init__(self) -> None:
        if self.model_factory is None and self.layers is None:
            raise ValueError(f"workload {self.name!r}: needs a model factory or explicit layers")
        if self.model_factory is not None and self.layers is None and self.example_input is None:
            raise ValueError(f"workload {self.name!r}: needs an example input to trace its layers")
        opts = self.options.items() if isinstance(self.options, dict) else self.options
        object.__setattr__(self, "options", tuple(sorted((str(k), v) for k, v in opts)))

    # --- model -------------------------------------------------------------------------

    @property
    def has_model(self) -> bool:
        return self.model_factory is not None

    def build_model(self) -> nn.Module:
        """A fresh model (seed torch first for a reproducible initialisation)."""
        if self.model_factory is None:
            raise UserError(f"workload {self.name!r} gives layers only (hardware-only): it has no model to "
                            "train; return a model (and data) from the workload function to train it")
        return self.model_factory()

    @cached_property
    def spec(self) -> Workload:
        """The hardware view: explicit layers, else traced from a fresh model."""
        if self.layers is not None:
            return self.layers
        import torch

        from .trace import trace_workload

        # Shapes only: build and run the model on the meta device (no weights initialised, no
        # arithmetic); a model that cannot run there is traced on the CPU, with the same result.
        # A small model is traced on the CPU anyway: running it costs less than the meta run's
        # first import of torch._dynamo (~0.6 s of every process's start-up, issue 13).
        meta = None
        try:
            with torch.random.fork_rng(devices=[]), torch.device("meta"):
                meta = self.build_model()
            if sum(p.numel() for p in meta.parameters()) > SMALL_MODEL_PARAMS:
                return trace_workload(meta, _to_meta(self.example_input), name=self.name)
        except Exception:
            meta = None
        try:
            with torch.random.fork_rng(devices=[]):  # building a model must not move the caller's RNG
                model = self.build_model()
            return trace_workload(model, self.example_input, name=self.name)
        except Exception:
            if meta is None:  # neither device: the CPU's error is the one to show
                raise
        return trace_workload(meta, _to_meta(self.example_input), name=self.name)

    # --- data --------------------------------------------------------------------------

    @property
    def has_data(self) -> bool:
        return self.data_factory is not None

    @cached_property
    def _data(self) -> tuple[Optional[DataLike], Optional[DataLike]]:
        if self.data_factory is None:
            return None, None
        train, val = self.data_factory()
        return train, val

    @property
    def train(self) -> Optional[DataLike]:
        """Training data (``None`` for a shape-only workload); loaded on first access."""
        return self._data[0]

    @property
    def val(self) -> Optional[DataLike]:
        """Validation data (``None`` for a shape-only workload); loaded on first access."""
        return self._data[1]

    def option(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)


#: models with at most this many parameters are traced on the CPU (see WorkloadBundle.spec)
SMALL_MODEL_PARAMS = 1_000_000


def _to_meta(x: Any) -> Any:
    import torch

    if isinstance(x, torch.Tensor):
        return x.to("meta")
    if isinstance(x, tuple):
        return tuple(_to_meta(v) for v in x)
    raise TypeError("example input: not a tensor")


def model_factory_of(model: Any) -> Callable[[], nn.Module]:
    """A factory for ``model``: a module instance is deep-copied on each call (so every
    run starts from the same weights); a class or function is called."""
    from torch import nn

    if isinstance(model, nn.Module):
        return lambda: copy.deepcopy(model)
    if callable(model):
        return model
    raise TypeError(f"model: expected an nn.Module or a function returning one, got {type(model).__name__}")


__all__ = ["DataLike", "Prepare", "TensorData", "WorkloadBundle", "model_factory_of"]
