"""Energy per operation: Horowitz's 45 nm figures, scaled to the target process.

Source: M. Horowitz, "Computing's energy problem (and what we can do about it)",
ISSCC 2014, keynote table (45 nm, 0.9 V):

==================  =========  ===================================
operation           energy     used here as
==================  =========  ===================================
8-bit int add       0.03 pJ    :meth:`EnergyModel.add_j` anchor
32-bit int add      0.1 pJ     :meth:`EnergyModel.add_j` anchor
8-bit int mult      0.2 pJ     :meth:`EnergyModel.mult_j` anchor
32-bit int mult     3.1 pJ     :meth:`EnergyModel.mult_j` anchor
8 KB SRAM, 64 bit   10 pJ      :func:`sram_j_per_bit` anchor
32 KB SRAM, 64 bit  20 pJ      :func:`sram_j_per_bit` anchor
1 MB SRAM, 64 bit   100 pJ     :func:`sram_j_per_bit` anchor
DRAM, 64 bit        1.3-2.6 nJ midpoint 1.95 nJ (30.5 pJ/bit)
==================  =========  ===================================

Between and beyond the anchors we use power laws through the two (or three) points:
an n-bit add costs ``0.03 pJ * (n/8)**0.868`` (0.868 = log(0.1/0.03)/log 4), a w x a-bit
multiply ``0.2 pJ * (w*a/64)**0.988`` (0.988 = log(3.1/0.2)/log 16: energy tracks the
partial-product count w*a), SRAM per bit is interpolated log-log in the array size.

Technology scaling (first order, C*V^2 with capacitance proportional to feature size):
``E(node, V) = E_45 * (node/45) * (V/0.9)**2``. Off-chip DRAM energy is not scaled (it is
dominated by the DRAM array and board I/O, not the FPGA's process).

FPGA overhead: the figures are for standard cells. Kuon & Rose ("Measuring the gap
between FPGAs and ASICs", IEEE TCAD 26(2), 2007) measure FPGA dynamic power at about 14x
an ASIC's for LUT logic, and smaller with hard blocks; we charge ``soft_logic_factor``
(14) on LUT datapaths and ``hard_block_factor`` (7, an assumption: "generally smaller")
on block RAM. Both are fields, so a calibrated user can replace them.

DSP slices (:meth:`EnergyModel.dsp_mac_j`) are priced as what they are on an FPGA: a
fixed-width hard block that toggles as a whole. What the vendor documents:

- Xilinx Power Estimator (UG440, "Using the DSP Sheet"): XPE's DSP power model assumes the
  full 27x18 configuration; narrower use only scales the toggle rate, by 0.86 for 18x18
  and 0.8 for 12x12. So a slice's energy per active cycle hardly falls with operand
  width: :func:`dsp_width_factor` interpolates those points (0.8 floor below 12x12).
- Vivado power analysis (UG907, "DSP"): "DSP output toggle rate does not change much with
  the data input toggle rate. It mainly depends on specific DSP operations
  (Multiply-Only, Multiply-Add, and Multiply-Accumulate)."

Lanes packed into one slice (two 8-bit or four 4-bit products) share that one active
cycle, so a lane's energy is the slice's divided by the lanes. What we could NOT find
in the public sources searched for this model: an absolute per-slice energy (mW per
MHz) from XPE or a published bench measurement. The absolute figure is therefore an
assumption, stated in :data:`DSP_SLICE_SOURCE`: the full-width slice (its 25x18 /
27x18 multiplier and 48-bit ALU) priced with the Horowitz figures above at the device's
node and voltage, times ``hard_block_factor``. At 28 nm / 1.0 V (DSP48E1) that is
8.2 pJ per active cycle (0.82 mW at 100 MHz); at 16 nm / 0.85 V (DSP48E2) 3.6 pJ.
A user with XPE or board measurements sets ``dsp_slice_pj`` directly.
Block RAM keeps the Horowitz SRAM figure x ``hard_block_factor`` per bit, for the same
reason: no vendor per-access energy was found.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache

PJ = 1e-12

#: Horowitz ISSCC 2014, 45 nm / 0.9 V
HOROWITZ_NODE_NM = 45.0
HOROWITZ_VDD_V = 0.9
ADD8_PJ, ADD32_PJ = 0.03, 0.1
MULT8_PJ, MULT32_PJ = 0.2, 3.1
SRAM_64BIT_PJ = ((8 * 1024, 10.0), (32 * 1024, 20.0), (1024 * 1024, 100.0))
DRAM_64BIT_PJ = (1300.0, 2600.0)

#: multiplier port widths of each DSP generation (UG479, UG579) and the ALU width
DSP_PORTS = {"DSP48E1": (25, 18), "DSP48E2": (27, 18)}
DSP_ALU_BITS = 48
#: UG440 (XPE user guide, "Using the DSP Sheet"): toggle-rate scale for narrower use of
#: the 27x18 multiplier, as (multiplier area w x a, factor)
XPE_DSP_WIDTH_POINTS = ((12 * 12, 0.8), (18 * 18, 0.86), (27 * 18, 1.0))
DSP_SLICE_SOURCE = ("assumption: full-width DSP slice (multiplier ports x 48-bit ALU) priced with "
                    "Horowitz ISSCC 2014 at the device node x hard_block_factor 7; width scaling "
                    "from UG440 (XPE DSP sheet: 0.86 at 18x18, 0.8 at 12x12); no vendor per-slice "
                    "energy figure was found")

ADD_EXP = math.log(ADD32_PJ / ADD8_PJ) / math.log(4.0)      # 0.868
MULT_EXP = math.log(MULT32_PJ / MULT8_PJ) / math.log(16.0)  # 0.988 in w*a


def add_j_45nm(bits: float) -> float:
    """Energy of one ``bits``-wide integer add at 45 nm (J)."""
    return ADD8_PJ * PJ * (bits / 8.0) ** ADD_EXP


def mult_j_45nm(w_bits: float, a_bits: float) -> float:
    """Energy of one ``w_bits`` x ``a_bits`` integer multiply at 45 nm (J)."""
    return MULT8_PJ * PJ * (w_bits * a_bits / 64.0) ** MULT_EXP


def dsp_ports(dsp_gen: str) -> tuple[int, int]:
    """Multiplier port widths (A, B) of a DSP generation; unknown ones raise ValueError."""
    try:
        return DSP_PORTS[dsp_gen]
    except KeyError:
        raise ValueError(f"dsp_gen: must be one of {', '.join(DSP_PORTS)}; got {dsp_gen!r}") from None


def dsp_width_factor(area_bits: float) -> float:
    """UG440's toggle-rate scale of a DSP slice used at ``area_bits`` = w x a of its
    multiplier: piecewise-linear through (144, 0.8), (324, 0.86), (486, 1.0), 0.8 below
    12x12 and 1.0 at and above 27x18."""
    pts = XPE_DSP_WIDTH_POINTS
    if area_bits <= pts[0][0]:
        return pts[0][1]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if area_bits <= x1:
            return y0 + (y1 - y0) * (area_bits - x0) / (x1 - x0)
    return pts[-1][1]


@lru_cache(maxsize=256)
def sram_j_per_bit(size_bytes: float) -> float:
    """Energy per bit read or written of an SRAM array of ``size_bytes`` at 45 nm (J),
    log-log interpolated through Horowitz's 8 KB / 32 KB / 1 MB points and extrapolated
    with the nearest segment's slope outside them."""
    pts = [(math.log(s), math.log(e / 64.0)) for s, e in SRAM_64BIT_PJ]
    x = math.log(max(size_bytes, 1.0))
    (x0, y0), (x1, y1) = (pts[0], pts[1]) if x <= pts[1][0] else (pts[1], pts[2])
    y = y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return math.exp(y) * PJ


def dram_j_per_bit() -> float:
    """Off-chip DRAM energy per bit (J): the midpoint of Horowitz's 1.3-2.6 nJ per 64 bits."""
    return sum(DRAM_64BIT_PJ) / 2.0 / 64.0 * PJ


def tech_scale(node_nm: float, vdd_v: float) -> float:
    """First-order C*V^2 scaling factor from Horowitz's 45 nm / 0.9 V to ``node_nm`` / ``vdd_v``."""
    if not node_nm > 0 or not vdd_v > 0:
        raise ValueError(f"tech_scale: node and voltage must be positive, got {node_nm} nm, {vdd_v} V")
    return (node_nm / HOROWITZ_NODE_NM) * (vdd_v / HOROWITZ_VDD_V) ** 2


@dataclass(frozen=True)
class EnergyModel:
    """Per-operation energies on one FPGA (J). Hashable, so unit costs can be memoised.

    ``node_nm``/``vdd_v`` set the technology scaling; ``soft_logic_factor`` and
    ``hard_block_factor`` the FPGA-over-ASIC overhead for LUT logic and for hard blocks
    (block RAM, and the default DSP slice figure); ``dram_pj_per_bit`` the off-chip
    access energy; ``dsp_slice_pj`` a DSP slice's energy per active cycle at full width
    (0: derived per DSP generation, see the module doc).
    """

    node_nm: float = HOROWITZ_NODE_NM
    vdd_v: float = HOROWITZ_VDD_V
    soft_logic_factor: float = 14.0
    hard_block_factor: float = 7.0
    dram_pj_per_bit: float = sum(DRAM_64BIT_PJ) / 2.0 / 64.0
    dsp_slice_pj: float = 0.0

    @classmethod
    def for_device(cls, device, node_nm: float = 0.0) -> "EnergyModel":
        """Energies for ``device`` (its process node and VCCINT); ``node_nm`` > 0 overrides
        the node (the models' ``tech_node_nm`` knob)."""
        return cls(node_nm=float(node_nm) if node_nm > 0 else float(device.process_nm),
                   vdd_v=float(device.vccint_v))

    def with_(self, **changes) -> "EnergyModel":
        return replace(self, **changes)

    @cached_property
    def scale(self) -> float:
        return tech_scale(self.node_nm, self.vdd_v)

    # --- datapath operations (J per op) ------------------------------------------------

    def add_j(self, bits: float, hard: bool = False) -> float:
        """One ``bits``-wide add in LUTs (``hard=False``) or inside a DSP slice."""
        return add_j_45nm(bits) * self.scale * self._factor(hard)

    def mult_j(self, w_bits: float, a_bits: float, hard: bool = False) -> float:
        """One ``w_bits`` x ``a_bits`` multiply in LUTs or in a DSP slice."""
        return mult_j_45nm(w_bits, a_bits) * self.scale * self._factor(hard)

    def dsp_slice_j(self, dsp_gen: str) -> float:
        """Energy of one ``dsp_gen`` slice per active cycle at full width (J):
        ``dsp_slice_pj`` if set, else the derived assumption of the module doc."""
        if self.dsp_slice_pj > 0:
            return self.dsp_slice_pj * PJ
        pa, pb = dsp_ports(dsp_gen)
        return (mult_j_45nm(pa, pb) + add_j_45nm(DSP_ALU_BITS)) * self.scale * self.hard_block_factor

    def dsp_mac_j(self, w_bits: float, a_bits: float, lanes: int, dsp_gen: str) -> float:
        """Energy of one MAC of a lane on a DSP slice that holds ``lanes`` packed lanes
        (J): the slice's energy per active cycle, scaled by UG440's width factor for the
        multiplier area the lanes occupy (``min(ports, lanes x w x a)``, relative to the
        full port area), shared by the lanes. Accumulation in the slice's ALU is included."""
        pa, pb = dsp_ports(dsp_gen)
        area = min(pa * pb, max(int(lanes), 1) * w_bits * a_bits)
        full = dsp_width_factor(pa * pb)  # the slice figure is at full port width
        return self.dsp_slice_j(dsp_gen) * dsp_width_factor(area) / full / max(int(lanes), 1)

    def mux4_stage_j(self, bits: float) -> float:
        """One 4:1 multiplexer stage ``bits`` wide (a barrel-shifter level) in LUTs.

        Horowitz gives no shifter figure; we price a 4:1 mux stage at half an add of the
        same width (a transmission-gate 4:1 mux has about half the switched gates per bit
        of a mirror full adder)."""
        return 0.5 * self.add_j(bits)

    # --- memories (J per bit) ----------------------------------------------------------

    def sram_j_per_bit(self, block_bytes: float) -> float:
        """On-chip RAM access energy per bit for a physical block of ``block_bytes``
        (an FPGA buffer is built of such blocks; a wide access activates several)."""
        return sram_j_per_bit(block_bytes) * self.scale * self.hard_block_factor

    def dram_j_per_bit(self) -> float:
        return self.dram_pj_per_bit * PJ

    def _factor(self, hard: bool) -> float:
        return self.hard_block_factor if hard else self.soft_logic_factor
