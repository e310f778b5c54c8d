"""Generated RTL and the external tools that check it (edges of ``hwmodels``).

- :mod:`hwmodels.rtl.lanes`: Verilog text of one MAC lane per family the models price
  (pure: text from frozen configs).
- :mod:`hwmodels.rtl.synth`: the Yosys wrapper (``synth_xilinx``, cell counts).
- :mod:`hwmodels.rtl.calibrate`: the calibration grid, table builder and ``--check``.
- :mod:`hwmodels.rtl.array` / :mod:`hwmodels.rtl.sim`: array RTL of a design point and
  its simulation.

Nothing here is imported by ``import hwmodels``; no torch, no optuna.
"""

from .lanes import FAMILIES, LaneConfig, LaneRangeError, generate
from .synth import SynthError, SynthResult, synthesize

__all__ = ["FAMILIES", "LaneConfig", "LaneRangeError", "SynthError", "SynthResult", "generate", "synthesize"]
