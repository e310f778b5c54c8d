"""Verilog for a design point of the ``systolic`` model: an ``R x C`` array with its
scratchpads, sequencer and output path, plus the host-side data layout that feeds it.

Plain synthesizable Verilog-2005 text from a frozen :class:`ArraySpec`. The array follows
the schedule the cycle model counts (:func:`hwmodels.array_core.fold_cycles`, equal to
SCALE-Sim 3.0.0's "Total Cycles"), so a simulation can check the count cycle for cycle:

- every fold streams ``T`` operand vectors into skewed array edges (row ``i`` delayed
  ``i`` cycles, column ``j`` delayed ``j``), then waits ``R + C - 2`` cycles for the
  wavefront to leave the array (``R + C/L - 2`` with packed DSP lanes, below);
  ``ws``/``is`` folds first shift the stationary operand
  down the columns in ``R`` cycles. Folds follow one another with no gap and no
  overlap, as SCALE-Sim's do. os: ``T = K``, ws: ``T = M``, is: ``T = N``.
- ``os``: ifmap rows enter on the left, weight columns on top; each PE is the
  output-stationary lane of :mod:`hwmodels.rtl.lanes` (the very module the lane prices
  are calibrated on). A finished column of accumulators leaves through a one-hot row
  select, is de-skewed, requantised (:mod:`hwmodels.rtl.lanes` ``requant``) and stored.
- ``ws``/``is``: the stationary operand (weights / ifmap) is loaded from the top, the
  other streams in from the left, partial sums flow down the columns, are de-skewed and
  accumulated over the reduction folds in the output scratchpad (read-modify-write);
  the host reads final sums through the requantisers.

Numbers: weights signed, activations unsigned (post-ReLU), as in the lanes. The
scratchpads are simple-dual-port memories sized from the point's buffer knobs (inferred
block RAM); word ``0`` of each input scratchpad holds zeros and is what the edges read
while idle. The host (a DMA engine in a real system, the testbench here) lays the
operand tiles out as :func:`layout` says.

Packed DSP lanes (``L`` MACs per slice sharing one activation) are generated for os: one
PE computes ``L`` adjacent columns, so the wavefront crosses ``C / L`` PE columns and each
fold fills in ``R + C/L - 2`` cycles, fewer than SCALE-Sim's ``R + C - 2`` for ``C``
single-MAC columns; the model counts the packed fill too (``fold_cycles(..., pack=L)``;
:func:`array_cycles` says what the array takes).

Not generated: DRAM traffic and double-buffering (a layer must fit the scratchpads),
packed DSP lanes and shift PEs on ws/is, serial PEs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..base import DesignPoint, Unsupported, schemes_for
from ..workload import LayerSpec, Workload
from . import lanes as _lanes

DATAFLOWS = ("os", "ws", "is")
UNITS = ("lut", "dsp", "shift")
#: runtime configuration registers (layer dimensions, fold counts) are this wide
CFG_BITS = 16
TOP = "dse_array_top"


def _clog2(n: int) -> int:
    return max(int(n) - 1, 0).bit_length()


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
        return max(_clog2(self.acc_bits), 1)

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
    from ..array_core import fold_cycles

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


# --- Verilog -------------------------------------------------------------------------------

def generate(spec: ArraySpec, sim: bool = False) -> str:
    """Verilog text of the array (top module ``dse_array_top``) and everything it
    instantiates. ``sim`` adds an ``active`` port (any PE loading or receiving an
    operand) and a ``mon_*`` port (final accumulators before requantisation) that the
    testbench observes; the synthesized design is the same text with ``sim=False``."""
    parts = [f"// {TOP}: {spec.rows}x{spec.cols} {spec.dataflow} systolic array, {spec.unit}/{spec.kind} PEs\n"
             f"// generated by hwmodels.rtl.array from {spec!r}\n`default_nettype wire\n"]
    parts.append(_lanes.generate(spec.lane))
    parts.append(_lanes.generate(_lanes.LaneConfig("requant", "fixed", 8, spec.a_bits, spec.acc_bits, spec.family)))
    if spec.dataflow != "os":
        parts.append(_pe_stationary(spec))
    parts.append(_ram())
    parts.append(_top(spec, sim))
    return "\n".join(parts)


def _requant_top(spec: ArraySpec) -> str:
    return _lanes.LaneConfig("requant", "fixed", 8, spec.a_bits, spec.acc_bits, spec.family).top


def _ram() -> str:
    return """\
// simple dual-port scratchpad: one write port, one registered read port (block RAM)
module dse_sdp_ram #(parameter W = 8, parameter D = 16, parameter AW = 4) (
  input clk,
  input we, input [AW-1:0] waddr, input [W-1:0] wdata,
  input [AW-1:0] raddr, output reg [W-1:0] rdata);
  reg [W-1:0] mem [0:D-1];
  always @(posedge clk) begin
    if (we) mem[waddr] <= wdata;
    rdata <= mem[raddr];
  end
endmodule
"""


def _pe_stationary(spec: ArraySpec) -> str:
    W, A, ACC = spec.w_bits, spec.a_bits, spec.acc_bits
    # ws: stationary weight (signed), streamed activation (unsigned); is: the reverse
    if spec.dataflow == "ws":
        st_decl, l_decl = f"signed [{W - 1}:0]", f"[{A - 1}:0]"
        prod = "st * $signed({1'b0, l_in})"
    else:
        st_decl, l_decl = f"[{A - 1}:0]", f"signed [{W - 1}:0]"
        prod = "l_in * $signed({1'b0, st})"
    return f"""\
// stationary PE ({spec.dataflow}): load the stationary operand from above, pass the
// streamed one to the right, add the product to the partial sum from above
module dse_pe_st (
  input clk, input ld,
  input {st_decl} t_in, output reg {st_decl} st,
  input {l_decl} l_in, output reg {l_decl} l_q,
  input signed [{ACC - 1}:0] p_in, output reg signed [{ACC - 1}:0] p_q);
  wire signed [{W + A}:0] p = {prod};
  always @(posedge clk) begin
    if (ld) st <= t_in;
    l_q <= l_in;
    p_q <= p_in + p;
  end
endmodule
"""


def _lane_w_width(spec: ArraySpec) -> int:
    """Width of the lane module's weight port (a packed word for packed DSP lanes), read
    from the lane's own Verilog so the two generators cannot disagree."""
    m = re.search(r"input\s+(?:signed\s+)?\[(\d+):0\]\s+w_in", _lanes.generate(spec.lane))
    if not m:
        raise ValueError(f"lane {spec.lane.top}: no w_in port found")
    return int(m.group(1)) + 1


def _delay(name: str, src: str, width: int, n: int) -> list[str]:
    """``wire name`` = ``src`` delayed ``n`` cycles through individual registers with a
    synchronous reset (which keeps them flip-flops: no SRL extraction, counted as the
    model counts skew registers)."""
    if n == 0:
        return [f"  wire [{width - 1}:0] {name} = {src};"]
    regs = [f"{name}_d{k}" for k in range(n)]
    out = [f"  reg [{width - 1}:0] {', '.join(regs)};"]
    body = " ".join(f"{r} <= rst ? {width}'d0 : {prev};" for r, prev in zip(regs, [src] + regs[:-1]))
    out.append(f"  always @(posedge clk) begin {body} end")
    out.append(f"  wire [{width - 1}:0] {name} = {regs[-1]};")
    return out


def _top(spec: ArraySpec, sim: bool) -> str:
    R, C, df = spec.rows, spec.cols, spec.dataflow
    LB, TB, ACC, A = spec.left_bits, spec.top_bits, spec.acc_bits, spec.a_bits
    LW, TW, OW = spec.left_word, spec.top_word, spec.out_word
    LD, TD, OD = spec.depth("left"), spec.depth("top"), spec.depth("out")
    LA, TA, OA = max(_clog2(LD), 1), max(_clog2(TD), 1), max(_clog2(OD), 1)
    B = CFG_BITS
    SH = spec.sh_bits
    LAT = spec.latency
    os_ = df == "os"
    P, PK = spec.pcols, spec.pack   # physical columns, MACs per PE (packed DSP lanes)
    fill = R + P - 2
    DL = R + P + LAT + 1          # diagonal control lines: tap d = operands at PEs with i + j = d
    L: list[str] = []
    a = L.append
    sim_ports = (f",\n  output active, output mon_v, output [{C * ACC - 1}:0] mon_d" if sim else "")
    a(f"""\
module {TOP} (
  input clk, input rst,
  input host_lw_en, input [{LA - 1}:0] host_lw_addr, input [{LW - 1}:0] host_lw_data,
  input host_tw_en, input [{TA - 1}:0] host_tw_addr, input [{TW - 1}:0] host_tw_data,
  input [{OA - 1}:0] host_or_addr, output [{C * A - 1}:0] host_or_data,
  input [{B - 1}:0] cfg_t_last, input [{B - 1}:0] cfg_outer_last, input [{B - 1}:0] cfg_inner_last,
  input [{SH - 1}:0] cfg_sh,
  input start, output reg busy, output reg done{sim_ports});
""")
    # --- sequencer ----------------------------------------------------------------------
    # cfg_*_last are last indices (T-1, folds-1) so the loops compare without subtracting.
    # Addresses are running pointers: os streams both edges linearly (the left pointer
    # rewinds to the fold row's base for every column fold, the top one to 1 for every
    # row fold); ws/is read the stationary rows linearly and rewind the streamed pointer
    # to 1 for every outer fold.
    a(f"""\
  // sequencer: folds (outer x inner); each fold = [load {R}] + stream T + wait {fill}
  localparam S_IDLE = 3'd0, S_LOAD = 3'd1, S_STREAM = 3'd2, S_WAIT = 3'd3, S_DRAIN = 3'd4;
  reg [2:0] st;
  reg [{B - 1}:0] cnt, fo, fi;
  reg [{LA - 1}:0] l_ptr, l_addr{", l_base" if os_ else ""};
  reg [{TA - 1}:0] t_ptr, t_addr;
  reg l_re, t_re, first, last;
  wire fold_end = (fi == cfg_inner_last);
  wire all_end = fold_end && (fo == cfg_outer_last);
  wire out_done;
  always @(posedge clk) begin
    if (rst) begin
      st <= S_IDLE; busy <= 0; done <= 0; cnt <= 0; fo <= 0; fi <= 0;
      l_ptr <= 1; t_ptr <= 1; l_addr <= 0; t_addr <= 0; l_re <= 0; t_re <= 0; first <= 0; last <= 0;{" l_base <= 1;" if os_ else ""}
    end else begin
      l_re <= 0; t_re <= 0; first <= 0; last <= 0; l_addr <= 0; t_addr <= 0;
      case (st)
        S_IDLE: if (start) begin
          busy <= 1; done <= 0; cnt <= 0; fo <= 0; fi <= 0; l_ptr <= 1; t_ptr <= 1;{" l_base <= 1;" if os_ else ""}
          st <= {"S_STREAM" if os_ else "S_LOAD"};
        end""")
    if not os_:
        a(f"""\
        S_LOAD: begin  // stationary rows, bottom row first
          t_re <= 1; t_addr <= t_ptr; t_ptr <= t_ptr + 1;
          if (cnt == {R - 1}) begin cnt <= 0; st <= S_STREAM; end else cnt <= cnt + 1;
        end""")
    if os_:
        # (without a wait state the fold ends in its last stream cycle, before l_ptr advances)
        nxt = f"""\
          if (fold_end) begin fi <= 0; fo <= fo + 1; l_base <= l_ptr{"" if fill else " + 1"}; t_ptr <= 1; end
          else begin fi <= fi + 1; l_ptr <= l_base; end"""
    else:
        nxt = """\
          if (fold_end) begin fi <= 0; fo <= fo + 1; l_ptr <= 1; end
          else fi <= fi + 1;"""
    nxt += f"\n          st <= all_end ? S_DRAIN : {'S_STREAM' if os_ else 'S_LOAD'};"
    stream_t = "t_re <= 1; t_addr <= t_ptr; t_ptr <= t_ptr + 1; " if os_ else ""
    end_stream = "st <= S_WAIT;" if fill else "\n" + nxt
    a(f"""\
        S_STREAM: begin
          l_re <= 1; l_addr <= l_ptr; l_ptr <= l_ptr + 1; {stream_t}first <= (cnt == 0); last <= (cnt == cfg_t_last);
          if (cnt == cfg_t_last) begin cnt <= 0; {end_stream} end else cnt <= cnt + 1;
        end""")
    a(f"""\
        S_WAIT: if (cnt == {max(fill - 1, 0)}) begin
          cnt <= 0;
{nxt}
        end else cnt <= cnt + 1;
        S_DRAIN: if (out_done) begin st <= S_IDLE; busy <= 0; done <= 1; end
        default: st <= S_IDLE;
      endcase
    end
  end
""")
    # --- scratchpads --------------------------------------------------------------------
    a(f"""\
  // scratchpads (word 0 of each input scratchpad holds zeros: the edges read it while idle)
  wire [{LW - 1}:0] l_word;
  wire [{TW - 1}:0] t_word;
  dse_sdp_ram #(.W({LW}), .D({LD}), .AW({LA})) u_left (.clk(clk), .we(host_lw_en), .waddr(host_lw_addr),
    .wdata(host_lw_data), .raddr(l_addr), .rdata(l_word));
  dse_sdp_ram #(.W({TW}), .D({TD}), .AW({TA})) u_top (.clk(clk), .we(host_tw_en), .waddr(host_tw_addr),
    .wdata(host_tw_data), .raddr(t_addr), .rdata(t_word));
  // control aligned with the scratchpad read latency
  reg v0, first0, last0, ld0;
  always @(posedge clk) begin
    v0 <= l_re; first0 <= first; last0 <= last; ld0 <= {"1'b0" if os_ else "t_re"};
  end
  // diagonal control lines: vd[d] / fd[d] / lsd[d] = valid / first / last of the operands at the
  // inputs of the PEs with i + j = d (all lanes of a vector travel together)
  reg [{DL - 1}:0] vd, fd, lsd;
  always @(posedge clk) begin
    if (rst) begin vd <= 0; fd <= 0; lsd <= 0; end
    else begin vd <= {{vd[{DL - 2}:0], v0}}; fd <= {{fd[{DL - 2}:0], first0}}; lsd <= {{lsd[{DL - 2}:0], last0}}; end
  end
  wire [{DL}:0] vdx = {{vd, v0}}, fdx = {{fd, first0}}, lsx = {{lsd, last0}};
""")
    # --- left skew --------------------------------------------------------------------
    a("  // left edge: row i delayed i cycles (triangular skew registers)")
    for i in range(R):
        L.extend(_delay(f"le_{i}", f"l_word[{(i + 1) * LB - 1}:{i * LB}]", LB, i))
    if os_ and PK == 1:
        a("  // top edge: column j delayed j cycles")
        for j in range(C):
            L.extend(_delay(f"te_{j}", f"t_word[{(j + 1) * TB - 1}:{j * TB}]", TB, j))
    elif os_:
        _, S = _lanes.dsp_packing(_lanes.DSP_GENS[spec.family], spec.w_bits, spec.a_bits)
        PW = _lane_w_width(spec)
        a(f"  // top edge: the {PK} weights of a PE packed {S} bits apart (sum w_l * 2^({S} l)), PE column p delayed p")
        for p in range(P):
            terms = " + ".join(
                f"($signed(t_word[{(p * PK + l + 1) * TB - 1}:{(p * PK + l) * TB}]) <<< {S * l})" if l else
                f"$signed(t_word[{(p * PK + 1) * TB - 1}:{p * PK * TB}])" for l in range(PK))
            a(f"  wire signed [{PW - 1}:0] tpk_{p} = {terms};")
            L.extend(_delay(f"te_{p}", f"tpk_{p}", PW, p))
    else:
        a("  // top edge: stationary rows shift down the columns while ld0 (no skew)")
        for j in range(C):
            a(f"  wire [{TB - 1}:0] te_{j} = t_word[{(j + 1) * TB - 1}:{j * TB}];")
    # --- PEs --------------------------------------------------------------------------
    sgn = lambda bits, signed: f"{'signed ' if signed else ''}[{bits - 1}:0]"  # noqa: E731
    if os_:
        lane_top = spec.lane.top
        a(f"  // PEs: {lane_top} (operands pass right / down through the lane's registers)"
          + (f"; each computes {PK} columns" if PK > 1 else ""))
        w_signed = spec.unit != "shift"
        WB = _lane_w_width(spec)
        accs = [""] if PK == 1 else [str(l) for l in range(PK)]
        for i in range(R):
            for p in range(P):
                a(f"  wire {sgn(WB, w_signed)} w_{i}_{p}; wire [{LB - 1}:0] a_{i}_{p}; "
                  + " ".join(f"wire signed [{ACC - 1}:0] acc{x}_{i}_{p};" for x in accs))
        for i in range(R):
            for p in range(P):
                w_in = f"te_{p}" if i == 0 else f"w_{i - 1}_{p}"
                a_in = f"le_{i}" if p == 0 else f"a_{i}_{p - 1}"
                outs = ", ".join(f".acc{x}(acc{x}_{i}_{p})" for x in accs)
                a(f"  {lane_top} pe_{i}_{p} (.clk(clk), .clr(fdx[{i + p + 1}]), .w_in({w_in}), .a_in({a_in}), "
                  f".w_q(w_{i}_{p}), .a_q(a_{i}_{p}), {outs});")
        # a lane's clr is sampled with its registered operands, one cycle after they reach it;
        # its accumulator holds the sum LAT cycles after the last operand reached it
        a(f"  // drain: column j (of PE column p) takes row i's sum when lsx[i + p + {LAT}] (one row per cycle)")
        for j in range(C):
            p, x = divmod(j, PK)
            x = accs[x]
            terms = " | ".join(f"({{{ACC}{{lsx[{i + p + LAT}]}}}} & acc{x}_{i}_{p})" for i in range(R))
            a(f"  reg [{ACC - 1}:0] col_{j};")
            a(f"  always @(posedge clk) col_{j} <= {terms};")
        out_v = "|{" + ", ".join(f"lsx[{i + P + LAT}]" for i in range(R)) + "}"
    else:
        a("  // PEs: stationary operand loaded from above, streamed operand passes right, sums flow down")
        w_signed_st = df == "ws"
        for i in range(R):
            for j in range(C):
                a(f"  wire {sgn(TB, w_signed_st)} s_{i}_{j}; wire {sgn(LB, not w_signed_st)} l_{i}_{j}; "
                  f"wire signed [{ACC - 1}:0] p_{i}_{j};")
        for i in range(R):
            for j in range(C):
                t_in = f"te_{j}" if i == 0 else f"s_{i - 1}_{j}"
                l_in = f"le_{i}" if j == 0 else f"l_{i}_{j - 1}"
                p_in = f"{ACC}'sd0" if i == 0 else f"p_{i - 1}_{j}"
                a(f"  dse_pe_st pe_{i}_{j} (.clk(clk), .ld(ld0), .t_in({t_in}), .st(s_{i}_{j}), .l_in({l_in}), "
                  f".l_q(l_{i}_{j}), .p_in({p_in}), .p_q(p_{i}_{j}));")
        a(f"  // column j's sum for one streamed vector leaves row {R - 1} when vdx[{R} + j]; de-skew")
        for j in range(C):
            a(f"  wire [{ACC - 1}:0] col_{j} = p_{R - 1}_{j};")
        out_v = f"vdx[{R + C - 1}]"
    # --- de-skew ------------------------------------------------------------------------
    a("  // output de-skew: column j (of PE column p) delayed P-1-p cycles")
    for j in range(C):
        L.extend(_delay(f"oc_{j}", f"col_{j}", ACC, P - 1 - j // PK))
    word = "{" + ", ".join(f"oc_{j}" for j in reversed(range(C))) + "}"
    a(f"  wire [{C * ACC - 1}:0] o_word = {word};")
    a(f"  wire o_v = {out_v};")
    # --- output path ----------------------------------------------------------------------
    if os_:
        a(f"""\
  // requantise and store: fold f writes rows 0..R-1 at words f*R .. f*R+R-1
  reg o_v1; reg [{OA - 1}:0] o_addr, o_addr1;
  wire [{C * A - 1}:0] rq;
  always @(posedge clk) begin
    if (rst || (start && !busy)) begin o_addr <= 0; o_v1 <= 0; end
    else begin
      o_v1 <= o_v; o_addr1 <= o_addr;
      if (o_v) o_addr <= o_addr + 1;
    end
  end
  // done once the last fold's results have left the control lines and been written
  assign out_done = !(|lsx) && !last && !l_re && !o_v1;
""")
        for j in range(C):
            a(f"  {_requant_top(spec)} rq_{j} (.clk(clk), .sh(cfg_sh), .acc_in(o_word[{(j + 1) * ACC - 1}:{j * ACC}]), "
              f".y(rq[{(j + 1) * A - 1}:{j * A}]));")
        a(f"""\
  dse_sdp_ram #(.W({OW}), .D({OD}), .AW({OA})) u_out (.clk(clk), .we(o_v1), .waddr(o_addr1), .wdata(rq),
    .raddr(host_or_addr), .rdata(host_or_data));
""")
        if sim:
            a("  assign mon_v = o_v; assign mon_d = o_word;")
    else:
        lanes_sum = ", ".join(f"o_rd[{(j + 1) * ACC - 1}:{j * ACC}] + o_w1[{(j + 1) * ACC - 1}:{j * ACC}]"
                              for j in reversed(range(C)))
        a(f"""\
  // accumulate over the reduction folds: word (outer fold, vector t) += partial sums
  reg [{B - 1}:0] o_t, o_fi;
  reg [{OA - 1}:0] o_ptr, o_base;
  reg o_v1, o_acc1, o_last1;
  reg [{OA - 1}:0] o_addr1;
  reg [{C * ACC - 1}:0] o_w1;
  wire [{C * ACC - 1}:0] o_rd;
  wire [{OA - 1}:0] o_raddr = busy ? o_ptr : host_or_addr;
  always @(posedge clk) begin
    if (rst || (start && !busy)) begin o_t <= 0; o_fi <= 0; o_ptr <= 0; o_base <= 0; o_v1 <= 0; end
    else begin
      o_v1 <= o_v; o_addr1 <= o_ptr; o_w1 <= o_word; o_acc1 <= (o_fi != 0);
      o_last1 <= (o_fi == cfg_inner_last);
      if (o_v) begin
        if (o_t == cfg_t_last) begin
          o_t <= 0;
          if (o_fi == cfg_inner_last) begin o_fi <= 0; o_ptr <= o_ptr + 1; o_base <= o_ptr + 1; end
          else begin o_fi <= o_fi + 1; o_ptr <= o_base; end
        end else begin o_t <= o_t + 1; o_ptr <= o_ptr + 1; end
      end
    end
  end
  // done once the last fold's results have left the control lines and been written
  assign out_done = !(|vdx) && !l_re && !o_v1;
  wire [{C * ACC - 1}:0] o_sum = o_acc1 ? {{{lanes_sum}}} : o_w1;
  dse_sdp_ram #(.W({OW}), .D({OD}), .AW({OA})) u_out (.clk(clk), .we(o_v1), .waddr(o_addr1), .wdata(o_sum),
    .raddr(o_raddr), .rdata(o_rd));
""")
        for j in range(C):
            a(f"  {_requant_top(spec)} rq_{j} (.clk(clk), .sh(cfg_sh), .acc_in(o_rd[{(j + 1) * ACC - 1}:{j * ACC}]), "
              f".y(host_or_data[{(j + 1) * A - 1}:{j * A}]));")
        if sim:
            a("  assign mon_v = o_v1 && o_last1; assign mon_d = o_sum;")
    if sim:
        ld_any = " | ld0" if not os_ else ""
        a(f"  assign active = (|vdx[{R + P - 2}:0]){ld_any};")
    a("endmodule\n")
    return "\n".join(L)


# --- host side: tiles, operands, reference -------------------------------------------------

@dataclass(frozen=True)
class GemmRun:
    """One GEMM laid out for the array: scratchpad images (lists of Python ints, one per
    word, word 0 = zeros), the runtime registers, and the expected results.

    ``expect_acc``: final accumulator words in the order the array produces them
    (os: fold by fold, row by row; ws/is: outer fold by outer fold, vector by vector),
    each a list of ``cols`` signed ints. ``expect_out``: the requantised output
    scratchpad words, as read back by the host."""

    left: tuple[int, ...]
    top: tuple[int, ...]
    t: int
    outer: int
    inner: int
    sh: int
    out_words: int
    expect_acc: tuple[tuple[int, ...], ...]
    expect_out: tuple[tuple[int, ...], ...]


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _pack(values: np.ndarray, bits: int) -> int:
    """Lanes (lane 0 in the low bits) as one word, each two's complement in ``bits``."""
    word = 0
    mask = (1 << bits) - 1
    for k, v in enumerate(values.tolist()):
        word |= (int(v) & mask) << (k * bits)
    return word


def requant(acc: np.ndarray, sh: int, a_bits: int) -> np.ndarray:
    """The requantiser of :mod:`hwmodels.rtl.lanes`: round half up of ``acc / 2**sh``,
    ReLU, clamp to ``a_bits`` unsigned."""
    acc = acc.astype(np.int64)
    r = acc >> sh
    if sh:
        r = r + ((acc >> (sh - 1)) & 1)
    return np.clip(r, 0, 2 ** a_bits - 1)


def weight_values(spec: ArraySpec, codes: np.ndarray) -> np.ndarray:
    """Integer value of each weight word: the word itself for fixed-point PEs; for shift
    PEs ``+-2**(P - code)`` (pow2) or the sum of two such terms (sp2), code 0 = 0, on the
    integer grid the lane computes on."""
    codes = codes.astype(np.int64)
    if spec.kind == "fixed":
        return codes
    W = spec.w_bits
    sign = np.where((codes >> (W - 1)) & 1, -1, 1)
    if spec.kind == "pow2":
        P = 2 ** (W - 1) - 1
        c = codes & ((1 << (W - 1)) - 1)
        mag = np.where(c == 0, 0, np.left_shift(1, np.maximum(P - c, 0)))
        return sign * mag
    m1 = math.ceil((W - 1) / 2)
    m2 = W - 1 - m1
    F = 2 ** m1 - 1
    c1 = codes & ((1 << m1) - 1)
    c2 = (codes >> m1) & ((1 << m2) - 1) if m2 else np.zeros_like(codes)
    t1 = np.where(c1 == 0, 0, np.left_shift(1, np.maximum(F - c1, 0)))
    t2 = np.where(c2 == 0, 0, np.left_shift(1, np.maximum(F - c2, 0)))
    return sign * (t1 + t2)


def random_operands(spec: ArraySpec, M: int, K: int, N: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random ``A`` (M x K, unsigned activations) and weight words ``B`` (K x N,
    signed fixed point or shift codes) over the full range of the formats."""
    A = rng.integers(0, 2 ** spec.a_bits, size=(M, K), dtype=np.int64)
    if spec.kind == "fixed":
        B = rng.integers(-(2 ** (spec.w_bits - 1)), 2 ** (spec.w_bits - 1), size=(K, N), dtype=np.int64)
    else:
        B = rng.integers(0, 2 ** spec.w_bits, size=(K, N), dtype=np.int64)
    return A, B


def default_shift(spec: ArraySpec, K: int) -> int:
    """A requantisation shift that keeps typical sums of a K-long dot product in range."""
    return max(min(spec.acc_bits - spec.a_bits - 1, spec.acc_bits - 1, 2 ** spec.sh_bits - 1), 0)


def layout(spec: ArraySpec, A: np.ndarray, B: np.ndarray, sh: int | None = None) -> GemmRun:
    """Tile ``A @ B`` (weights ``B`` as weight words) onto the array the way the model
    folds it, and compute what the array must produce (integer GEMM in numpy)."""
    R, C, df = spec.rows, spec.cols, spec.dataflow
    M, K = A.shape
    N = B.shape[1]
    Bv = weight_values(spec, B)
    O = A.astype(np.int64) @ Bv.astype(np.int64)
    sh = default_shift(spec, K) if sh is None else sh
    LBt, TBt = spec.left_bits, spec.top_bits

    def pad(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
        out = np.zeros((rows, cols), dtype=np.int64)
        out[:x.shape[0], :x.shape[1]] = x
        return out

    left, top = [0], [0]
    acc_words: list[tuple[int, ...]] = []
    if df == "os":
        MF, NF = _cdiv(M, R), _cdiv(N, C)
        Ap, Bp, Op = pad(A, MF * R, K), pad(B, K, NF * C), pad(O, MF * R, NF * C)
        for mf in range(MF):                      # left word 1 + mf*K + k: A[mf*R + i, k]
            for k in range(K):
                left.append(_pack(Ap[mf * R:(mf + 1) * R, k], LBt))
        for nf in range(NF):                      # top word 1 + nf*K + k: B[k, nf*C + j]
            for k in range(K):
                top.append(_pack(Bp[k, nf * C:(nf + 1) * C], TBt))
        out_rows = []
        for mf in range(MF):                      # output word f*R + i, f = mf*NF + nf
            for nf in range(NF):
                for i in range(R):
                    row = Op[mf * R + i, nf * C:(nf + 1) * C]
                    acc_words.append(tuple(int(v) for v in row))
                    out_rows.append(row)
        t, outer, inner = K, MF, NF
        outs = requant(np.array(out_rows), sh, spec.a_bits)
    elif df == "ws":
        KF, NF = _cdiv(K, R), _cdiv(N, C)
        Ap, Bp, Op = pad(A, M, KF * R), pad(B, KF * R, NF * C), pad(O, M, NF * C)
        for nf in range(NF):                      # top word 1 + (nf*KF + kf)*R + R-1-r: B[kf*R + r, nf*C + j]
            for kf in range(KF):
                for r in reversed(range(R)):
                    top.append(_pack(Bp[kf * R + r, nf * C:(nf + 1) * C], TBt))
        for kf in range(KF):                      # left word 1 + kf*M + m: A[m, kf*R + i]
            for m in range(M):
                left.append(_pack(Ap[m, kf * R:(kf + 1) * R], LBt))
        out_rows = [Op[m, nf * C:(nf + 1) * C] for nf in range(NF) for m in range(M)]   # word nf*M + m
        acc_words = [tuple(int(v) for v in r) for r in out_rows]
        t, outer, inner = M, NF, KF
        outs = requant(np.array(out_rows), sh, spec.a_bits)
    else:  # is
        KF, MF = _cdiv(K, R), _cdiv(M, C)
        Ap, Bp, Op = pad(A, MF * C, KF * R), pad(B, KF * R, N), pad(O, MF * C, N)
        for mf in range(MF):                      # top word 1 + (mf*KF + kf)*R + R-1-r: A[mf*C + j, kf*R + r]
            for kf in range(KF):
                for r in reversed(range(R)):
                    top.append(_pack(Ap[mf * C:(mf + 1) * C, kf * R + r], TBt))
        for kf in range(KF):                      # left word 1 + kf*N + n: B[kf*R + i, n]
            for n in range(N):
                left.append(_pack(Bp[kf * R:(kf + 1) * R, n], LBt))
        out_rows = [Op[mf * C:(mf + 1) * C, n] for mf in range(MF) for n in range(N)]   # word mf*N + n
        acc_words = [tuple(int(v) for v in r) for r in out_rows]
        t, outer, inner = N, MF, KF
        outs = requant(np.array(out_rows), sh, spec.a_bits)
    return GemmRun(left=tuple(left), top=tuple(top), t=t, outer=outer, inner=inner, sh=sh,
                   out_words=len(out_rows), expect_acc=tuple(acc_words),
                   expect_out=tuple(tuple(int(v) for v in r) for r in outs))


def fits(spec: ArraySpec, run: GemmRun) -> str | None:
    """Why ``run`` does not fit the scratchpads or the runtime registers (None if it does)."""
    for name, words in (("left", len(run.left)), ("top", len(run.top)), ("out", run.out_words)):
        if words > spec.depth(name):
            return (f"the {name} scratchpad holds {spec.depth(name)} words of {spec.buffer_bytes(name)} bytes, "
                    f"the layer needs {words} (raise the buffer knob; DRAM tiling is not generated)")
    for name, v in (("T", run.t), ("folds", run.outer), ("folds", run.inner)):
        if v >= 2 ** CFG_BITS:
            return f"{name}={v} exceeds the {CFG_BITS}-bit configuration registers"
    return None


def im2col(layer: LayerSpec, x: np.ndarray, group: int) -> np.ndarray:
    """The ``M x K`` operand of group ``group`` of a conv layer from an input tensor
    ``x`` (channels x H x W, zero-padded on the bottom/right as SCALE-Sim's ceil output
    size needs): rows are output pixels (row-major), columns (channel, fh, fw)."""
    cpg = layer.channels // layer.groups
    xs = x[group * cpg:(group + 1) * cpg]
    s, fh, fw = layer.stride, layer.filt_h, layer.filt_w
    need_h = (layer.out_h - 1) * s + fh
    need_w = (layer.out_w - 1) * s + fw
    xp = np.zeros((cpg, max(need_h, xs.shape[1]), max(need_w, xs.shape[2])), dtype=np.int64)
    xp[:, :xs.shape[1], :xs.shape[2]] = xs
    cols = np.empty((layer.out_h * layer.out_w, cpg * fh * fw), dtype=np.int64)
    r = 0
    for oy in range(layer.out_h):
        for ox in range(layer.out_w):
            cols[r] = xp[:, oy * s:oy * s + fh, ox * s:ox * s + fw].reshape(-1)
            r += 1
    return cols


def conv_reference(layer: LayerSpec, x: np.ndarray, wvals: np.ndarray, group: int) -> np.ndarray:
    """Direct convolution of group ``group`` (no im2col): output pixels x filters of the
    group, integers. ``wvals``: filters x (channels/groups) x fh x fw integer weights."""
    cpg = layer.channels // layer.groups
    npg = layer.n_per_group
    s, fh, fw = layer.stride, layer.filt_h, layer.filt_w
    xs = x[group * cpg:(group + 1) * cpg].astype(np.int64)
    xp = np.zeros((cpg, (layer.out_h - 1) * s + fh, (layer.out_w - 1) * s + fw), dtype=np.int64)
    h, w = min(xp.shape[1], xs.shape[1]), min(xp.shape[2], xs.shape[2])
    xp[:, :h, :w] = xs[:, :h, :w]
    wg = wvals[group * npg:(group + 1) * npg].astype(np.int64)
    out = np.zeros((layer.out_h, layer.out_w, npg), dtype=np.int64)
    for dy in range(fh):
        for dx in range(fw):
            patch = xp[:, dy:dy + (layer.out_h - 1) * s + 1:s, dx:dx + (layer.out_w - 1) * s + 1:s]
            out += np.einsum("chw,nc->hwn", patch, wg[:, :, dy, dx])
    return out.reshape(layer.out_h * layer.out_w, npg)


__all__ = ["ArraySpec", "DATAFLOWS", "array_cycles", "GemmRun", "TOP", "UNITS", "conv_reference", "default_shift", "fits",
           "generate", "im2col", "layout", "random_operands", "requant", "spec_for_point", "weight_values"]
