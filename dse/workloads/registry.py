"""Finding workloads by name: built-ins, the ``dse.workloads`` entry-point group, and
``module.path:function`` specs.

A workload function takes keyword options and returns one of:

- a :class:`WorkloadBundle` (full control);
- a dict with ``model`` (a module, or a function returning one) and any of ``train``,
  ``val``, ``example_input``, ``num_classes``, ``description``, ``pretrain_epochs``,
  ``pretrain_lr``, ``pretrain_optimizer``, ``pretrain_weight_decay``, ``batch_size``, ``layers``;
- a tuple ``(model, train, val)`` or ``(model, example_input)``;
- a bare model (with an ``example_input`` attribute) for hardware-only studies;
- a :class:`hwmodels.Workload` or a list of :class:`hwmodels.LayerSpec` (layers only).

``train`` / ``val`` may be DataLoaders, Datasets, :class:`TensorData` or ``(x, y)`` tensor
pairs. A name registered twice with different targets is an error, not a silent choice.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, replace
from importlib import metadata
from typing import Any, Callable, Mapping

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from hwmodels.workload import LayerSpec, Workload

from ..errors import UserError
from .bundle import TensorData, WorkloadBundle, model_factory_of

GROUP = "dse.workloads"
DEFAULT_WORKLOAD = "digits"

#: built-in workloads; pyproject.toml lists the same targets under the entry-point group
BUILTINS: dict[str, str] = {
    "digits": "dse.workloads.digits:workload",
    "mnist1d": "dse.workloads.mnist1d:workload",
    "cifar10": "dse.workloads.cifar10:workload",
    "resnet18": "dse.workloads.shapes:resnet18",
    "resnet50": "dse.workloads.shapes:resnet50",
    "mobilenetv2": "dse.workloads.shapes:mobilenetv2",
}

DICT_KEYS = ("model", "train", "val", "example_input", "num_classes", "description", "pretrain_epochs",
             "pretrain_lr", "pretrain_optimizer", "pretrain_weight_decay", "batch_size", "layers")


@dataclass(frozen=True)
class WorkloadEntry:
    """A registered workload: its name, ``module:function`` target and origin."""

    name: str
    target: str
    origin: str

    def load(self) -> Callable[..., Any]:
        return _load_target(self.target, self.name)

    @property
    def description(self) -> str:
        """First line of the workload function's docstring."""
        doc = inspect.getdoc(self.load()) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""


def _entry_points() -> list[tuple[str, str, str]]:
    """(name, target, distribution) for the entry-point group (tests replace this)."""
    out = []
    for ep in metadata.entry_points(group=GROUP):
        dist = getattr(getattr(ep, "dist", None), "name", None) or "unknown distribution"
        out.append((ep.name, ep.value, dist))
    return out


def workload_entries() -> dict[str, WorkloadEntry]:
    """Every named workload: built-ins, then plug-ins (a clashing name is an error)."""
    entries = {name: WorkloadEntry(name, target, "built-in") for name, target in BUILTINS.items()}
    for name, target, dist in _entry_points():
        known = entries.get(name)
        if known is None:
            entries[name] = WorkloadEntry(name, target, f"plug-in ({dist})")
        elif known.target.replace(" ", "") != target.replace(" ", ""):
            raise UserError(f"workload name {name!r} is registered twice: {known.target} ({known.origin}) and "
                            f"{target} (entry point of {dist}); uninstall or rename one of them")
    return entries


def list_workloads() -> list[str]:
    """Names of all registered workloads, built-ins first."""
    return list(workload_entries())


def _load_target(target: str, label: str) -> Callable[..., Any]:
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise UserError(f"workload {label!r}: expected 'module.path:function', got {target!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise UserError(f"workload {label!r}: cannot import module {module_name!r} ({e}); check the name and "
                        "that the module is importable: installed, or on PYTHONPATH (e.g. PYTHONPATH=. dse ...)"
                        ) from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UserError(f"workload {label!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UserError(f"workload {label!r}: {target} is not callable; it must be a function returning a "
                        "model (and data) or layers")
    return obj


def _check_options(fn: Callable[..., Any], options: Mapping[str, Any], label: str) -> None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(**options)
    except TypeError:
        takes = [p.name for p in sig.parameters.values()
                 if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
        extra = sorted(set(options) - set(takes))
        allowed = ", ".join(takes) if takes else "none"
        what = f"option(s) {', '.join(extra)}" if extra else "these options"
        raise UserError(f"workload {label!r} does not take {what}; its options: {allowed}") from None


def resolve(name_or_spec: str) -> WorkloadEntry:
    """The entry for a registered name or a ``module.path:function`` spec."""
    if not isinstance(name_or_spec, str) or not name_or_spec.strip():
        raise UserError("workload: give a workload name (see 'dse workload list') or 'module.path:function'")
    spec = name_or_spec.strip()
    if ":" in spec:
        return WorkloadEntry(spec, spec, spec)
    entries = workload_entries()
    if spec not in entries:
        raise UserError(f"workload: unknown workload {spec!r}; available: {', '.join(entries)} "
                        "(or give your own as 'module.path:function')")
    return entries[spec]


def get_workload(name_or_spec: str = DEFAULT_WORKLOAD, **options: Any) -> WorkloadBundle:
    """Build the named workload (or ``module.path:function``) with its options.

    Raises:
        UserError: unknown name, module not importable, option the workload does not take,
            or a return value that is not a workload (the message says what to return).
    """
    entry = resolve(name_or_spec)
    fn = entry.load()
    _check_options(fn, options, entry.name)
    result = fn(**options)
    bundle = as_bundle(result, entry.name, options, entry.origin)
    if not bundle.description:
        doc = (inspect.getdoc(fn) or "").strip()
        bundle = replace(bundle, description=doc.splitlines()[0] if doc else "")
    return bundle


_SPEC_CACHE: dict[tuple, Workload] = {}


def get_workload_spec(name_or_spec: str = DEFAULT_WORKLOAD, **options: Any) -> Workload:
    """The hardware view (a :class:`hwmodels.Workload`) of a workload; data is not loaded.
    Built-in specs are memoised per options within the process."""
    key = None
    if name_or_spec in BUILTINS:
        try:
            key = (name_or_spec, tuple(sorted(options.items())))
            hash(key)
        except TypeError:
            key = None
    if key is not None and key in _SPEC_CACHE:
        return _SPEC_CACHE[key]
    spec = get_workload(name_or_spec, **options).spec
    if key is not None:
        _SPEC_CACHE[key] = spec
    return spec


def _as_data(value: Any, what: str, label: str) -> Any:
    if value is None or isinstance(value, (TensorData, DataLoader, Dataset)):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, torch.Tensor) for v in value):
        return TensorData(value[0], value[1])
    if hasattr(value, "__iter__"):  # any iterable of (inputs, labels) batches
        return value
    raise UserError(f"workload {label!r}: {what} must be a DataLoader, a Dataset or an (x, y) pair of tensors, "
                    f"got {type(value).__name__}")


def _first_input(data: Any) -> Any:
    if isinstance(data, TensorData):
        return next(data.batches(1))[0]
    if isinstance(data, Dataset) and not isinstance(data, DataLoader):
        x = data[0][0]
        return x.unsqueeze(0) if isinstance(x, torch.Tensor) else x
    batch = next(iter(data))
    x = batch[0]
    return x[:1] if isinstance(x, torch.Tensor) else x


def as_bundle(result: Any, label: str, options: Mapping[str, Any] | None = None,
              origin: str = "") -> WorkloadBundle:
    """Turn whatever a workload function returned into a :class:`WorkloadBundle`."""
    opts = tuple(sorted((options or {}).items()))
    if isinstance(result, WorkloadBundle):
        return replace(result, options=result.options or opts, origin=result.origin or origin)
    if isinstance(result, Workload):
        return WorkloadBundle(label, None, layers=result, options=opts, origin=origin,
                              description="layers only (hardware-only)")
    if isinstance(result, (list, tuple)) and result and all(isinstance(l, LayerSpec) for l in result):
        return as_bundle(Workload(label, tuple(result)), label, options, origin)
    fields: dict[str, Any]
    if isinstance(result, Mapping):
        unknown = sorted(set(result) - set(DICT_KEYS))
        if unknown:
            raise UserError(f"workload {label!r}: returned unknown key(s) {', '.join(unknown)}; "
                            f"allowed: {', '.join(DICT_KEYS)}")
        fields = dict(result)
    elif isinstance(result, nn.Module):
        fields = {"model": result}
    elif isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], torch.Tensor):
        fields = {"model": result[0], "example_input": result[1]}
    elif isinstance(result, tuple) and len(result) == 3:
        fields = {"model": result[0], "train": result[1], "val": result[2]}
    else:
        raise UserError(f"workload {label!r}: the function returned {type(result).__name__}; return a model, "
                        "(model, train_loader, val_loader), a dict with 'model', or layers "
                        "(a hwmodels.Workload or a list of LayerSpec)")
    layers = fields.get("layers")
    if layers is not None and not isinstance(layers, Workload):
        if not (isinstance(layers, (list, tuple)) and all(isinstance(l, LayerSpec) for l in layers)):
            raise UserError(f"workload {label!r}: 'layers' must be a hwmodels.Workload or a list of LayerSpec")
        layers = Workload(label, tuple(layers))
    model = fields.get("model")
    if model is None and layers is None:
        raise UserError(f"workload {label!r}: returned no 'model' (and no 'layers')")
    factory = None
    if model is not None:
        try:
            factory = model_factory_of(model)
        except TypeError as e:
            raise UserError(f"workload {label!r}: {e}") from None
    train = _as_data(fields.get("train"), "train", label)
    val = _as_data(fields.get("val"), "val", label)
    if (train is None) != (val is None):
        raise UserError(f"workload {label!r}: give both 'train' and 'val' data, or neither (hardware-only)")
    example = fields.get("example_input")
    if example is None and isinstance(model, nn.Module):
        example = getattr(model, "example_input", None)
    if example is None and train is not None:
        with torch.random.fork_rng(devices=[]):  # a shuffling loader draws from the global RNG
            example = _first_input(train)
    if example is None and layers is None:
        raise UserError(f"workload {label!r}: no example input to trace the model with; return "
                        "{'model': model, 'example_input': torch.zeros(1, ...)} (or data loaders, or 'layers')")
    kwargs = {k: fields[k] for k in ("num_classes", "description", "pretrain_epochs", "pretrain_lr",
                                     "pretrain_optimizer", "pretrain_weight_decay", "batch_size")
              if fields.get(k) is not None}
    data_factory = (lambda: (train, val)) if train is not None else None
    return WorkloadBundle(name=label, model_factory=factory, example_input=example, data_factory=data_factory,
                          layers=layers, options=opts, origin=origin, **kwargs)


__all__ = ["BUILTINS", "DEFAULT_WORKLOAD", "GROUP", "WorkloadEntry", "as_bundle", "get_workload",
           "get_workload_spec", "list_workloads", "resolve", "workload_entries"]
