"""Verilog for one MAC lane of each family the hardware models price.

Plain synthesizable Verilog-2005 text from a frozen :class:`LaneConfig` (no vendor
primitives: the DSP lanes are a behavioural multiply that the synthesizer maps to a DSP
slice). Each lane is one processing element of an output-stationary systolic array: it
registers its operands (and forwards them to its neighbours through those registers),
forms the product its number format needs and accumulates it in an ``acc_bits`` register;
``clr`` starts a new dot product. Activations are unsigned ``a_bits``-bit integers (they
follow a ReLU; the quantizer gives them ``a_bits`` magnitude bits), weights signed.

Families (``unit``/``kind``, as in :mod:`hwmodels.arith` and ``dse hw lanes``):

- ``lut``/``fixed``: signed ``w`` x unsigned ``a`` array multiplier in fabric.
- ``dsp``/``fixed``: ``lanes`` weights share one activation in one DSP multiply
  (:func:`hwmodels.arith.dsp_packing`): the weights are packed offline into one word,
  ``spacing = w + a`` bits apart (FINN's ``mvu_8sx8u_dsp48`` lane layout), the product
  fields are split and sign-corrected in fabric, and each packed lane accumulates in a
  fabric register (one 48-bit P register cannot hold several wide accumulators). A single
  lane accumulates in the DSP.
- ``shift``/``pow2``: sign + exponent code; one barrel shift of the activation.
- ``shift``/``sp2``: sign + two codes; two barrel shifts and an add (Mix-and-Match).
- ``term``/``term``: one (weight term, activation term) pair per cycle: activation-term
  buffer (every weight term meets every activation term), weight-term register,
  exponent adder, one-hot decode and a signed add into the accumulator.
- ``bit``/``weight``: one weight bit per cycle; the dot product runs bit plane by bit
  plane, MSB first, and ``sh`` doubles the accumulator at each new plane (Stripes).
- ``bit``/``both``: one weight bit x one activation bit per cycle, planes ordered by
  significance ``i + j`` (BISMO), ``sh`` doubling at each new significance; a weight
  sign-bit pair subtracts.

In an array a lane's forwarded operands (``w_q``, ``a_q``) feed the next lane. For DSP
lanes that next register is the neighbour slice's own input pipeline register (AREG/BREG),
so synthesis (Yosys and Vivado alike) keeps no fabric copy of it: :func:`in_array` wraps a
lane with its forwarded operands left open, the way the array's slices see it, and the
calibration records both counts (the module's and the lane's in an array).

Array overhead blocks priced with the lanes: ``requant`` (one per output column: shift,
round, clamp to ``a_bits`` unsigned) and ``control`` (loop counters and three address
generators, one per array).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..arith import dsp_packing
from ..formats import MAX_BITS, MAX_POW2_BITS, MIN_BITS

#: (unit, kind) of every generated family, in the order ``dse hw lanes`` lists them
FAMILIES = (("lut", "fixed"), ("dsp", "fixed"), ("shift", "pow2"), ("shift", "sp2"),
            ("term", "term"), ("bit", "weight"), ("bit", "both"),
            ("requant", "fixed"), ("control", "fixed"))
DSP_GENS = {"xc7": "DSP48E1", "xcup": "DSP48E2"}
MAX_ACC_BITS = 64
ADDR_BITS = 16


class LaneRangeError(ValueError):
    """A width outside the generator's range; the message names the range."""


@dataclass(frozen=True)
class LaneConfig:
    """One lane to generate. ``family`` (xc7 | xcup) matters for DSP lanes only (the
    packing follows the DSP generation)."""

    unit: str
    kind: str
    w_bits: int
    a_bits: int
    acc_bits: int
    family: str = "xc7"

    @property
    def top(self) -> str:
        return f"lane_{self.unit}_{self.kind}_w{self.w_bits}_a{self.a_bits}_acc{self.acc_bits}"

    @property
    def use_dsp(self) -> bool:
        """Whether synthesis may infer DSP slices (only the DSP family uses them)."""
        return self.unit == "dsp"


def w_range(unit: str, kind: str) -> tuple[int, int]:
    """Weight widths the generator accepts for a family."""
    if (unit, kind) == ("shift", "pow2"):
        return MIN_BITS, MAX_POW2_BITS
    return MIN_BITS, MAX_BITS


def min_acc_bits(unit: str, kind: str, w_bits: int, a_bits: int) -> int:
    """Narrowest accumulator that holds one exact product of the family's format."""
    if unit == "shift" and kind == "pow2":
        return 2 ** (w_bits - 1) - 1 + a_bits + 1
    if unit == "shift" and kind == "sp2":
        m1 = math.ceil((w_bits - 1) / 2)
        return 2 ** m1 - 1 + a_bits + 2
    if unit in ("requant", "control"):
        return a_bits + 1
    return w_bits + a_bits


def check_config(cfg: LaneConfig) -> None:
    """Raise :class:`LaneRangeError` naming the range when a width is out of it."""
    if (cfg.unit, cfg.kind) not in FAMILIES:
        fams = ", ".join(f"{u}/{k}" for u, k in FAMILIES)
        raise LaneRangeError(f"lane: unknown family {cfg.unit}/{cfg.kind}; families: {fams}")
    if cfg.family not in DSP_GENS:
        raise LaneRangeError(f"family: must be one of {', '.join(DSP_GENS)}; got {cfg.family!r}")
    lo, hi = w_range(cfg.unit, cfg.kind)
    for name, v, (l, h) in (("w_bits", cfg.w_bits, (lo, hi)), ("a_bits", cfg.a_bits, (MIN_BITS, MAX_BITS))):
        if isinstance(v, bool) or not isinstance(v, int) or not l <= v <= h:
            raise LaneRangeError(f"{name}: {v!r} is outside the generator's range [{l}, {h}] "
                                 f"for {cfg.unit}/{cfg.kind} lanes")
    amin = min_acc_bits(cfg.unit, cfg.kind, cfg.w_bits, cfg.a_bits)
    if isinstance(cfg.acc_bits, bool) or not isinstance(cfg.acc_bits, int) or not amin <= cfg.acc_bits <= MAX_ACC_BITS:
        raise LaneRangeError(f"acc_bits: {cfg.acc_bits!r} is outside the range [{amin}, {MAX_ACC_BITS}] "
                             f"for a {cfg.w_bits}x{cfg.a_bits}-bit {cfg.unit}/{cfg.kind} lane")
    if cfg.unit == "dsp":
        dsp_packing(DSP_GENS[cfg.family], cfg.w_bits, cfg.a_bits)  # raises Unsupported when it does not fit


def generate(cfg: LaneConfig) -> str:
    """Verilog text of the lane (top module ``cfg.top``)."""
    check_config(cfg)
    return _GENERATORS[(cfg.unit, cfg.kind)](cfg)


def in_array(cfg: LaneConfig) -> tuple[str, str]:
    """``(verilog, top)``: the lane as an array instantiates it, its forwarded operands
    feeding the neighbour's input registers: a wrapper ``<top>_in_array`` with ``w_q`` and
    ``a_q`` left open (DSP lanes: the operand registers then ride in the slice's A/B input
    pipeline, as they do between neighbouring slices of an array)."""
    text = generate(cfg)
    head = re.search(r"module \S+ \((.*?)\);", text, re.S).group(1)
    ins = [m.group(0).rstrip(",") for m in re.finditer(r"input [^,]*?\b(\w+)(?=,|$)", head)]
    names = re.findall(r"input (?:signed )?(?:\[[^\]]*\] )?(\w+)", head)
    acc_decl = re.search(r"output reg signed \[(\d+):0\] (acc\w*(?:, acc\w*)*)$", head.strip())
    width, outs = int(acc_decl.group(1)) + 1, acc_decl.group(2).split(", ")
    top = f"{cfg.top}_in_array"
    ports = ", ".join([f".{n}({n})" for n in names] + [f".{o}({o})" for o in outs])
    wrapper = (f"// {top}: {cfg.top} with its forwarded operands feeding the next lane (left open)\n"
               f"module {top} (\n  " + ",\n  ".join(ins + [f"output signed [{width - 1}:0] {o}" for o in outs])
               + f");\n  {cfg.top} u (" + ports + ");\nendmodule\n")
    return text + wrapper, top


def _clog2(n: int) -> int:
    return max(int(n) - 1, 0).bit_length()


def _head(cfg: LaneConfig, doc: str) -> str:
    return (f"// {cfg.top}: {doc}\n// generated by hwmodels.rtl.lanes from {cfg!r}\n")


def _ports(cfg: LaneConfig, W: int, A: int, ACC: int, signed_w: bool, outs: str = "acc") -> str:
    """The module line and ports of a weight x activation lane: registered operands
    ``w_q``/``a_q`` forwarded to the neighbour, accumulator(s) ``outs``."""
    s = "signed " if signed_w else ""
    return (f"module {cfg.top} (\n  input clk, input clr,\n"
            f"  input {s}[{W - 1}:0] w_in, input [{A - 1}:0] a_in,\n"
            f"  output reg {s}[{W - 1}:0] w_q, output reg [{A - 1}:0] a_q,\n"
            f"  output reg signed [{ACC - 1}:0] {outs});\n")


def _lut_fixed(cfg: LaneConfig) -> str:
    W, A, ACC = cfg.w_bits, cfg.a_bits, cfg.acc_bits
    return _head(cfg, "signed w x unsigned a multiply-accumulate in fabric") + _ports(cfg, W, A, ACC, True) + f"""\
  wire signed [{W + A}:0] p = w_q * $signed({{1'b0, a_q}});
  always @(posedge clk) begin
    w_q <= w_in; a_q <= a_in;
    acc <= (clr ? {ACC}'sd0 : acc) + p;
  end
endmodule
"""


def _dsp_fixed(cfg: LaneConfig) -> str:
    W, A, ACC = cfg.w_bits, cfg.a_bits, cfg.acc_bits
    L, S = dsp_packing(DSP_GENS[cfg.family], W, A)
    PW = (L - 1) * S + W + (L > 1)  # packed weight word sum(w_i 2^(S i)), packed offline
    PB = PW + A + 1               # product width
    if L == 1:
        return _head(cfg, "one MAC per DSP slice, accumulator in the P register") + _ports(cfg, W, A, ACC, True) + f"""\
  reg signed [{PB - 1}:0] m_q;
  reg clr_q;
  always @(posedge clk) begin
    w_q <= w_in; a_q <= a_in; clr_q <= clr;
    m_q <= w_q * $signed({{1'b0, a_q}});
    acc <= (clr_q ? {ACC}'sd0 : acc) + m_q;
  end
endmodule
"""
    lines = [f"  wire signed [{PB - 1}:0] r0 = m_q;"]
    for i in range(L - 1):
        width = PB - S * (i + 1)
        lines.append(f"  wire signed [{S - 1}:0] f{i} = r{i}[{S - 1}:0];")
        lines.append(f"  wire signed [{width - 1}:0] r{i + 1} = (r{i} >>> {S}) + $signed({{1'b0, r{i}[{S - 1}]}});")
    lines.append(f"  wire signed [{PB - S * (L - 1) - 1}:0] f{L - 1} = r{L - 1};")
    accs = "\n".join(f"    acc{i} <= (clr_q ? {ACC}'sd0 : acc{i}) + f{i};" for i in range(L))
    outs = ", ".join(f"acc{i}" for i in range(L))
    return _head(cfg, f"{L} MACs per {DSP_GENS[cfg.family]} (weights {S} bits apart), "
                      "lanes split and accumulated in fabric") + _ports(cfg, PW, A, ACC, True, outs) + f"""\
  reg signed [{PB - 1}:0] m_q;
  reg clr_q;
{chr(10).join(lines)}
  always @(posedge clk) begin
    w_q <= w_in; a_q <= a_in; clr_q <= clr;
    m_q <= w_q * $signed({{1'b0, a_q}});
{accs}
  end
endmodule
"""


def _pow2(cfg: LaneConfig) -> str:
    P = 2 ** (cfg.w_bits - 1) - 1      # exponent codes 1..P (0 = zero); shift P - code
    return _pow2_text(cfg, cfg.w_bits, cfg.a_bits, cfg.acc_bits, P, cfg.a_bits + P - 1 if P > 1 else cfg.a_bits)


def _pow2_text(cfg: LaneConfig, W: int, A: int, ACC: int, P: int, TW: int) -> str:
    cw = W - 1
    pad = TW - A
    ext = f"{{{{{pad}{{1'b0}}}}, a_q}}" if pad else "a_q"
    body = (f"  wire [{cw - 1}:0] code = w_q[{cw - 1}:0];\n"
            f"  wire [{TW - 1}:0] ax = {ext};\n"
            f"  wire [{TW - 1}:0] t = (code == 0) ? {TW}'d0 : (ax << ({P} - code));\n"
            f"  wire signed [{TW}:0] tx = $signed({{1'b0, t}} ^ {{{TW + 1}{{sgn}}}});   // -t = ~t + 1\n")
    return _shift_lane(cfg, W, A, ACC, f"power-of-two weight: one shift over {P} exponents, add/subtract", body)


def _shift_lane(cfg: LaneConfig, W: int, A: int, ACC: int, doc: str, body: str) -> str:
    """A shift-add lane (pow2, sp2): sign-magnitude weight codes; ``body`` declares the shifted
    term ``tx`` (two's complement of the magnitude when the sign is set, the +1 added here)."""
    return _head(cfg, doc) + _ports(cfg, W, A, ACC, False) + f"""\
  wire sgn = w_q[{W - 1}];
{body}  always @(posedge clk) begin
    w_q <= w_in; a_q <= a_in;
    acc <= (clr ? {ACC}'sd0 : acc) + tx + $signed({{1'b0, sgn}});
  end
endmodule
"""


def _sp2(cfg: LaneConfig) -> str:
    W, A, ACC = cfg.w_bits, cfg.a_bits, cfg.acc_bits
    m1 = math.ceil((W - 1) / 2)
    m2 = W - 1 - m1
    F = 2 ** m1 - 1                    # codes c: value 2^-c, integer 2^(F - c)
    TW = A + F - 1 if F > 1 else A     # one shifted term
    pad = TW - A
    ext = f"{{{{{pad}{{1'b0}}}}, a_q}}" if pad else "a_q"
    c2 = (f"  wire [{m2 - 1}:0] c2 = w_q[{m1 + m2 - 1}:{m1}];\n"
          f"  wire [{TW - 1}:0] t2 = (c2 == 0) ? {TW}'d0 : (ax << ({F} - c2));\n") if m2 else \
         f"  wire [{TW - 1}:0] t2 = {TW}'d0;\n"
    body = (f"  wire [{TW - 1}:0] ax = {ext};\n"
            f"  wire [{m1 - 1}:0] c1 = w_q[{m1 - 1}:0];\n"
            f"  wire [{TW - 1}:0] t1 = (c1 == 0) ? {TW}'d0 : (ax << ({F} - c1));\n"
            f"{c2}  wire [{TW}:0] t = t1 + t2;\n"
            f"  wire signed [{TW + 1}:0] tx = $signed({{1'b0, t}} ^ {{{TW + 2}{{sgn}}}});   // -t = ~t + 1\n")
    return _shift_lane(cfg, W, A, ACC, "sum of two powers of two: two shifts, an add, add/subtract", body)


def term_exp_bits(bits: int) -> int:
    """Exponent field of one term of a ``bits``-bit magnitude (positions 0..bits-1)."""
    return max(_clog2(bits), 1)


def _term(cfg: LaneConfig) -> str:
    W, A, ACC = cfg.w_bits, cfg.a_bits, cfg.acc_bits
    EW = term_exp_bits(W - 1)          # weight terms: w-1 magnitude bits (signed weights)
    EA = term_exp_bits(A)              # activation terms: a magnitude bits (unsigned)
    NT = A                             # activation-term buffer: every magnitude bit
    IX = max(_clog2(NT), 1)
    E = max(_clog2(W - 1 + A - 1), 1) + 1
    return _head(cfg, f"term-serial MAC: {NT}-entry activation-term buffer, one term pair per cycle") + f"""\
module {cfg.top} (
  input clk, input clr,
  input wt_v_in, input wt_s_in, input [{EW - 1}:0] wt_e_in,
  input a_load, input [{NT * (EA + 1) - 1}:0] at_in,
  input [{IX - 1}:0] ix,
  output reg wt_v, output reg wt_s, output reg [{EW - 1}:0] wt_e,
  output reg [{NT * (EA + 1) - 1}:0] at_q,
  output reg signed [{ACC - 1}:0] acc);
  reg [{IX - 1}:0] ix_q;
  wire [{EA}:0] at = at_q[ix_q * {EA + 1} +: {EA + 1}];   // {{valid, exponent}}
  wire [{E - 1}:0] e = wt_e + at[{EA - 1}:0];
  wire [{ACC - 1}:0] one = {{{{{ACC - 1}{{1'b0}}}}, wt_v & at[{EA}]}};
  wire [{ACC - 1}:0] term = one << e;
  always @(posedge clk) begin
    wt_v <= wt_v_in; wt_s <= wt_s_in; wt_e <= wt_e_in; ix_q <= ix;
    if (a_load) at_q <= at_in;
    acc <= (clr ? {ACC}'sd0 : acc) + $signed(term ^ {{{ACC}{{wt_s}}}}) + $signed({{1'b0, wt_s}});
  end
endmodule
"""


def _bit_weight(cfg: LaneConfig) -> str:
    A, ACC = cfg.a_bits, cfg.acc_bits
    return _head(cfg, "bit-serial weight: bit planes MSB first (Stripes), acc = 2 acc at each new plane, +- a") + f"""\
module {cfg.top} (
  input clk, input clr, input sh, input msb,
  input wb_in, input [{A - 1}:0] a_in,
  output reg wb_q, output reg [{A - 1}:0] a_q,
  output reg signed [{ACC - 1}:0] acc);
  wire neg = wb_q & msb;                 // the sign bit weighs -2^(w-1)
  wire signed [{A}:0] t = (wb_q ? $signed({{1'b0, a_q}}) : {A + 1}'sd0) ^ {{{A + 1}{{neg}}}};
  wire signed [{ACC - 1}:0] fb = clr ? {ACC}'sd0 : sh ? (acc <<< 1) : acc;
  always @(posedge clk) begin
    wb_q <= wb_in; a_q <= a_in;
    acc <= fb + t + $signed({{1'b0, neg}});
  end
endmodule
"""


def _bit_both(cfg: LaneConfig) -> str:
    ACC = cfg.acc_bits
    return _head(cfg, "bit-serial weight and activation: bit-pair planes by significance i+j, "
                      "MSB first (BISMO order), acc = 2 acc at each new significance, +- 1") + f"""\
module {cfg.top} (
  input clk, input clr, input sh, input msb,
  input wb_in, input ab_in,
  output reg wb_q, output reg ab_q,
  output reg signed [{ACC - 1}:0] acc);
  wire b = wb_q & ab_q;
  wire neg = b & msb;                    // weight sign-bit planes subtract
  wire signed [{ACC - 1}:0] fb = clr ? {ACC}'sd0 : sh ? (acc <<< 1) : acc;
  always @(posedge clk) begin
    wb_q <= wb_in; ab_q <= ab_in;
    acc <= fb + $signed({{{ACC}{{neg}}}} | {{{ACC - 1}'d0, b}});
  end
endmodule
"""


def _requant(cfg: LaneConfig) -> str:
    A, ACC = cfg.a_bits, cfg.acc_bits
    SH = max(_clog2(ACC), 1)
    return _head(cfg, f"requantise one output: round(acc >> sh), ReLU, clamp to {A} bits unsigned") + f"""\
module {cfg.top} (
  input clk, input [{SH - 1}:0] sh, input signed [{ACC - 1}:0] acc_in,
  output reg [{A - 1}:0] y);
  wire signed [{ACC}:0] r = (acc_in >>> sh) + ((sh == 0) ? {ACC + 1}'sd0 : $signed({{{ACC}'d0, acc_in[sh - 1]}}));
  always @(posedge clk)
    y <= (r < 0) ? {A}'d0 : (r > {2 ** A - 1}) ? {A}'d{2 ** A - 1} : r[{A - 1}:0];
endmodule
"""


def _control(cfg: LaneConfig) -> str:
    B = ADDR_BITS
    return _head(cfg, "array control: fold/step counters, three address generators") + f"""\
module {cfg.top} (
  input clk, input rst, input start,
  input [{B - 1}:0] k_len, input [{B - 1}:0] n_folds, input [{B - 1}:0] m_folds,
  input [{B - 1}:0] if_stride, input [{B - 1}:0] w_stride, input [{B - 1}:0] of_stride,
  output reg busy, output reg clr, output reg done,
  output reg [{B - 1}:0] if_addr, output reg [{B - 1}:0] w_addr, output reg [{B - 1}:0] of_addr);
  reg [{B - 1}:0] k, n, m;
  wire k_end = (k == k_len - 1), n_end = (n == n_folds - 1), m_end = (m == m_folds - 1);
  always @(posedge clk) begin
    if (rst) begin
      busy <= 0; done <= 0; clr <= 0; k <= 0; n <= 0; m <= 0; if_addr <= 0; w_addr <= 0; of_addr <= 0;
    end else if (start && !busy) begin
      busy <= 1; done <= 0; clr <= 1; k <= 0; n <= 0; m <= 0; if_addr <= 0; w_addr <= 0; of_addr <= 0;
    end else if (busy) begin
      clr <= k_end;
      if (!k_end) begin
        k <= k + 1; if_addr <= if_addr + 1; w_addr <= w_addr + 1;
      end else begin
        k <= 0; of_addr <= of_addr + of_stride;
        if (!n_end) begin n <= n + 1; w_addr <= w_addr + w_stride; if_addr <= if_addr - k_len + 1; end
        else begin
          n <= 0; w_addr <= 0; if_addr <= if_addr + if_stride;
          if (!m_end) m <= m + 1; else begin busy <= 0; done <= 1; end
        end
      end
    end
  end
endmodule
"""


_GENERATORS = {
    ("lut", "fixed"): _lut_fixed, ("dsp", "fixed"): _dsp_fixed,
    ("shift", "pow2"): _pow2,
    ("shift", "sp2"): _sp2, ("term", "term"): _term, ("bit", "weight"): _bit_weight,
    ("bit", "both"): _bit_both, ("requant", "fixed"): _requant, ("control", "fixed"): _control,
}

__all__ = ["FAMILIES", "DSP_GENS", "LaneConfig", "LaneRangeError", "check_config", "generate", "in_array",
           "min_acc_bits", "term_exp_bits", "w_range"]
