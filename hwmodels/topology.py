"""SCALE-Sim topology CSVs in and out, with SCALE-Sim's own conventions.

Two formats, both one header line then one layer per line, every row ending in a comma
(SCALE-Sim drops the last comma-separated field, ``row.split(',')[:-1]``)::

    Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
    Conv1, 224, 224, 7, 7, 3, 64, 2,

    Layer, M, N, K,
    fc1, 1, 1000, 2048,

Conventions reproduced from SCALE-Sim 3.x (``scalesim/topology_utils.py``, read at
scale-sim-v3 commit fab89b7):

- no padding: the IFMAP sizes are used as given, and the output size is
  ``ofmap = ceil((ifmap - filter + stride) / stride)`` per spatial dimension (a *ceil*,
  so a stride that does not divide ``ifmap - filter`` yields one more output than the
  usual floor): M = ofmap_h * ofmap_w, K = filter_h * filter_w * channels, N = num filter;
- one stride for both dimensions (a ninth number, as SCALE-Sim's own ``write_topo_file``
  writes ``Stride height, Stride width``, is the width stride);
- a layer whose name contains ``DP`` is depth-wise: SCALE-Sim runs it as one layer per
  channel (channels = 1, same number of filters); we keep it as one grouped layer with
  ``groups = channels``, ``K = filter_h * filter_w``, ``N = num_filter * channels``, whose
  cycles are the sum of those per-channel layers;
- a GEMM row ``Layer, M, N, K`` is the conv ``ifmap M x K, filter 1 x K, 1 channel,
  N filters, stride 1``: A is M x K, B is K x N, exactly the GEMM M/N/K here;
- an optional field ``N:M`` is a sparsity ratio (SCALE-Sim 3); only dense (``1:1`` or
  ``N:N``) layers can be priced here (the models price dense arithmetic);
- the filter may not be larger than the IFMAP (SCALE-Sim asserts it).

What SCALE-Sim's reader lets through and is read here the same way: blank lines, a
missing trailing comma, trailing empty cells (``...,1,,,``, as spreadsheets save),
trailing ``#``-annotations (``Conv2_dw, 112, 112, 3, 3, 1, 1, 1,#dw``; ignored, as
SCALE-Sim drops them), and layer names repeated within a file: SCALE-Sim keeps every row,
so the repeats are renamed ``name_2``, ``name_3``, ... in file order (the first keeps its
name) and :func:`load_topology` lists the renames so a command can report them.

A bad file raises ``ValueError`` naming the file, the line and the field.

Sizes are bounded: every field, and every count a layer implies (its MACs and the
elements of its input, weight and output operands), must be at most :data:`MAX_COUNT`
= 2**48. The models carry counts in float64, multiplied by word widths of up to 32 bits
(2**5); below 2**48 those products stay under 2**53, where float64 stops counting
exactly (a 1e30 x 5 x 5 GEMM was priced at "2,187,500,000,000,000,061,089,802,878,976"
cycles). 2**48 MACs is about 23 s of the largest built-in device (U250, 12,288 DSPs x 2 MACs
x 500 MHz) for one layer, over 200x the largest GEMM of GPT-3 at 2,048 tokens
(2048 x 12288 x 49152 = 1.2e12), so no real layer comes near it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .workload import LayerSpec, Workload

CONV_HEADER = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width",
               "Channels", "Num Filter", "Strides")
GEMM_HEADER = ("Layer", "M", "N", "K")
FORMATS = ("conv", "gemm")

#: Largest field value and largest count a layer may imply (MACs, operand elements):
#: counts x word widths (<= 32 bits) stay below 2**53, exact in float64 (module docstring).
MAX_COUNT = 2 ** 48
_MAX_TEXT = f"2**48 = {MAX_COUNT:,}"


@dataclass(frozen=True)
class Rename:
    """A repeated layer name made unique: ``line`` of the file, the name there, the new one."""

    line: int
    name: str
    new_name: str
    first_line: int

    def __str__(self) -> str:
        return (f"line {self.line}: layer {self.name!r} repeats line {self.first_line}; "
                f"renamed {self.new_name!r}")


@dataclass(frozen=True)
class TopologyFile:
    """A topology file as read: the workload, repeated names renamed, notes ignored."""

    workload: Workload
    fmt: str
    renamed: tuple[Rename, ...] = ()
    annotations: tuple[tuple[int, str], ...] = ()


def scalesim_ofmap(ifmap: int, filt: int, stride: int) -> int:
    """SCALE-Sim's output size along one dimension: ceil((ifmap - filter + stride) / stride)."""
    return int(math.ceil((ifmap - filt + stride) / stride))


def _fields(line: str) -> list[str]:
    parts = [p.strip() for p in line.strip().split(",")]
    while parts and parts[-1] == "":
        parts = parts[:-1]  # SCALE-Sim's trailing comma, and empty cells a spreadsheet leaves
    return parts


class _Row:
    def __init__(self, path: str, lineno: int, header: tuple[str, ...], values: list[str]):
        self.path, self.lineno, self.header = path, lineno, header
        self.annotations = [v for v in values[1:] if v.startswith("#")]
        self.values = [values[0]] + [v for v in values[1:] if not v.startswith("#")] if values else values
        if values and any(v.startswith("#") for v in values[1:]):
            first = next(i for i, v in enumerate(values) if i and v.startswith("#"))
            if any(not v.startswith("#") for v in values[first:]):
                raise ValueError(f"{path}:{lineno}: column {first + 1}: a '#' note must come after the numbers "
                                 f"(it ends the row), got {values[first]!r} before {values[first + 1]!r}")

    def where(self, col: int) -> str:
        name = self.header[col] if col < len(self.header) else f"column {col + 1}"
        return f"{self.path}:{self.lineno}: field '{name}' (column {col + 1})"

    def int(self, col: int) -> int:
        raw = self.values[col]
        digits = raw.lstrip("+-").replace("_", "")
        if digits.isdigit() and len(digits.lstrip("0")) > 30:
            # checked on the text: Python refuses to parse integers over 4,300 digits
            shown = raw if len(raw) <= 24 else f"{raw[:12]}...({len(digits)} digits)"
            if raw.startswith("-"):
                raise ValueError(f"{self.where(col)}: expected a positive integer, got {shown}")
            raise ValueError(f"{self.where(col)}: {shown} is larger than the limit {_MAX_TEXT}")
        try:
            v = int(raw)
        except ValueError:
            raise ValueError(f"{self.where(col)}: expected a positive integer, got {raw!r}") from None
        if v < 1:
            raise ValueError(f"{self.where(col)}: expected a positive integer, got {v}")
        if v > MAX_COUNT:
            raise ValueError(f"{self.where(col)}: {v:,} is larger than the limit {_MAX_TEXT}")
        return v

    def bounded(self, layer: str, counts: dict[str, int]) -> None:
        """Refuse a layer whose implied counts exceed :data:`MAX_COUNT`, naming the first."""
        for what, v in counts.items():
            if v > MAX_COUNT:
                raise ValueError(f"{self.path}:{self.lineno}: layer {layer!r}: {what} {v:,} is larger than the "
                                 f"limit {_MAX_TEXT} (counts stay exact in float64 below it); "
                                 "split the layer or check the sizes")

    def dense(self, col: int) -> None:
        if col >= len(self.values):
            return
        raw = self.values[col]
        n, colon, m = raw.partition(":")
        try:
            ok = bool(colon) and int(n) >= 1 and int(m) >= 1
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{self.path}:{self.lineno}: field 'sparsity' (column {col + 1}): "
                             f"expected a ratio N:M such as 1:1 (or a '#' note), got {raw!r}")
        if int(n) != int(m):
            raise ValueError(f"{self.path}:{self.lineno}: field 'sparsity' (column {col + 1}): "
                             f"sparse layers ({raw}) are not supported; use a dense (1:1) topology")


def _extra_columns(header: tuple[str, ...], base: int) -> tuple[str, ...]:
    """Meaning of the header's columns after the ``base`` standard ones: ``stride_w``
    (SCALE-Sim's writer: Stride height, Stride width), ``batch`` or ``sparsity``."""
    out = []
    for h in header[base:]:
        low = h.lower()
        if "stride" in low:
            out.append("stride_w")
        elif "batch" in low:
            out.append("batch")
        elif "spars" in low or "ratio" in low or ":" in low:
            out.append("sparsity")
        else:
            out.append("")
    return tuple(out)


def _extras(row: _Row, base: int, extra: tuple[str, ...]) -> dict[str, int]:
    """The fields after the standard ones, by the header's names; a last field ``N:M``
    is the sparsity ratio whether the header names it or not."""
    v = row.values
    got: dict[str, int] = {}
    for col in range(base, len(v)):
        what = extra[col - base] if col - base < len(extra) else ""
        if ":" in v[col] or what == "sparsity" or (not what and col == len(v) - 1):
            if col != len(v) - 1:
                raise ValueError(f"{row.path}:{row.lineno}: column {col + 2}: unexpected field {v[col + 1]!r} "
                                 "after the sparsity ratio")
            row.dense(col)
        elif what in ("stride_w", "batch"):
            got[what] = row.int(col)
        else:
            raise ValueError(f"{row.path}:{row.lineno}: column {col + 1}: unexpected field {v[col]!r}; the header "
                             "names no such column")
    return got


def _conv_layers(row: _Row, extra: tuple[str, ...] = ()) -> LayerSpec:
    v = row.values
    if len(v) < 8 or len(v) > 8 + max(len(extra), 1):
        raise ValueError(f"{row.path}:{row.lineno}: expected 8 fields ({', '.join(CONV_HEADER)}) "
                         f"{'plus ' + ', '.join(e or '?' for e in extra) if extra else 'and an optional sparsity ratio'}"
                         f", got {len(v)}")
    name = v[0]
    if not name:
        raise ValueError(f"{row.where(0)}: a layer needs a name")
    ih, iw, fh, fw, ch, nf, st = (row.int(i) for i in range(1, 8))
    more = _extras(row, 8, extra)
    st_w, batch = more.get("stride_w", st), more.get("batch", 1)
    if fh > ih:
        raise ValueError(f"{row.where(3)}: filter height {fh} is larger than IFMAP height {ih}")
    if fw > iw:
        raise ValueError(f"{row.where(4)}: filter width {fw} is larger than IFMAP width {iw}")
    oh, ow = scalesim_ofmap(ih, fh, st), scalesim_ofmap(iw, fw, st_w)
    groups, k_ch = (ch, 1) if "DP" in name else (1, ch)
    M, K, N = oh * ow * batch, fh * fw * k_ch, nf * groups
    row.bounded(name, {"IFMAP elements (height x width x channels x batch)": ih * iw * ch * batch,
                       "weight elements (filter height x width x channels x filters)": K * N,
                       "OFMAP elements (outputs x filters)": M * N,
                       "MACs": M * K * N})
    return LayerSpec(name=name, kind="conv", M=oh * ow * batch, K=fh * fw * k_ch, N=nf * groups, groups=groups,
                     ifmap_h=ih, ifmap_w=iw, filt_h=fh, filt_w=fw, channels=ch, stride=max(st, st_w),
                     out_h=oh, out_w=ow)


def _gemm_layers(row: _Row, extra: tuple[str, ...] = ()) -> LayerSpec:
    v = row.values
    if len(v) not in (4, 5):
        raise ValueError(f"{row.path}:{row.lineno}: expected 4 fields ({', '.join(GEMM_HEADER)}) "
                         f"and an optional sparsity ratio, got {len(v)}")
    if not v[0]:
        raise ValueError(f"{row.where(0)}: a layer needs a name")
    M, N, K = row.int(1), row.int(2), row.int(3)
    _extras(row, 4, ("sparsity",))
    row.bounded(v[0], {"A elements (M x K)": M * K, "B elements (K x N)": K * N, "C elements (M x N)": M * N,
                       "MACs (M x K x N)": M * K * N})
    return LayerSpec.gemm(v[0], M=M, K=K, N=N)


def _unique(name: str, taken: set[str]) -> str:
    k = 2
    while f"{name}_{k}" in taken:
        k += 1
    return f"{name}_{k}"


def load_topology(path: str | os.PathLike, fmt: str | None = None, name: str | None = None) -> TopologyFile:
    """Read a SCALE-Sim topology CSV: the :class:`Workload` (layers in file order,
    chained), the repeated names it renamed and the ``#`` notes it ignored.

    ``fmt`` is ``conv`` or ``gemm``; by default it is told from the header (4 or 5 named
    columns: GEMM, 8 to 10: conv). ``name`` defaults to the file's stem, as SCALE-Sim
    names runs. Raises ``ValueError`` naming the file, line and field of the first bad row.
    """
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ValueError(f"{p}: cannot read topology file: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{p}: not a text file; a topology is a CSV (a spreadsheet saved as .xlsx must be "
                         "saved as CSV first)") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(f"{p}:1: expected a header line ({', '.join(CONV_HEADER)}, or "
                         f"{', '.join(GEMM_HEADER)} for GEMMs)")
    header = tuple(h for h in _fields(lines[0]) if not h.startswith("#"))
    if header and header[1:2] and header[1].lstrip("-").isdigit():
        raise ValueError(f"{p}:1: the first line must be a header (SCALE-Sim skips it), got data: {lines[0].strip()!r}")
    if fmt is None:
        fmt = "gemm" if len(header) in (4, 5) else "conv" if 8 <= len(header) <= 11 else ""
        if not fmt:
            raise ValueError(f"{p}:1: header has {len(header)} fields; expected 8 ({', '.join(CONV_HEADER)}) "
                             f"or 4 ({', '.join(GEMM_HEADER)})")
    if fmt not in FORMATS:
        raise ValueError(f"fmt: must be one of {', '.join(FORMATS)}; got {fmt!r}")
    names = CONV_HEADER if fmt == "conv" else GEMM_HEADER
    parse = _conv_layers if fmt == "conv" else _gemm_layers
    extra = _extra_columns(header, 8) if fmt == "conv" else ()
    if any(not e for e in extra[:-1]):
        bad = next(h for h, e in zip(header[8:], extra) if not e)
        raise ValueError(f"{p}:1: header column {header.index(bad) + 1} {bad!r} is not one SCALE-Sim knows "
                         "(after Strides: Stride width, Batch Size or a sparsity ratio)")
    layers: list[LayerSpec] = []
    renamed: list[Rename] = []
    notes: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    raw_names = set()
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            row = _Row(str(p), lineno, names, _fields(line))
            layer = parse(row, extra)
        except ValueError as e:
            msg = str(e)
            raise ValueError(msg if msg.startswith(str(p)) else f"{p}:{lineno}: {msg}") from None
        rows.append((lineno, layer))
        raw_names.add(layer.name)
        notes.extend((lineno, a) for a in row.annotations)
    taken = set(raw_names)
    for lineno, layer in rows:
        if layer.name in seen:
            new = _unique(layer.name, taken)
            taken.add(new)
            renamed.append(Rename(lineno, layer.name, new, seen[layer.name]))
            layer = LayerSpec(**{**layer.__dict__, "name": new})
        else:
            seen[layer.name] = lineno
        layers.append(layer)
    if not layers:
        raise ValueError(f"{p}: no layers after the header")
    return TopologyFile(Workload.chain(name or p.stem, layers), fmt, tuple(renamed), tuple(notes))


def read_topology(path: str | os.PathLike, fmt: str | None = None, name: str | None = None) -> Workload:
    """Read a SCALE-Sim topology CSV into a :class:`Workload` (see :func:`load_topology`,
    which also says which repeated names it renamed)."""
    return load_topology(path, fmt, name).workload


def _conv_rows(layer: LayerSpec) -> Iterable[tuple]:
    """SCALE-Sim conv rows reproducing ``layer``'s GEMM exactly.

    The written IFMAP is the extent the layer actually reads, ``(out - 1) * stride +
    filter`` (padding included, trailing rows a floor-division drops excluded), so
    SCALE-Sim's ceil formula gives back ``out_h x out_w``. SCALE-Sim knows depth-wise
    layers only by a ``DP`` in the name: a depth-wise layer (one channel per group) is one
    row named with ``DP`` (``_DP`` appended when its name has none, so MobileNetV2 is 53
    rows, not 7,172), and any other layer whose name contains ``DP`` is written with
    ``D_P`` so SCALE-Sim does not take it for one. Other grouped layers are one row per
    group (``name/g0``, ``name/g1``, ...): SCALE-Sim has no grouped convolution."""
    if layer.kind != "conv":
        # a GEMM or linear layer as SCALE-Sim's own GEMM-as-conv mapping
        yield (_not_dp(layer.name), layer.M, layer.K, 1, layer.K, 1, layer.N, 1)
        return
    ih = (layer.out_h - 1) * layer.stride + layer.filt_h
    iw = (layer.out_w - 1) * layer.stride + layer.filt_w
    g = layer.groups
    ch_g = layer.channels // g
    if g == 1:
        yield (_not_dp(layer.name), ih, iw, layer.filt_h, layer.filt_w, layer.channels, layer.N, layer.stride)
    elif ch_g == 1:
        name = layer.name if "DP" in layer.name else f"{layer.name}_DP"
        yield (name, ih, iw, layer.filt_h, layer.filt_w, layer.channels, layer.N // g, layer.stride)
    else:
        for i in range(g):
            yield (f"{_not_dp(layer.name)}/g{i}", ih, iw, layer.filt_h, layer.filt_w, ch_g, layer.N // g,
                   layer.stride)


def _not_dp(name: str) -> str:
    return name.replace("DP", "D_P")


def write_topology(workload: Workload, path: str | os.PathLike, fmt: str = "conv") -> Path:
    """Write ``workload`` as a SCALE-Sim topology CSV that SCALE-Sim reads back with the
    same M, K, N per layer (``fmt``: ``conv`` or ``gemm``; a grouped layer in ``gemm``
    format becomes one row per group)."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt: must be one of {', '.join(FORMATS)}; got {fmt!r}")
    p = Path(path)
    out = [", ".join(CONV_HEADER if fmt == "conv" else GEMM_HEADER) + ","]
    for layer in workload.layers:
        if fmt == "conv":
            rows = _conv_rows(layer)
        elif layer.groups == 1:
            rows = [(layer.name, layer.M, layer.N, layer.K)]
        else:
            rows = [(f"{layer.name}/g{i}", layer.M, layer.n_per_group, layer.K) for i in range(layer.groups)]
        out.extend(", ".join(str(x) for x in r) + "," for r in rows)
    p.write_text("\n".join(out) + "\n")
    return p
