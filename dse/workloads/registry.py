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

torch is imported only where a model or tensor data is involved: a layers-only workload
(a topology CSV, or a function returning layers) is found and built without it (issue 16).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Mapping

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
    except Exception as e:  # the user's module raised while importing (issue 15: one line, no traceback)
        raise UserError(f"workload {label!r}: importing module {module_name!r} raised "
                        f"{type(e).__name__}: {_first_line(e)}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UserError(f"workload {label!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UserError(f"workload {label!r}: {target} is not callable; it must be a function returning a "
                        "model (and data) or layers")
    return obj


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [""])[0][:300]


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


def _parse_shape(value: Any, label: str) -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive ints (from a list or ``"C,H,W"`` text)."""
    items = value.replace("x", ",").split(",") if isinstance(value, str) else value
    try:
        shape = tuple(int(str(v).strip()) for v in items)
    except (TypeError, ValueError):
        shape = ()
    if not shape or any(d < 1 for d in shape) or len(shape) > 4:
        raise UserError(f"input_shape: expected the input's shape without the batch, 1 to 4 positive integers "
                        f"such as 3,32,32 (C,H,W) or 1,40 (C,L), got {value!r} (workload {label!r})")
    return shape


def _required_args(cls: type) -> tuple[list[str], list[str], bool]:
    """(required constructor arguments, all keyword-able ones, takes **kwargs) of ``cls``."""
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return [], [], True
    params = list(sig.parameters.values())
    required = [p.name for p in params if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return required, named, any(p.kind == p.VAR_KEYWORD for p in params)


def _is_module(obj: Any) -> bool:
    """``obj`` is an ``nn.Module``; without importing torch (none can exist before it is)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _is_module_class(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and inspect.isclass(obj) and issubclass(obj, torch.nn.Module)


def _is_tensor(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


def _class_workload(cls: type, options: Mapping[str, Any], label: str) -> dict[str, Any]:
    """A model class as it is: constructed with ``options`` as keyword arguments (none by
    default) and traced at ``input_shape`` (batch 1); hardware-only (no data)."""
    import torch

    kwargs = dict(options)
    shape = kwargs.pop("input_shape", None)
    required, named, var_kw = _required_args(cls)
    missing = [n for n in required if n not in kwargs]
    if missing:
        raise UserError(f"workload {label!r}: class {cls.__name__} needs constructor argument(s) "
                        f"{', '.join(missing)}; give them as kwargs = {{{', '.join(f'{n} = ...' for n in missing)}}} "
                        "under [workload] (or -o NAME=VALUE on the command line)")
    unknown = sorted(set(kwargs) - set(named)) if not var_kw else []
    if unknown:
        raise UserError(f"workload {label!r}: class {cls.__name__} takes no argument(s) {', '.join(unknown)}; "
                        f"its arguments: {', '.join(named) or 'none'}")
    example = getattr(cls, "example_input", None)
    if shape is None and not isinstance(example, torch.Tensor):
        raise UserError(f"workload {label!r}: a model class needs the shape of one input to trace it: "
                        "input_shape = [C, H, W] under [workload] (or --input-shape C,H,W)")
    if shape is not None:
        example = torch.zeros((1,) + _parse_shape(shape, label))

    def factory() -> torch.nn.Module:
        return cls(**kwargs)

    with torch.random.fork_rng(devices=[]):
        try:
            factory()
        except Exception as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise UserError(f"workload {label!r}: {cls.__name__}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
                            f" failed: {type(e).__name__}: {first}") from None
    desc = f"{cls.__name__} ({cls.__module__}), input {tuple(example.shape[1:])}, shape only"
    return {"model": factory, "example_input": example, "description": desc}


def get_workload(name_or_spec: str = DEFAULT_WORKLOAD, **options: Any) -> WorkloadBundle:
    """Build the named workload (or ``module.path:function``) with its options.

    ``module.path:Class`` names an ``nn.Module`` class as it is: the options are its
    constructor's keyword arguments, plus ``input_shape`` (one input without the batch
    dimension, e.g. ``(3, 32, 32)``) to trace it with; it is a hardware-only workload.

    Raises:
        UserError: unknown name, module not importable, option the workload does not take,
            a class whose constructor needs arguments that were not given, or a return
            value that is not a workload (the message says what to return).
    """
    if isinstance(name_or_spec, str) and name_or_spec.strip().lower().endswith(".csv"):
        return topology_workload(name_or_spec.strip(), **options)
    entry = resolve(name_or_spec)
    fn = entry.load()
    if _is_module_class(fn):
        return as_bundle(_class_workload(fn, options, entry.name), entry.name, options, entry.origin)
    if "input_shape" in options and "input_shape" not in _required_args(fn)[1]:
        raise UserError(f"input_shape: only a model class (module.path:Class) takes an input shape; workload "
                        f"{entry.name!r} is a function, which gives its own example input")
    _check_options(fn, options, entry.name)
    try:
        result = fn(**options)
    except UserError:
        raise
    except Exception as e:  # the workload's own code failed (issue 15: one line, no traceback)
        raise UserError(f"workload {entry.name!r}: {entry.target} raised {type(e).__name__}: {_first_line(e)}"
                        ) from None
    bundle = as_bundle(result, entry.name, options, entry.origin)
    if not bundle.description:
        doc = (inspect.getdoc(fn) or "").strip()
        bundle = replace(bundle, description=doc.splitlines()[0] if doc else "")
    return bundle


def topology_workload(path: str, **options: Any) -> WorkloadBundle:
    """A SCALE-Sim topology CSV as a layers-only (hardware-only) workload; the
    description lists the repeated layer names it renamed (see hwmodels.topology)."""
    from hwmodels.topology import load_topology

    if options:
        raise UserError(f"workload {path!r}: a topology file takes no options, got {', '.join(sorted(options))}")
    try:
        topo = load_topology(Path(path).expanduser())
    except ValueError as e:
        raise UserError(f"workload: {e}") from None
    desc = f"SCALE-Sim {topo.fmt} topology, {len(topo.workload.layers)} layers, hardware only"
    if topo.renamed:
        desc += f"; {len(topo.renamed)} repeated layer names renamed"
    return WorkloadBundle(path, None, layers=topo.workload, origin="topology file", description=desc)


_SPEC_CACHE: dict[tuple, Workload] = {}


def get_workload_spec(name_or_spec: str = DEFAULT_WORKLOAD, **options: Any) -> Workload:
    """The hardware view (a :class:`hwmodels.Workload`) of a workload; data is not loaded.
    Built-in specs are memoised per options within the process. The built-in shape networks
    at their default options are read from package data without torch (:mod:`.frozen`)."""
    key = None
    if name_or_spec in BUILTINS:
        try:
            key = (name_or_spec, tuple(sorted(options.items())))
            hash(key)
        except TypeError:
            key = None
    if key is not None and key in _SPEC_CACHE:
        return _SPEC_CACHE[key]
    spec = None
    if key is not None and workload_entries()[name_or_spec].target == BUILTINS[name_or_spec]:
        from . import frozen

        spec = frozen.load(name_or_spec, options)
    if spec is None:
        spec = get_workload(name_or_spec, **options).spec
    if key is not None:
        _SPEC_CACHE[key] = spec
    return spec


def _as_data(value: Any, what: str, label: str) -> Any:
    if value is None or isinstance(value, TensorData):
        return value
    data = sys.modules.get("torch.utils.data")
    if data is not None and isinstance(value, (data.DataLoader, data.Dataset)):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_tensor(v) for v in value):
        return TensorData(value[0], value[1])
    if hasattr(value, "__iter__"):  # any iterable of (inputs, labels) batches
        return value
    raise UserError(f"workload {label!r}: {what} must be a DataLoader, a Dataset or an (x, y) pair of tensors, "
                    f"got {type(value).__name__}")


def _first_input(data: Any) -> Any:
    import torch
    from torch.utils.data import DataLoader, Dataset

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
    elif _is_module(result):
        fields = {"model": result}
    elif isinstance(result, tuple) and len(result) == 2 and _is_tensor(result[1]):
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
    if example is None and _is_module(model):
        example = getattr(model, "example_input", None)
    if example is None and train is not None:
        import torch

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
           "get_workload_spec", "list_workloads", "resolve", "topology_workload", "workload_entries"]
