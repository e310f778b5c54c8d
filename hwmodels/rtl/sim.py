"""Simulate a generated array (:mod:`hwmodels.rtl.array`) on a layer and compare it with
the cycle model and an integer reference.

The one module that touches a simulator: Verilator 5.x (``verilator --binary``), or
Icarus Verilog when Verilator is missing (``$DSE_SIMULATOR=verilator|iverilog`` picks
one). A missing simulator is a :class:`SimError` whose message is one line naming the
package. A Verilator build is cached per array configuration (the hash of the Verilog,
the testbench, the tool version and its flags) under ``$DSE_CACHE_DIR/rtl-sim``
(default ``~/.cache/dse/rtl-sim``), so a second layer on the same array, or a second run
of the tests, does not rebuild.

Measuring cycles: the testbench counts clock cycles from the first cycle in which any
PE loads a stationary operand or receives an operand to the last such cycle, numbering
from 0 as SCALE-Sim does. The final drain of the last fold's results (not counted by the
model either) and the host's scratchpad transfers are outside that window.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..base import DesignPoint
from ..primitives import clog2
from ..workload import LayerSpec, Workload
from . import array as _array
from .array import ArraySpec, GemmRun

SIMULATORS = ("verilator", "iverilog")
#: layers whose stall-free cycles (the model's count) exceed this are not simulated
MAX_SIM_CYCLES = 2_000_000
VERILATOR_FLAGS = ("--binary", "-O1", "-Wno-fatal", "-Wno-lint", "-Wno-style", "-DDSE_SIM",
                   "--top-module", "tb", "-MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0", "--build-jobs", "2")


class SimError(RuntimeError):
    """The simulator is missing or failed; ``str(e)`` is one line naming the fix."""


class SimBoundError(ValueError):
    """A layer too large to simulate; the message names the bound."""


@dataclass(frozen=True)
class Simulator:
    tool: str
    path: str
    version: str


def find_simulator(prefer: str | None = None) -> Simulator:
    """Verilator 5.x if installed, else Icarus Verilog (``prefer`` or
    ``$DSE_SIMULATOR`` forces one)."""
    prefer = prefer or os.environ.get("DSE_SIMULATOR") or None
    if prefer is not None and prefer not in SIMULATORS:
        raise SimError(f"DSE_SIMULATOR: must be one of {', '.join(SIMULATORS)}; got {prefer!r}")
    order = (prefer,) if prefer else SIMULATORS
    for tool in order:
        path = shutil.which(tool)
        if not path:
            continue
        if tool == "verilator":
            out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
            try:
                major = int(out.split()[1].split(".")[0])
            except (IndexError, ValueError):
                major = 0
            if major < 5:
                if prefer:
                    raise SimError(f"verilator {out!r} is too old (5.x needed): apt-get install verilator")
                continue
            return Simulator(tool, path, out)
        vvp = shutil.which("vvp")
        if not vvp:
            continue
        out = subprocess.run([path, "-V"], capture_output=True, text=True, timeout=30).stdout.strip()
        return Simulator(tool, path, out.splitlines()[0] if out else "iverilog")
    if prefer == "iverilog":
        raise SimError("iverilog not found: apt-get install iverilog")
    raise SimError("no Verilog simulator found: apt-get install verilator (5.x; or iverilog)")


def cache_root() -> Path:
    base = os.environ.get("DSE_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "dse")
    return Path(base) / "rtl-sim"


# --- testbench -----------------------------------------------------------------------------

def testbench(spec: ArraySpec) -> str:
    """Verilog testbench (module ``tb``): loads ``cfg.hex``, ``left.hex``, ``top.hex``,
    writes the scratchpads through the host ports, starts the array, records the first
    and last active cycle (``result.txt``), the final accumulators (``mon.hex``) and the
    requantised output scratchpad (``out.hex``)."""
    C, A, ACC = spec.cols, spec.a_bits, spec.acc_bits
    LD, TD = spec.depth("left"), spec.depth("top")
    LA = max(clog2(LD), 1)
    TA = max(clog2(TD), 1)
    OA = max(clog2(spec.depth("out")), 1)
    read_lat = 2 if spec.dataflow == "os" else 3   # address -> host_or_data, + one TB sample
    return f"""\
`timescale 1ns/1ps
module tb;
  reg clk = 0;
  always #5 clk = ~clk;
  reg rst = 1;
  reg [{spec.left_word - 1}:0] limg [0:{LD - 1}];
  reg [{spec.top_word - 1}:0] timg [0:{TD - 1}];
  reg [31:0] cfg [0:7];   // last t, last outer, last inner fold, sh, left words, top words, out words, max cycles
  reg host_lw_en = 0, host_tw_en = 0, start = 0;
  reg [{LA - 1}:0] host_lw_addr = 0; reg [{spec.left_word - 1}:0] host_lw_data = 0;
  reg [{TA - 1}:0] host_tw_addr = 0; reg [{spec.top_word - 1}:0] host_tw_data = 0;
  reg [{OA - 1}:0] host_or_addr = 0;
  wire [{C * A - 1}:0] host_or_data;
  wire busy, done, active, mon_v;
  wire [{C * ACC - 1}:0] mon_d;
  {_array.TOP} dut (.clk(clk), .rst(rst),
    .host_lw_en(host_lw_en), .host_lw_addr(host_lw_addr), .host_lw_data(host_lw_data),
    .host_tw_en(host_tw_en), .host_tw_addr(host_tw_addr), .host_tw_data(host_tw_data),
    .host_or_addr(host_or_addr), .host_or_data(host_or_data),
    .cfg_t_last(cfg[0][15:0]), .cfg_outer_last(cfg[1][15:0]), .cfg_inner_last(cfg[2][15:0]), .cfg_sh(cfg[3][{spec.sh_bits - 1}:0]),
    .start(start), .busy(busy), .done(done), .active(active), .mon_v(mon_v), .mon_d(mon_d));
  integer cyc = 0, first_act = -1, last_act = -1, idx = 0, ph = 0, fm, fo, fr;
  initial begin
    $readmemh("cfg.hex", cfg);
    $readmemh("left.hex", limg, 0, cfg[4] - 1);
    $readmemh("top.hex", timg, 0, cfg[5] - 1);
    fm = $fopen("mon.hex", "w");
    fo = $fopen("out.hex", "w");
  end
  always @(posedge clk) begin
    cyc <= cyc + 1;
    if (cyc > cfg[7]) begin $display("DSE_TIMEOUT"); $finish; end
    if (!rst) begin
      if (active) begin
        if (first_act < 0) first_act <= cyc;
        last_act <= cyc;
      end
      if (mon_v) $fwrite(fm, "%h\\n", mon_d);
    end
    case (ph)
      0: if (cyc == 3) begin rst <= 0; ph <= 1; idx <= 0; end
      1: begin
        host_lw_en <= 1; host_lw_addr <= idx; host_lw_data <= limg[idx];
        if (idx == cfg[4] - 1) begin idx <= 0; ph <= 2; end else idx <= idx + 1;
      end
      2: begin
        host_lw_en <= 0; host_tw_en <= 1; host_tw_addr <= idx; host_tw_data <= timg[idx];
        if (idx == cfg[5] - 1) begin idx <= 0; ph <= 3; end else idx <= idx + 1;
      end
      3: begin host_tw_en <= 0; if (idx == 4) begin start <= 1; ph <= 4; end else idx <= idx + 1; end
      4: begin start <= 0; idx <= 0; if (done && !start) ph <= 5; end
      5: begin
        if (idx < cfg[6]) host_or_addr <= idx;
        if (idx >= {read_lat}) $fwrite(fo, "%h\\n", host_or_data);
        if (idx == cfg[6] + {read_lat} - 1) begin
          fr = $fopen("result.txt", "w");
          $fwrite(fr, "%0d %0d\\n", first_act, last_act);
          $fclose(fr); $fclose(fm); $fclose(fo);
          $finish;
        end
        idx <= idx + 1;
      end
      default: ;
    endcase
  end
endmodule
"""


# --- build (cached) ------------------------------------------------------------------------

def build(spec: ArraySpec, simulator: Simulator | None = None) -> tuple[Simulator, Path]:
    """Compile the array and its testbench; returns the simulator and the build
    directory (reused when the same configuration was built before)."""
    sim = simulator or find_simulator()
    rtl = _array.generate(spec, sim=True)
    tb = testbench(spec)
    flags = VERILATOR_FLAGS if sim.tool == "verilator" else ("-g2005", "-DDSE_SIM", "-s", "tb")
    key = hashlib.sha256("\0".join((sim.tool, sim.version, " ".join(flags), rtl, tb)).encode()).hexdigest()[:24]
    root = cache_root()
    final = root / f"{sim.tool}-{key}"
    if (final / "ok").exists():
        return sim, final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    try:
        (tmp / "array.v").write_text(rtl)
        (tmp / "tb.v").write_text(tb)
        if sim.tool == "verilator":
            cmd = [sim.path, *flags, "--Mdir", "obj", "-o", "sim", "tb.v", "array.v"]
        else:
            cmd = [sim.path, *flags, "-o", "sim.vvp", "tb.v", "array.v"]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            lines = [l for l in (proc.stderr + proc.stdout).splitlines() if l.strip()]
            err = next((l for l in lines if "Error" in l or "error" in l), lines[-1] if lines else "no output")
            raise SimError(f"{sim.tool} failed to build the {spec.name} array: {err.strip()}")
        (tmp / "ok").write_text(sim.version + "\n")
        try:
            os.replace(tmp, final)
        except OSError:       # built concurrently by another process: use theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sim, final


# --- one GEMM ------------------------------------------------------------------------------

@dataclass(frozen=True)
class GemmResult:
    """What the simulated array did on one GEMM: ``cycles`` = last - first active cycle
    (SCALE-Sim numbering), the final accumulators and the requantised outputs."""

    cycles: int
    acc: tuple[tuple[int, ...], ...]
    out: tuple[tuple[int, ...], ...]


def _lanes(word: int, lanes: int, bits: int, signed: bool) -> tuple[int, ...]:
    mask = (1 << bits) - 1
    vals = []
    for k in range(lanes):
        v = (word >> (k * bits)) & mask
        if signed and v >> (bits - 1):
            v -= 1 << bits
        vals.append(v)
    return tuple(vals)


def _read_hex(path: Path) -> list[int]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().split():
        out.append(int(line, 16) if "x" not in line.lower() else -1)
    return out


def simulate(spec: ArraySpec, run: GemmRun, simulator: Simulator | None = None,
             timeout_s: float = 600.0) -> GemmResult:
    """Run one laid-out GEMM on the array in the simulator."""
    sim, bdir = build(spec, simulator)
    fold_bound = 4 * (len(run.left) + len(run.top)) + run.outer * run.inner * (run.t + 2 * spec.rows + spec.cols + 8)
    max_cycles = fold_bound + 4 * run.out_words + 1000
    with tempfile.TemporaryDirectory(prefix="dse-sim-") as tmp:
        w = Path(tmp)
        (w / "cfg.hex").write_text("\n".join(f"{v:x}" for v in (
            run.t - 1, run.outer - 1, run.inner - 1, run.sh, len(run.left), len(run.top), run.out_words, max_cycles)) + "\n")
        (w / "left.hex").write_text("\n".join(f"{v:x}" for v in run.left) + "\n")
        (w / "top.hex").write_text("\n".join(f"{v:x}" for v in run.top) + "\n")
        cmd = [str(bdir / "obj" / "sim")] if sim.tool == "verilator" else \
            [shutil.which("vvp") or "vvp", "-n", str(bdir / "sim.vvp")]
        try:
            proc = subprocess.run(cmd, cwd=w, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise SimError(f"{sim.tool}: the simulation ran over {timeout_s:.0f} s") from None
        if "DSE_TIMEOUT" in proc.stdout or proc.returncode != 0 or not (w / "result.txt").exists():
            tail = (proc.stdout + proc.stderr).strip().splitlines()
            raise SimError(f"{sim.tool}: the {spec.name} array did not finish "
                           f"({tail[-1] if tail else 'no output'})")
        first, last = (int(x) for x in (w / "result.txt").read_text().split())
        acc = tuple(_lanes(v, spec.cols, spec.acc_bits, True) for v in _read_hex(w / "mon.hex"))
        out = tuple(_lanes(v, spec.cols, spec.a_bits, False) for v in _read_hex(w / "out.hex"))
    return GemmResult(cycles=last - first if first >= 0 else -1, acc=acc, out=out)


# --- one layer of a workload -------------------------------------------------------------

@dataclass(frozen=True)
class LayerCheck:
    """One layer verified: the model's stall-free cycles, the simulated ones, and whether
    the array's results equal the integer reference bit for bit. ``array_cycles``: what
    the generated array is built to take (:func:`hwmodels.rtl.array.array_cycles`; equal
    to the model's count, packed DSP lanes included)."""

    name: str
    model_cycles: int
    simulated_cycles: int
    outputs_match: bool
    gemms: int
    array_cycles: int = -1

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model_cycles": self.model_cycles,
                "simulated_cycles": self.simulated_cycles, "outputs_match": self.outputs_match,
                "gemms": self.gemms, "array_cycles": self.array_cycles}


def layer_gemms(spec: ArraySpec, layer: LayerSpec, w_bits: int, a_bits: int, signed_w: bool,
                rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Seeded random operands of every group GEMM of ``layer``: (A, B words, reference
    output). Conv layers: a random input tensor through im2col, the reference a direct
    convolution (no im2col); other layers: random matrices, the reference ``A @ B``."""
    g, npg = layer.groups, layer.n_per_group
    if signed_w:
        wlo, whi = -(2 ** (w_bits - 1)), 2 ** (w_bits - 1)
    else:
        wlo, whi = 0, 2 ** w_bits
    out = []
    if layer.kind == "conv":
        cpg = layer.channels // g
        x = rng.integers(0, 2 ** a_bits, size=(layer.channels, layer.ifmap_h, layer.ifmap_w), dtype=np.int64)
        wts = rng.integers(wlo, whi, size=(layer.N, cpg, layer.filt_h, layer.filt_w), dtype=np.int64)
        wv = _array.weight_values(spec, wts)
        for gi in range(g):
            A = _array.im2col(layer, x, gi)
            B = wts[gi * npg:(gi + 1) * npg].reshape(npg, -1).T
            out.append((A, B, _array.conv_reference(layer, x, wv, gi)))
    else:
        for _ in range(g):
            A = rng.integers(0, 2 ** a_bits, size=(layer.M, layer.K), dtype=np.int64)
            B = rng.integers(wlo, whi, size=(layer.K, npg), dtype=np.int64)
            out.append((A, B, A @ _array.weight_values(spec, B)))
    return out


def check_bound(spec: ArraySpec, layer: LayerSpec, model_cycles: float,
                max_cycles: int = MAX_SIM_CYCLES) -> None:
    """Raise :class:`SimBoundError` (naming the bound) for a layer too large to simulate."""
    if model_cycles > max_cycles:
        raise SimBoundError(f"layer {layer.name!r}: {model_cycles:,.0f} model cycles exceed the simulation bound "
                            f"of {max_cycles:,} cycles per layer (pick smaller layers with --layers, or raise "
                            "--max-cycles)")
    for name, need in scratchpad_words(spec, layer.M, layer.K, layer.n_per_group).items():
        if need > spec.depth(name):
            raise SimBoundError(f"layer {layer.name!r}: needs {need:,} words in the {name} scratchpad, which holds "
                                f"{spec.depth(name):,} ({spec.buffer_bytes(name):,} bytes); the array does not tile "
                                "through DRAM: raise the buffer knob or pick smaller layers")


def scratchpad_words(spec: ArraySpec, M: int, K: int, N: int) -> dict[str, int]:
    """Words each scratchpad needs for one GEMM laid out by :func:`hwmodels.rtl.array.layout`
    (input scratchpads include the zero word)."""
    R, C = spec.rows, spec.cols
    cd = lambda a, b: -(-a // b)  # noqa: E731
    if spec.dataflow == "os":
        return {"left": 1 + cd(M, R) * K, "top": 1 + cd(N, C) * K, "out": cd(M, R) * cd(N, C) * R}
    if spec.dataflow == "ws":
        return {"left": 1 + cd(K, R) * M, "top": 1 + cd(N, C) * cd(K, R) * R, "out": cd(N, C) * M}
    return {"left": 1 + cd(K, R) * N, "top": 1 + cd(M, C) * cd(K, R) * R, "out": cd(M, C) * N}


def verify_layers(model: Any, workload: Workload, point: DesignPoint, names: Sequence[str] | None = None,
                  seed: int = 0, max_cycles: int = MAX_SIM_CYCLES,
                  simulator: Simulator | None = None) -> tuple[ArraySpec, list[LayerCheck]]:
    """Simulate the array of ``point`` on the selected layers (all when ``names`` is
    None). Every layer is checked against the bound before anything runs."""
    from ..arith import exact_fixed_bits

    spec = _array.spec_for_point(model, workload, point)
    report = model.evaluate(workload, point)
    model_cycles = {c.name: c.compute_cycles for c in report.layers}
    plan, default = dict(point.schemes), point.default_scheme
    layers = [workload.layer(n) for n in names] if names else list(workload.layers)
    for layer in layers:
        check_bound(spec, layer, model_cycles[layer.name], max_cycles)
    sim = simulator or find_simulator()
    checks = []
    rng = np.random.default_rng(seed)
    for layer in layers:
        s = plan.get(layer.name, default)
        if spec.kind == "fixed":
            wb, signed = min(exact_fixed_bits(s.kind, s.w_bits), spec.w_bits), True
        else:
            wb, signed = spec.w_bits, False
        total, ok, designed = 0, True, 0
        gemms = layer_gemms(spec, layer, wb, min(s.a_bits, spec.a_bits), signed, rng)
        for A, B, ref in gemms:
            run = _array.layout(spec, A, B)
            why = _array.fits(spec, run)
            if why:
                raise SimBoundError(f"layer {layer.name!r}: {why}")
            got = simulate(spec, run, sim)
            total += got.cycles
            designed += _array.array_cycles(spec, A.shape[0], A.shape[1], B.shape[1])
            ok = ok and got.acc == run.expect_acc and got.out == run.expect_out
            ok = ok and bool(np.array_equal(ref, A @ _array.weight_values(spec, B)))
        checks.append(LayerCheck(layer.name, int(round(model_cycles[layer.name])), total, ok, len(gemms), designed))
    return spec, checks


__all__ = ["GemmResult", "LayerCheck", "MAX_SIM_CYCLES", "SIMULATORS", "SimBoundError", "SimError", "Simulator",
           "build", "cache_root", "check_bound", "scratchpad_words", "find_simulator", "layer_gemms", "simulate", "testbench",
           "verify_layers"]
