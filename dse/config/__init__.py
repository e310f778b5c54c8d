"""Study configuration: one TOML file, validated up front.

``schema.py`` holds the constraint vocabulary and the one validator; each section is declared
once (type, default, constraint, doc) in its module: ``study.py`` (the study, workload,
constraints, sampler), ``space.py``, ``hardware.py``, ``finetune.py`` (FinetuneBudget and
FinetuneConfig), ``multires.py``; ``load.py`` reads TOML. Field-by-field documentation:
docs/configuration.md.
"""

from .fidelities import allowed_fidelities
from .finetune import OPTIMIZERS, SCHEDULES, TORCH_DEVICES, FinetuneBudget, FinetuneConfig
from .hardware import HardwareConfig
from .load import DEMO, load_config, parse_config
from .multires import DEFAULT_MULTIRES_BUDGETS, MULTIRES_FIRST_LAST, MULTIRES_KIND, MultiresConfig, parse_budget, parse_budgets
from .schema import FieldError
from .screen import ScreenConfig
from .space import FIRST_LAST, SpaceConfig
from .study import CAP_METRICS, CAP_RE, HW_ONLY_OBJECTIVES, MAXIMIZE, OBJECTIVES, SAMPLERS, Cap, StudyConfig

__all__ = ["CAP_METRICS", "CAP_RE", "DEFAULT_MULTIRES_BUDGETS", "DEMO", "FIDELITIES", "FIRST_LAST",
           "HW_ONLY_OBJECTIVES", "MAXIMIZE", "MULTIRES_FIRST_LAST", "MULTIRES_KIND", "OBJECTIVES", "OPTIMIZERS", "SAMPLERS",
           "SCHEDULES", "TORCH_DEVICES", "Cap", "FieldError", "FinetuneBudget", "FinetuneConfig", "HardwareConfig",
           "MultiresConfig", "ScreenConfig", "SpaceConfig", "StudyConfig", "load_config", "parse_budget",
           "parse_budgets", "parse_config"]


def __getattr__(name: str):
    # FIDELITIES: the allowed ``study.fidelity`` values, read from the dse.fidelities entry
    # points on use (a plug-in's fidelity included), so this stays a view, not a second list
    if name == "FIDELITIES":
        return allowed_fidelities()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
