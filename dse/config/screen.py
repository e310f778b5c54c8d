"""``[screen]``: the multi-fidelity screening stage (issue 13, ``dse/study/screen.py``).

A study with a ``[screen]`` section estimates each hardware-feasible candidate's accuracy
cheaply before its full fine-tune and fine-tunes only the candidates its promotion rule
promotes; the others end PRUNED with status ``screened out``. Without the section nothing
changes (no screening, and ``StudyConfig.to_dict()`` stays as it was, so stored studies
resume).
"""

from __future__ import annotations

from dataclasses import dataclass

from .schema import Choice, Int, Num, fail, setting

#: cheap accuracy estimates: ``steps`` = a fine-tune of ``screen.steps`` optimizer steps
#: from the cached FP32 weights; ``sensitivity`` = FP32 accuracy minus the sum of per-layer
#: accuracy drops (each layer quantized alone, no training), each measured once
SCREEN_ESTIMATES = ("steps", "sensitivity")
#: promotion rules: ``front`` = the estimate (plus ``margin``) with the hardware objectives
#: is not dominated by an earlier screened candidate; ``quantile`` = the estimate is at least
#: the ``quantile`` of the estimates screened so far
#: ``gain`` = the hypervolume the candidate is predicted to add (calibrated estimate, hardware
#: objectives) to the front of the designs already fine-tuned is positive and the largest of the
#: last ``window`` screened candidates
PROMOTION_RULES = ("front", "quantile", "gain")


@dataclass(frozen=True)
class ScreenConfig:
    """``[screen]`` fields (see docs/search.md, "Multi-fidelity")."""

    estimate: str = setting("steps", Choice(SCREEN_ESTIMATES), "cheap accuracy estimate: steps (a short "
                            "fine-tune) or sensitivity (per-layer table, no training)")
    steps: int = setting(10, Int(1, 100_000), "optimizer steps of the 'steps' estimate")
    promote: str = setting("front", Choice(PROMOTION_RULES), "promotion rule: front (not dominated by an "
                           "earlier promoted design), quantile (estimate >= the quantile of earlier ones) or gain "
                           "(largest predicted hypervolume gain of the last 'window' candidates)")
    margin: float = setting(0.0, Num(0.0, 1.0), "accuracy slack added to a candidate's estimate by the "
                            "'front' rule")
    quantile: float = setting(0.5, Num(0.0, 1.0), "quantile of earlier estimates the 'quantile' rule requires")
    warmup: int = setting(5, Int(0, 1_000_000), "first screened candidates promoted unconditionally")
    tolerance: float = setting(0.0, Num(0.0, 10.0), "'front' rule: relative slack on the hardware objectives "
                               "within which an earlier, no less accurate design counts as dominating")
    window: int = setting(1, Int(1, 1000), "'gain' rule: a candidate is promoted only when its predicted "
                          "hypervolume gain is the largest of the last 'window' screened candidates")


def check_screen(screen: ScreenConfig | None, fidelity: str, needs_training: bool) -> None:
    """A ``[screen]`` section needs something to screen for: accuracy scored by the full
    fine-tune (``study.fidelity = "finetune"``)."""
    if screen is None:
        return
    if not needs_training:
        raise fail("screen", "screens accuracy estimates, but the study does not score accuracy; add 'accuracy' "
                   "to study.objectives or drop the [screen] section")
    if fidelity != "finetune":
        raise fail("screen", f"screens candidates before the full fine-tune, but study.fidelity = {fidelity!r}; "
                   "use study.fidelity = 'finetune' or drop the [screen] section")
