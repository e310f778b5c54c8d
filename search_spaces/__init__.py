"""How an Optuna trial becomes a DesignPoint (imports optuna, never torch)."""

from .base import Dimension, Fragment, SearchSpace, SpacePiece, build_point
from .hardware import HardwarePiece, suggest_knob
from .quant import (FIRST_LAST_POLICIES, FormatPiece, KindBitsPiece, Sp2FractionPiece, TermBudgetPiece,
                    default_quant_pieces, pinned_layers)

__all__ = [
    "Dimension", "FIRST_LAST_POLICIES", "FormatPiece", "Fragment", "HardwarePiece", "KindBitsPiece", "SearchSpace", "SpacePiece",
    "Sp2FractionPiece", "TermBudgetPiece", "build_point", "default_quant_pieces", "pinned_layers",
    "suggest_knob",
]
