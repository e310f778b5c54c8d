"""SCALE-Sim topology CSVs in and out, with SCALE-Sim's own conventions.

Two formats, both one header line then one layer per line, every row ending in a comma
(SCALE-Sim drops the last comma-separated field, ``row.split(',')[:-1]``)::

    Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
    Conv1, 224, 224, 7, 7, 3, 64, 2,

    Layer, M, N, K,
    fc1, 1, 1000, 2048,

Conventions reproduced from SCALE-Sim 3.0.0 (``scalesim/topology_utils.py``):

- no padding: the IFMAP sizes are used as given, and the output size is
  ``ofmap = ceil((ifmap - filter + stride) / stride)`` per spatial dimension (a *ceil*,
  so a stride that does not divide ``ifmap - filter`` yields one more output than the
  usual floor): M = ofmap_h * ofmap_w, K = filter_h * filter_w * channels, N = num filter;
- one stride for both dimensions;
- a layer whose name contains ``DP`` is depth-wise: SCALE-Sim runs it as one layer per
  channel (channels = 1, same number of filters); we keep it as one grouped layer with
  ``groups = channels``, ``K = filter_h * filter_w``, ``N = num_filter * channels``, whose
  cycles are the sum of those per-channel layers;
- a GEMM row ``Layer, M, N, K`` is the conv ``ifmap M x K, filter 1 x K, 1 channel,
  N filters, stride 1``: A is M x K, B is K x N, exactly the GEMM M/N/K here;
- an optional last field ``N:M`` is a sparsity ratio (SCALE-Sim 3); only dense (``1:1``
  or ``N:N``) layers can be priced here;
- the filter may not be larger than the IFMAP (SCALE-Sim asserts it).

A bad file raises ``ValueError`` naming the file, the line and the field.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable

from .workload import LayerSpec, Workload

CONV_HEADER = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width",
               "Channels", "Num Filter", "Strides")
GEMM_HEADER = ("Layer", "M", "N", "K")
FORMATS = ("conv", "gemm")


def scalesim_ofmap(ifmap: int, filt: int, stride: int) -> int:
    """SCALE-Sim's output size along one dimension: ceil((ifmap - filter + stride) / stride)."""
    return int(math.ceil((ifmap - filt + stride) / stride))


def _fields(line: str) -> list[str]:
    parts = [p.strip() for p in line.strip().split(",")]
    if parts and parts[-1] == "":
        parts = parts[:-1]  # SCALE-Sim's trailing comma
    return parts


class _Row:
    def __init__(self, path: str, lineno: int, header: tuple[str, ...], values: list[str]):
        self.path, self.lineno, self.header, self.values = path, lineno, header, values

    def where(self, col: int) -> str:
        name = self.header[col] if col < len(self.header) else f"column {col + 1}"
        return f"{self.path}:{self.lineno}: field '{name}' (column {col + 1})"

    def int(self, col: int) -> int:
        raw = self.values[col]
        try:
            v = int(raw)
        except ValueError:
            raise ValueError(f"{self.where(col)}: expected a positive integer, got {raw!r}") from None
        if v < 1:
            raise ValueError(f"{self.where(col)}: expected a positive integer, got {v}")
        return v

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
                             f"expected a ratio N:M such as 1:1, got {raw!r}")
        if int(n) != int(m):
            raise ValueError(f"{self.path}:{self.lineno}: field 'sparsity' (column {col + 1}): "
                             f"sparse layers ({raw}) are not supported; use a dense (1:1) topology")


def _conv_layers(row: _Row) -> LayerSpec:
    v = row.values
    if len(v) not in (8, 9):
        raise ValueError(f"{row.path}:{row.lineno}: expected 8 fields ({', '.join(CONV_HEADER)}) "
                         f"and an optional sparsity ratio, got {len(v)}")
    name = v[0]
    if not name:
        raise ValueError(f"{row.where(0)}: a layer needs a name")
    ih, iw, fh, fw, ch, nf, st = (row.int(i) for i in range(1, 8))
    row.dense(8)
    if fh > ih:
        raise ValueError(f"{row.where(3)}: filter height {fh} is larger than IFMAP height {ih}")
    if fw > iw:
        raise ValueError(f"{row.where(4)}: filter width {fw} is larger than IFMAP width {iw}")
    oh, ow = scalesim_ofmap(ih, fh, st), scalesim_ofmap(iw, fw, st)
    groups, k_ch = (ch, 1) if "DP" in name else (1, ch)
    return LayerSpec(name=name, kind="conv", M=oh * ow, K=fh * fw * k_ch, N=nf * groups, groups=groups,
                     ifmap_h=ih, ifmap_w=iw, filt_h=fh, filt_w=fw, channels=ch, stride=st,
                     out_h=oh, out_w=ow)


def _gemm_layers(row: _Row) -> LayerSpec:
    v = row.values
    if len(v) not in (4, 5):
        raise ValueError(f"{row.path}:{row.lineno}: expected 4 fields ({', '.join(GEMM_HEADER)}) "
                         f"and an optional sparsity ratio, got {len(v)}")
    if not v[0]:
        raise ValueError(f"{row.where(0)}: a layer needs a name")
    M, N, K = row.int(1), row.int(2), row.int(3)
    row.dense(4)
    return LayerSpec.gemm(v[0], M=M, K=K, N=N)


def read_topology(path: str | os.PathLike, fmt: str | None = None, name: str | None = None) -> Workload:
    """Read a SCALE-Sim topology CSV into a :class:`Workload` (layers in file order, chained).

    ``fmt`` is ``conv`` or ``gemm``; by default it is told from the header (4 named
    columns: GEMM, 8: conv). ``name`` defaults to the file's stem, as SCALE-Sim names runs.
    """
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ValueError(f"{p}: cannot read topology file: {e.strerror or e}") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(f"{p}:1: expected a header line ({', '.join(CONV_HEADER)}, or "
                         f"{', '.join(GEMM_HEADER)} for GEMMs)")
    header = tuple(_fields(lines[0]))
    if header and header[1:2] and header[1].lstrip("-").isdigit():
        raise ValueError(f"{p}:1: the first line must be a header (SCALE-Sim skips it), got data: {lines[0].strip()!r}")
    if fmt is None:
        fmt = "gemm" if len(header) in (4, 5) else "conv" if len(header) in (8, 9) else ""
        if not fmt:
            raise ValueError(f"{p}:1: header has {len(header)} fields; expected 8 ({', '.join(CONV_HEADER)}) "
                             f"or 4 ({', '.join(GEMM_HEADER)})")
    if fmt not in FORMATS:
        raise ValueError(f"fmt: must be one of {', '.join(FORMATS)}; got {fmt!r}")
    names = CONV_HEADER if fmt == "conv" else GEMM_HEADER
    parse = _conv_layers if fmt == "conv" else _gemm_layers
    layers: list[LayerSpec] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        row = _Row(str(p), lineno, names, _fields(line))
        try:
            layer = parse(row)
        except ValueError as e:
            msg = str(e)
            raise ValueError(msg if msg.startswith(str(p)) else f"{p}:{lineno}: {msg}") from None
        if layer.name in seen:
            raise ValueError(f"{row.where(0)}: duplicate layer name {layer.name!r} (first on line {seen[layer.name]})")
        seen[layer.name] = lineno
        layers.append(layer)
    if not layers:
        raise ValueError(f"{p}: no layers after the header")
    return Workload.chain(name or p.stem, layers)


def _conv_rows(layer: LayerSpec) -> Iterable[tuple]:
    """SCALE-Sim conv rows reproducing ``layer``'s GEMM exactly.

    The written IFMAP is the extent the layer actually reads, ``(out - 1) * stride +
    filter`` (padding included, trailing rows a floor-division drops excluded), so
    SCALE-Sim's ceil formula gives back ``out_h x out_w``. A grouped layer is written as
    one ``DP`` row when it is depth-wise with a ``DP`` in its name, else one row per
    group (``name/g0``, ``name/g1``, ...)."""
    if layer.kind != "conv":
        # a GEMM or linear layer as SCALE-Sim's own GEMM-as-conv mapping
        yield (layer.name, layer.M, layer.K, 1, layer.K, 1, layer.N, 1)
        return
    ih = (layer.out_h - 1) * layer.stride + layer.filt_h
    iw = (layer.out_w - 1) * layer.stride + layer.filt_w
    g = layer.groups
    ch_g = layer.channels // g
    if g == 1:
        yield (layer.name, ih, iw, layer.filt_h, layer.filt_w, layer.channels, layer.N, layer.stride)
    elif ch_g == 1 and "DP" in layer.name:
        yield (layer.name, ih, iw, layer.filt_h, layer.filt_w, layer.channels, layer.N // g, layer.stride)
    else:
        for i in range(g):
            yield (f"{layer.name}/g{i}", ih, iw, layer.filt_h, layer.filt_w, ch_g, layer.N // g, layer.stride)


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
