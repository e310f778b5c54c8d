"""Hardware-model registry: the ``dse.hwmodels`` entry-point group, nothing else.

Built-in models are declared in this project's ``pyproject.toml`` exactly as a plug-in
declares its own::

    [project.entry-points."dse.hwmodels"]
    mymodel = "my_package.module:MyModel"

The object an entry point names is called with the keyword arguments given to
:func:`get_model` (the built-ins take knob-default overrides) and must return a
:class:`~hwmodels.base.HardwareModel` whose ``name`` is the entry-point name. Two
distributions declaring the same name is an error, never a silent choice.
"""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from .base import HardwareModel

GROUP = "dse.hwmodels"


class RegistryError(ValueError):
    """A broken registration: a name declared twice, or an entry point that does not
    load or does not build a HardwareModel."""


#: every installed distribution's entry points, as last read, keyed by the ``sys.path`` they were
#: read on: one read per process (``dse hw list`` made five, ~13 ms each with 157 distributions
#: installed, and each group another). A plug-in on a path added later is found because the key
#: changes; one installed into a path already read, because :func:`get_model` reads again on an
#: unknown name.
_EVERY: dict[tuple[str, ...], Any] = {}


def entry_points_in(group: str, fresh: bool = False) -> tuple[EntryPoint, ...]:
    """The entry points of ``group`` (any group: ``dse.workloads``, ``dse.fidelities`` too), from
    one read of every distribution's entry points per ``sys.path``; ``fresh``: read again."""
    key = tuple(sys.path)
    every = None if fresh else _EVERY.get(key)
    if every is None:
        every = entry_points()
        _EVERY.clear()
        _EVERY[key] = every
    return tuple(every.select(group=group))


def _entry_points(fresh: bool = False) -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points_in(GROUP, fresh):
        prev = found.get(ep.name)
        if prev is not None and prev.value != ep.value:
            raise RegistryError(
                f"hardware model {ep.name!r} is declared twice in entry-point group {GROUP!r}: "
                f"{prev.value} ({_dist(prev)}) and {ep.value} ({_dist(ep)}); uninstall or rename one")
        found[ep.name] = ep
    return found


def _dist(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"from {dist.name}" if dist is not None else "unknown distribution"


def list_models() -> tuple[str, ...]:
    """Names of every registered hardware model (built-in and plug-in), sorted."""
    return tuple(sorted(_entry_points()))


def get_model(name: str, **kwargs: Any) -> HardwareModel:
    """Build the model registered as ``name``; ``kwargs`` go to its factory.

    Raises ``ValueError`` for an unknown name (listing the known ones) and
    :class:`RegistryError` for a plug-in that fails to load or returns something else."""
    eps = _entry_points()
    ep = eps.get(name)
    if ep is None:  # installed since the last read?
        eps = _entry_points(fresh=True)
        ep = eps.get(name)
    if ep is None:
        raise ValueError(f"hardware model: unknown name {name!r}; known: {', '.join(sorted(eps)) or '(none)'}")
    try:
        factory = ep.load()
    except Exception as e:  # a plug-in's import error: name it, keep the cause
        raise RegistryError(f"hardware model {name!r}: entry point {ep.value} failed to load: {e}") from e
    model = factory(**kwargs)
    if not isinstance(model, HardwareModel):
        raise RegistryError(f"hardware model {name!r}: {ep.value} returned {type(model).__name__}, "
                            "not a hwmodels.HardwareModel")
    if model.name != name:
        raise RegistryError(f"hardware model {name!r}: {ep.value} builds a model named {model.name!r}; "
                            "the entry-point name and HardwareModel.name must agree")
    return model
