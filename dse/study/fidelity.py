"""Fidelities: how a study scores a design point that passed the hardware stage.

A fidelity is a name and a factory: ``factory(resolved) -> scorer``, called once per worker,
and ``scorer(point, abort) -> result`` per trial (``abort(epoch, accuracy) -> reason | None``
may stop a trainer early; ``result`` carries ``accuracy``, ``float_accuracy``, ``time_s``,
``aborted``, ``reason``, ``diverged`` and a ``to_dict()``, like
:class:`~dse.training.FinetuneResult`).

The names live in one table below the config, :data:`dse.config.fidelities.REGISTRY`, read
from the ``dse.fidelities`` entry-point group (pyproject.toml declares the built-ins as a
plug-in declares its own), so a TOML file may name a plug-in's fidelity. A factory registered
by path is imported on first use, so the study never imports a method: ``finetune`` (the core:
a short quantization-aware fine-tune from the cached FP32 weights) is defined here, ``multires``
is the multi-resolution checkpoint screen of ``dse/methods/multires/score.py``. ``none``
(hardware only) is no fidelity: a study with it never trains.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Union

from hwmodels import DesignPoint

from ..config.fidelities import registry
from ..errors import UserError

Scorer = Callable[[DesignPoint, Callable[[int, float], Any]], Any]
FidelityFactory = Callable[[Any], Scorer]


def finetune_fidelity(resolved: Any) -> Scorer:
    """The core fidelity: each point fine-tuned with the study's ``[finetune]`` budget and seed."""
    from ..training import finetune

    cfg = resolved.cfg
    ft = cfg.finetune
    budget = ft.budget()

    def score(point: DesignPoint, abort: Callable[[int, float], Any]) -> Any:
        return finetune(resolved.bundle, point, budget, seed=cfg.seed, abort=abort, device=ft.device,
                        progress=False, pretrain_epochs=ft.pretrain_epochs)

    return score


#: the registry of dse/config/fidelities.py (the same dict; entry points read in)
_REGISTRY: dict[str, Union[FidelityFactory, str]] = registry()


def register_fidelity(name: str, factory: Union[FidelityFactory, str], *, replace: bool = False) -> None:
    """Register ``factory`` (a callable, or a ``"module:attribute"`` path imported on first use)
    as fidelity ``name``. A taken name is an error unless ``replace``."""
    if not isinstance(name, str) or not name or name == "none":
        raise ValueError(f"fidelity name: must be a non-empty string other than 'none', got {name!r}")
    if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
        raise ValueError(f"fidelity {name!r}: factory must be callable or a 'module:attribute' path, got {factory!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"fidelity {name!r} is registered already; pass replace=True to override it")
    _REGISTRY[name] = factory


def unregister_fidelity(name: str) -> None:
    """Remove fidelity ``name`` (a no-op when absent)."""
    _REGISTRY.pop(name, None)


def fidelity_names() -> tuple[str, ...]:
    """Registered fidelities, in registration order (``none`` is not one)."""
    return tuple(_REGISTRY)


def get_fidelity(name: str) -> FidelityFactory:
    """The factory of fidelity ``name``, importing its module when registered by path."""
    factory = _REGISTRY.get(name)
    if factory is None:
        raise UserError(f"study.fidelity: unknown value {name!r}; allowed: {', '.join(fidelity_names() + ('none',))}")
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module), attr)
        _REGISTRY[name] = factory
    return factory


def make_scorer(resolved: Any) -> Scorer | None:
    """The study's scorer for feasible points, or ``None`` when it does not train (hardware
    objectives only, or ``fidelity = "none"``)."""
    cfg = resolved.cfg
    if not cfg.needs_training or cfg.fidelity == "none":
        return None
    return get_fidelity(cfg.fidelity)(resolved)


__all__ = ["FidelityFactory", "Scorer", "fidelity_names", "finetune_fidelity", "get_fidelity", "make_scorer",
           "register_fidelity", "unregister_fidelity"]
