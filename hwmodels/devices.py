"""FPGA device catalog: resource capacities from the vendor data sheets.

Every number below is copied from the product tables of the AMD/Xilinx data sheets
(``docs/hardware-models.md`` lists them with the table each comes from):

- DS190, *Zynq-7000 SoC Data Sheet: Overview*, Table 1 (XC7Z010, XC7Z020, XC7Z045);
- DS891, *Zynq UltraScale+ MPSoC Data Sheet: Overview*, Table 1 (XCZU3EG, XCZU9EG);
- DS890, *UltraScale Architecture and Product Data Sheet: Overview*, Virtex UltraScale+
  table (XCVU9P); DS923 is the same family's DC/AC switching data sheet (VCCINT);
- DS962, *Alveo U250 Data Center Accelerator Card Data Sheet* (XCU250 on the card).

Block RAM is counted in 18 Kb halves (``bram18``): a 36 Kb block is two RAMB18s.

Static power (``static_power_w``, charged by the array models over a layer's latency)
is not in the data sheets: AMD publishes it through its power tools (XPE, Vivado
``report_power``), per part, temperature and process corner. The figures below are
estimates at a ~25-28 C junction, typical process, fitted to Vivado ``report_power``
"Device Static" results published with public designs (:data:`STATIC_POWER_SOURCES`);
at 85 C junction leakage is several times higher. Each device's ``static_source`` says
how its figure was obtained; a user with XPE numbers for their part and temperature
registers the device with ``replace=True`` or sets the models' ``static_power_w`` knob.

Adding a device takes a few lines::

    from hwmodels.devices import Device, register_device
    register_device(Device("XC7A100T", family="Artix-7", lut=63_400, ff=126_800,
                           dsp=240, bram18=270, uram=0, dsp_gen="DSP48E1",
                           process_nm=28, vccint_v=1.0, source="DS180 Table 1"))

It then appears in every model's ``device`` knob.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .base import Resources

DSP_GENERATIONS = ("DSP48E1", "DSP48E2")


@dataclass(frozen=True)
class Device:
    """One FPGA part: capacities in device units (LUT6s, flip-flops, DSP slices, 18 Kb block
    RAMs, 288 Kb UltraRAMs), its DSP slice generation (which decides multiplier width and
    low-precision packing), process node and nominal core voltage (used to scale the 45 nm
    energy figures) and the data sheet the numbers come from."""

    name: str
    family: str
    lut: int
    ff: int
    dsp: int
    bram18: int
    uram: int
    dsp_gen: str
    process_nm: float
    vccint_v: float
    source: str = ""
    #: static (leakage) power of the whole device in watts, and where the figure comes from
    static_power_w: float = 0.0
    static_source: str = ""
    #: upper bound on the accelerator clock (0: not checked): the Fmax of the hard blocks
    #: an array design clocks (DSP slice, block RAM) at the slowest speed grade. A point
    #: whose ``clock_hz`` exceeds it does not fit the device.
    fmax_hz: float = 0.0

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError("name: a device needs a non-empty name")
        for f in ("lut", "ff", "dsp", "bram18", "uram"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{f}: must be a non-negative integer, got {v!r} (device {self.name})")
        if self.dsp_gen not in DSP_GENERATIONS:
            raise ValueError(f"dsp_gen: must be one of {', '.join(DSP_GENERATIONS)}; "
                             f"got {self.dsp_gen!r} (device {self.name})")
        if isinstance(self.static_power_w, bool) or not isinstance(self.static_power_w, (int, float)) \
                or not self.static_power_w >= 0:
            raise ValueError(f"static_power_w: must be a non-negative number of watts, got "
                             f"{self.static_power_w!r} (device {self.name})")
        for f in ("process_nm", "vccint_v"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise ValueError(f"{f}: must be a positive number, got {v!r} (device {self.name})")

    @property
    def capacity(self) -> Resources:
        return Resources(lut=float(self.lut), ff=float(self.ff), dsp=float(self.dsp),
                         bram18=float(self.bram18), uram=float(self.uram))


_LOCK = threading.Lock()
_CATALOG: dict[str, Device] = {}


def register_device(device: Device, *, replace: bool = False) -> Device:
    """Add ``device`` to the catalog. A name already taken (case-insensitively) is an
    error unless ``replace`` is true."""
    if not isinstance(device, Device):
        raise TypeError(f"register_device: expected a Device, got {type(device).__name__}")
    key = device.name.upper()
    with _LOCK:
        if key in _CATALOG and not replace:
            raise ValueError(f"device: {device.name!r} is already registered; "
                             "pass replace=True to override it")
        _CATALOG[key] = device
    return device


def catalog_entry(name: str) -> "Device | None":
    """The catalog's device under ``name`` (upper case) now, or None; no error."""
    return _CATALOG.get(name)


def get_device(name: str) -> Device:
    """The catalog entry for ``name`` (case-insensitive); unknown names raise ``ValueError``
    listing the known ones."""
    dev = _CATALOG.get(str(name).upper())
    if dev is None:
        raise ValueError(f"device: unknown device {name!r}; known: {', '.join(list_devices())}")
    return dev


def list_devices() -> tuple[str, ...]:
    """Registered device names, in registration order (the built-ins first)."""
    with _LOCK:
        return tuple(d.name for d in _CATALOG.values())


# --- the built-in catalog --------------------------------------------------------------
# Clock bound, slowest (-1) speed grade: block RAM is the slowest hard block an array
# design clocks. 7-series RAMB36 ~388 MHz (DS187 switching characteristics), UltraScale+
# RAMB36 ~645 MHz (DS925). Recalled, not re-read in this session: treat as an optimistic
# bound (real arrays close timing lower) and override with register_device(replace=True).
FMAX_7SERIES_HZ = 388e6
FMAX_USPLUS_HZ = 645e6
# 7-series parts: 28 nm (TSMC 28HPL), VCCINT 1.0 V (DS187/DS191 recommended operating
# conditions). UltraScale+ parts: 16 nm (TSMC 16FF+), VCCINT 0.85 V (DS925/DS923).

#: The Vivado report_power results the static figures are fitted to ("Device Static" of
#: routed designs, typical process, 25 C ambient). Device names marked "inferred" were
#: identified from the report's resource totals, not printed in it.
STATIC_POWER_SOURCES = {
    "xc7z045": ("Vivado 2021.1 report_power, xc7z045ffg900-2, routed PS+AXI design, Tj 28.2 C: "
                "Device Static 0.219 W (PS supplies Vccpint/Vccpaux/Vccpll/Vcco_ddr/Vcco_mio "
                "0.048 W, PL 0.171 W)"),
    "xc7a100t": ("Vivado report_power, Artix-7 with 240 DSP / 135 RAMB36 (XC7A100T, inferred), "
                 "routed design, Tj 25.8 C: Device Static 0.103 W (no PS)"),
    "xczu7ev": ("Vivado report_power, ZCU104 (XCZU7EV: 230,400 LUT / 1,728 DSP / 312 BRAM tiles, "
                "inferred), routed design, Tj 28.6 C: Device Static 0.694 W"),
}
#: Zynq-7000: PS static (from the xc7z045 report) + PL static linear in LUTs through the
#: two 7-series points (PL 0.171 W at 218,600 LUTs, 0.103 W at 63,400 LUTs).
ZYNQ7_PS_STATIC_W = 0.048
PL7_STATIC_W_PER_LUT = (0.171 - 0.103) / (218_600 - 63_400)
PL7_STATIC_BASE_W = 0.103 - 63_400 * PL7_STATIC_W_PER_LUT
#: UltraScale+: one point (XCZU7EV 0.694 W at 230,400 LUTs), scaled in proportion to LUTs.
USPLUS_STATIC_W_PER_LUT = 0.694 / 230_400


def zynq7_static_w(luts: int) -> float:
    """Estimated static power of a Zynq-7000 part with ``luts`` LUTs (W)."""
    return round(ZYNQ7_PS_STATIC_W + PL7_STATIC_BASE_W + luts * PL7_STATIC_W_PER_LUT, 3)


def usplus_static_w(luts: int) -> float:
    """Estimated static power of an UltraScale+ part with ``luts`` LUTs (W)."""
    return round(luts * USPLUS_STATIC_W_PER_LUT, 3)


_Z7_STATIC = ("estimate, Tj ~25 C typical: Zynq-7000 PS 0.048 W + PL linear in LUTs through "
              "Vivado report_power points (xc7z045 0.219 W, XC7A100T 0.103 W); see STATIC_POWER_SOURCES")
_US_STATIC = ("estimate, Tj ~25 C typical: in proportion to LUTs from one Vivado report_power point "
              "(XCZU7EV 0.694 W at 230,400 LUTs); see STATIC_POWER_SOURCES")

for _d in (
    Device("XC7Z010", "Zynq-7000", lut=17_600, ff=35_200, dsp=80, bram18=120, uram=0,
           dsp_gen="DSP48E1", process_nm=28, vccint_v=1.0, fmax_hz=FMAX_7SERIES_HZ,
           static_power_w=zynq7_static_w(17_600), static_source=_Z7_STATIC,
           source="DS190 Table 1: 17,600 LUTs, 35,200 FFs, 60 x 36 Kb BRAM (2.1 Mb), 80 DSP"),
    Device("XC7Z020", "Zynq-7000", lut=53_200, ff=106_400, dsp=220, bram18=280, uram=0,
           dsp_gen="DSP48E1", process_nm=28, vccint_v=1.0, fmax_hz=FMAX_7SERIES_HZ,
           static_power_w=zynq7_static_w(53_200), static_source=_Z7_STATIC,
           source="DS190 Table 1: 53,200 LUTs, 106,400 FFs, 140 x 36 Kb BRAM (4.9 Mb), 220 DSP"),
    Device("XC7Z045", "Zynq-7000", lut=218_600, ff=437_200, dsp=900, bram18=1_090, uram=0,
           dsp_gen="DSP48E1", process_nm=28, vccint_v=1.0, fmax_hz=FMAX_7SERIES_HZ,
           static_power_w=0.219,
           static_source=STATIC_POWER_SOURCES["xc7z045"],
           source="DS190 Table 1: 218,600 LUTs, 437,200 FFs, 545 x 36 Kb BRAM (19.2 Mb), 900 DSP"),
    Device("XCZU3EG", "Zynq UltraScale+", lut=70_560, ff=141_120, dsp=360, bram18=432, uram=0,
           dsp_gen="DSP48E2", process_nm=16, vccint_v=0.85, fmax_hz=FMAX_USPLUS_HZ,
           static_power_w=usplus_static_w(70_560), static_source=_US_STATIC,
           source="DS891 Table 1: 70,560 CLB LUTs, 141,120 CLB FFs, 216 x 36 Kb BRAM (7.6 Mb), "
                  "0 URAM, 360 DSP"),
    Device("XCZU9EG", "Zynq UltraScale+", lut=274_080, ff=548_160, dsp=2_520, bram18=1_824, uram=0,
           dsp_gen="DSP48E2", process_nm=16, vccint_v=0.85, fmax_hz=FMAX_USPLUS_HZ,
           static_power_w=usplus_static_w(274_080), static_source=_US_STATIC,
           source="DS891 Table 1: 274,080 CLB LUTs, 548,160 CLB FFs, 912 x 36 Kb BRAM (32.1 Mb), "
                  "0 URAM, 2,520 DSP"),
    Device("XCVU9P", "Virtex UltraScale+", lut=1_182_240, ff=2_364_480, dsp=6_840, bram18=4_320,
           uram=960, dsp_gen="DSP48E2", process_nm=16, vccint_v=0.85, fmax_hz=FMAX_USPLUS_HZ,
           static_power_w=usplus_static_w(1_182_240), static_source=_US_STATIC,
           source="DS890 (Virtex UltraScale+ table): 1,182,240 CLB LUTs, 2,364,480 CLB FFs, "
                  "2,160 x 36 Kb BRAM (75.9 Mb), 960 URAM (270 Mb), 6,840 DSP"),
    Device("U250", "Alveo (XCU250)", lut=1_728_000, ff=3_456_000, dsp=12_288, bram18=5_376,
           uram=1_280, dsp_gen="DSP48E2", process_nm=16, vccint_v=0.85, fmax_hz=FMAX_USPLUS_HZ,
           static_power_w=usplus_static_w(1_728_000), static_source=_US_STATIC,
           source="DS962: 1,728K LUTs, 3,456K registers, 12,288 DSP; XCU250: 2,688 x 36 Kb BRAM "
                  "(94.5 Mb), 1,280 URAM (360 Mb)"),
):
    register_device(_d)
del _d
