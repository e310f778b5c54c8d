"""Fidelity names: the ``dse.fidelities`` entry-point group, the one home of what
``study.fidelity`` may name.

A fidelity is how a study scores a design point that passed the hardware stage
(:mod:`dse.study.fidelity` calls it). The built-ins are declared in this project's
``pyproject.toml`` exactly as a plug-in declares its own::

    [project.entry-points."dse.fidelities"]
    myscreen = "my_package.module:my_factory"

so a TOML file can name a plug-in's fidelity, and the config validates it without importing
the study or the method (the target is imported only when a study uses it). ``none``
(hardware only) is not a fidelity: it is always allowed. Code may also register a factory at
run time (:func:`dse.study.fidelity.register_fidelity`), into the same table.
"""

from __future__ import annotations

from typing import Any, Callable, Union

from ..errors import UserError

GROUP = "dse.fidelities"
#: the value of ``study.fidelity`` that trains nothing (hardware objectives only)
NO_FIDELITY = "none"

#: name -> factory, or its ``"module:attribute"`` path (imported on first use); the entry
#: points (sorted by name) are read into it on first use, run-time registrations follow
REGISTRY: dict[str, Union[Callable[..., Any], str]] = {}
_read = [False]


def registry() -> dict[str, Union[Callable[..., Any], str]]:
    """:data:`REGISTRY`, with the entry-point group read in (once). A name declared twice with
    different targets is a UserError naming both."""
    if not _read[0]:
        from importlib.metadata import entry_points  # on use: the parser build does not need it

        declared: dict[str, str] = {}
        for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
            if ep.name == NO_FIDELITY:  # "none" is never a fidelity (the study would train with it)
                continue
            prev = declared.get(ep.name)
            if prev is not None and prev != ep.value:
                raise UserError(f"fidelity {ep.name!r} is declared twice in entry-point group {GROUP!r}: {prev} "
                                f"and {ep.value}; uninstall or rename one")
            declared[ep.name] = ep.value
        for name, target in declared.items():
            REGISTRY.setdefault(name, target)
        _read[0] = True
    return REGISTRY


def allowed_fidelities() -> tuple[str, ...]:
    """What ``study.fidelity`` may be: the registered fidelities, then ``none``."""
    return tuple(registry()) + (NO_FIDELITY,)


__all__ = ["GROUP", "NO_FIDELITY", "REGISTRY", "allowed_fidelities", "registry"]
