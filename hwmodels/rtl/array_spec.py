"""What array to generate for a design point: :class:`ArraySpec` (rows, columns, dataflow,
PE family, widths, scratchpads), the cycles it takes (:func:`array_cycles`) and the spec
the ``systolic`` model prices for a point (:func:`spec_for_point`).
:mod:`hwmodels.rtl.array` re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..array_folds import fold_cycles
from ..base import DesignPoint, Unsupported, schemes_for
from ..primitives import clog2
from ..workload import Workload
from . import lanes as _lanes

DATAFLOWS = ("os", "ws", "is")
UNITS = ("lut", "dsp", "shift")
#: runtime configuration registers (layer dimensions, fold counts) are this wide
CFG_BITS = 16
TOP = "dse_array_top"


@dataclass(frozen=True)
class ArraySpec:
    """One array to generate.

    ``unit``/``kind``: the PE family (``lut``/``fixed``, ``dsp``/``fixed``,
    ``shift``/``pow2``, ``shift``/``sp2``); ``w_bits`` the weight word of a PE (the exact
    fixed-point width for lut/dsp, the code width for shift PEs), ``a_bits`` the unsigned
    activation width, ``acc_bits`` the accumulator. ``*_bytes``: scratchpad capacities.
    ``family``: ``xc7`` or ``xcup`` (DSP generation)."""

    rows: int
    cols: int
    dataflow: str
    unit: str
    kind: str
    w_bits: int
    a_bits: int
    acc_bits: int
    ifmap_buffer_bytes: int = 64 * 1024
    weight_buffer_bytes: int = 64 * 1024
    ofmap_buffer_bytes: int = 32 * 1024
    family: str = "xc7"

    def __post_init__(self) -> None:
        for f in ("rows", "cols"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 256:
                raise Unsupported(f"{f}: the generator builds arrays of 1..256 {f}; got {v!r}")
        if self.dataflow not in DATAFLOWS:
            raise Unsupported(f"dataflow: must be one of {', '.join(DATAFLOWS)}; got {self.dataflow!r}")
        if (self.unit, self.kind) not in (("lut", "fixed"), ("dsp", "fixed"), ("shift", "pow2"), ("shift", "sp2")):
            raise Unsupported(f"pe_arith={self.unit} with {self.kind} weights: the array generator builds "
                              "lut/dsp PEs for fixed-point weights and shift PEs for pow2/sp2 weights")
        if self.dataflow != "os" and self.unit == "shift":
            raise Unsupported(f"dataflow={self.dataflow}: shift-add PEs are generated for the os dataflow only")
        try:
            _lanes.check_config(self.lane)
        except _lanes.LaneRangeError as e:
            raise Unsupported(str(e)) from None
        if self.pack > 1 and self.dataflow != "os":
            raise Unsupported(f"pe_arith=dsp at {self.w_bits}x{self.a_bits} bits packs {self.pack} MACs per DSP "
                              f"slice; packed DSP lanes are generated for the os dataflow only")
        if self.cols % self.pack:
            raise Unsupported(f"cols={self.cols}: a DSP slice packs {self.pack} MACs at {self.w_bits}x{self.a_bits} "
                              f"bits; the generated array needs cols to be a multiple of {self.pack}")
        for name, width in (("left", self.left_word), ("top", self.top_word), ("out", self.out_word)):
            if self.depth(name) < 2:
                raise Unsupported(f"{name} scratchpad: {self.buffer_bytes(name)} bytes hold fewer than two "
                                  f"{width}-bit words")

    # --- the PE and the edges ----------------------------------------------------------

    @property
    def lane(self) -> _lanes.LaneConfig:
        return _lanes.LaneConfig(self.unit, self.kind, self.w_bits, self.a_bits, self.acc_bits, self.family)

    @property
    def use_dsp(self) -> bool:
        return self.unit == "dsp"

    @property
    def pack(self) -> int:
        """MACs per PE: packed DSP lanes share one activation in one slice (``dsp_packing``);
        1 for every other PE."""
        if self.unit != "dsp":
            return 1
        return _lanes.dsp_packing(_lanes.DSP_GENS[self.family], self.w_bits, self.a_bits)[0]

    @property
    def pcols(self) -> int:
        """Physical PE columns: ``cols / pack`` (each packed PE computes ``pack`` columns)."""
        return self.cols // self.pack

    @property
    def latency(self) -> int:
        """Cycles from an operand reaching a PE's input to its accumulator holding the sum."""
        return 3 if self.unit == "dsp" else 2

    @property
    def left_bits(self) -> int:
        """One left-edge lane: activations (os/ws) or weights (is)."""
        return self.w_bits if self.dataflow == "is" else self.a_bits

    @property
    def top_bits(self) -> int:
        """One top-edge lane: weights (os/ws) or activations (is)."""
        return self.a_bits if self.dataflow == "is" else self.w_bits

    @property
    def left_word(self) -> int:
        return self.rows * self.left_bits

    @property
    def top_word(self) -> int:
        return self.cols * self.top_bits

    @property
    def out_word(self) -> int:
        """os stores requantised outputs (a_bits); ws/is partial sums (acc_bits)."""
        return self.cols * (self.a_bits if self.dataflow == "os" else self.acc_bits)

    def buffer_bytes(self, name: str) -> int:
        if name == "out":
            return self.ofmap_buffer_bytes
        ifmap_side = "top" if self.dataflow == "is" else "left"
        return self.ifmap_buffer_bytes if name == ifmap_side else self.weight_buffer_bytes

    def depth(self, name: str) -> int:
        width = {"left": self.left_word, "top": self.top_word, "out": self.out_word}[name]
        return self.buffer_bytes(name) * 8 // width

    @property
    def sh_bits(self) -> int:
        return max(clog2(self.acc_bits), 1)

    @property
    def name(self) -> str:
        return (f"{self.rows}x{self.cols}_{self.dataflow}_{self.unit}_{self.kind}_w{self.w_bits}"
                f"a{self.a_bits}acc{self.acc_bits}")


def array_cycles(spec: ArraySpec, M: int, K: int, N: int) -> int:
    """Cycles the generated array takes for one GEMM, counted as SCALE-Sim counts them.

    SCALE-Sim's count for every array but a packed DSP one: ``pack`` columns share one PE
    there, so the wavefront crosses ``cols / pack`` PE columns and each fold fills in
    ``R + cols/pack - 2`` cycles instead of ``R + C - 2`` (same folds). Written out here,
    independently of :func:`hwmodels.array_core.fold_cycles` (which counts the same with
    ``pack``), so a test can hold the two against each other."""
    if spec.pack == 1:
        return fold_cycles(spec.dataflow, M, K, N, spec.rows, spec.cols)
    folds = _cdiv(M, spec.rows) * _cdiv(N, spec.cols)
    return folds * (K + spec.rows + spec.pcols - 2) - 1


# --- from a design point -----------------------------------------------------------------

def spec_for_point(model: Any, workload: Workload, point: DesignPoint) -> ArraySpec:
    """The array the ``systolic`` model prices for ``point`` on ``workload``: its knobs
    and the envelope of the layers' formats (widest weight, activation and accumulator,
    as :func:`hwmodels.array_core.pe_envelope` takes them). Raises :class:`Unsupported`
    for a point the generator does not build, ``ValueError`` for a bad knob."""
    from ..arith import accumulator_bits, exact_fixed_bits, product_bits, row_classes
    from ..devices import get_device

    if getattr(model, "name", None) != "systolic":
        raise Unsupported(f"hardware model {getattr(model, 'name', model)!r}: RTL is generated for the "
                          "'systolic' model only")
    kv = model.resolve_knobs(point)
    unit = str(kv["pe_arith"])
    w = a = acc = 0
    kinds = set()
    for layer, s0 in schemes_for(workload, point):
        for _, s in row_classes(s0, layer.n_per_group):
            if s.row_bits is not None and len(set(s.row_bits)) > 1 and unit == "shift":
                raise Unsupported("per-row widths on shift PEs are not generated")
            if unit == "shift":
                if s.kind not in ("pow2", "sp2"):
                    raise Unsupported(f"shift-add PEs multiply only by pow2/sp2 weights; layer {layer.name!r} "
                                      f"has {s.kind!r} weights")
                kinds.add(s.kind)
                w = max(w, s.w_bits)
            else:
                kinds.add("fixed")
                w = max(w, exact_fixed_bits(s.kind, s.w_bits))
            a = max(a, s.a_bits)
            acc = max(acc, accumulator_bits(product_bits(s), layer.K))
    if len(kinds) > 1:
        raise Unsupported(f"shift PEs for both {' and '.join(sorted(kinds))} weights are not generated "
                          "(one array, one PE kind)")
    kind = kinds.pop() if kinds else "fixed"
    acc = max(acc, _lanes.min_acc_bits(unit, kind, w, a))
    family = "xcup" if get_device(kv["device"]).dsp_gen == "DSP48E2" else "xc7"
    return ArraySpec(rows=int(kv["rows"]), cols=int(kv["cols"]), dataflow=str(kv["dataflow"]),
                     unit=unit, kind=kind, w_bits=w, a_bits=a, acc_bits=acc,
                     ifmap_buffer_bytes=int(kv["ifmap_buffer_bytes"]),
                     weight_buffer_bytes=int(kv["weight_buffer_bytes"]),
                     ofmap_buffer_bytes=int(kv["ofmap_buffer_bytes"]), family=family)


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


__all__ = ["CFG_BITS", "DATAFLOWS", "TOP", "UNITS", "ArraySpec", "array_cycles", "spec_for_point"]
