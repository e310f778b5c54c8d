"""Study configuration: one TOML file, validated up front (see ``schema.py``)."""

from .schema import (CAP_RE, DEFAULT_MULTIRES_BUDGETS, DEMO, FIDELITIES, FIRST_LAST, HW_ONLY_OBJECTIVES, MAXIMIZE,
                     MULTIRES_FIRST_LAST, OBJECTIVES, OPTIMIZERS, SAMPLERS, Cap, FinetuneConfig, HardwareConfig,
                     MultiresConfig, SpaceConfig, StudyConfig, load_config, parse_budget, parse_budgets, parse_config)

__all__ = ["CAP_RE", "DEFAULT_MULTIRES_BUDGETS", "DEMO", "FIDELITIES", "FIRST_LAST", "HW_ONLY_OBJECTIVES", "MAXIMIZE",
           "MULTIRES_FIRST_LAST", "OBJECTIVES", "OPTIMIZERS", "SAMPLERS", "Cap", "FinetuneConfig", "HardwareConfig",
           "MultiresConfig", "SpaceConfig", "StudyConfig", "load_config", "parse_budget", "parse_budgets",
           "parse_config"]
