"""Workload vocabulary: compute layers as GEMMs, and the graph that connects them.

A :class:`LayerSpec` views one Conv1d/Conv2d/Linear layer as a matrix product
``(M x K) @ (K x N)`` per group:

- ``M``: output pixels (out_h * out_w, times batch); 1 (x batch) for a linear layer;
- ``K``: reduction window, filt_h * filt_w * channels / groups;
- ``N``: filters (output channels), all groups together.

MACs are ``M * K * N``; weights are ``K * N``. A grouped convolution is ``groups``
independent GEMMs of ``M x K x N/groups`` (depthwise: groups == channels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

if TYPE_CHECKING:
    import networkx as nx

LAYER_KINDS = ("conv", "linear", "gemm")


def layer_sum(attr: str, cast: Callable[[Any], Any] | None = None) -> property:
    """A read-only property: the sum of ``attr`` over ``self.layers`` (``cast`` applied to the
    total, e.g. ``float``). The totals of a workload, a hardware report and the complexity
    metrics are all such sums."""
    def total(self: Any) -> Any:
        s = sum(getattr(layer, attr) for layer in self.layers)
        return cast(s) if cast is not None else s

    total.__name__ = attr
    return property(total, doc=f"the layers' {attr}, summed")


@dataclass(frozen=True)
class LayerSpec:
    """One compute layer as a GEMM plus its convolution geometry (SI-free: counts only)."""

    name: str
    M: int
    K: int
    N: int
    kind: str = "gemm"
    groups: int = 1
    ifmap_h: int = 1
    ifmap_w: int = 1
    filt_h: int = 1
    filt_w: int = 1
    channels: int = 0
    stride: int = 1
    out_h: int = 1
    out_w: int = 1

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError("name: a layer needs a non-empty name")
        if self.kind not in LAYER_KINDS:
            raise ValueError(f"kind: must be one of {', '.join(LAYER_KINDS)}; got {self.kind!r} (layer {self.name})")
        for f in ("M", "K", "N", "groups", "ifmap_h", "ifmap_w", "filt_h", "filt_w", "stride", "out_h", "out_w"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{f}: must be a positive integer, got {v!r} (layer {self.name})")
        if self.N % self.groups:
            raise ValueError(f"groups: N={self.N} filters do not split into {self.groups} groups (layer {self.name})")
        if self.channels == 0:
            object.__setattr__(self, "channels", self.K * self.groups // (self.filt_h * self.filt_w) or self.K)

    @property
    def macs(self) -> int:
        return self.M * self.K * self.N

    @property
    def weights(self) -> int:
        return self.K * self.N

    @property
    def n_per_group(self) -> int:
        return self.N // self.groups

    @property
    def input_elems(self) -> int:
        """Input feature-map elements read (each once)."""
        return self.ifmap_h * self.ifmap_w * self.channels if self.kind == "conv" else self.M * self.K * self.groups

    @property
    def output_elems(self) -> int:
        return self.M * self.N

    @classmethod
    def conv(cls, name: str, ifmap_h: int, ifmap_w: int, filt_h: int, filt_w: int, channels: int,
             num_filters: int, stride: int = 1, padding: int = 0, groups: int = 1, batch: int = 1) -> "LayerSpec":
        """A 2-D convolution (use ifmap_h = filt_h = 1 for 1-D)."""
        out_h = (ifmap_h + 2 * padding - filt_h) // stride + 1
        out_w = (ifmap_w + 2 * padding - filt_w) // stride + 1
        if out_h < 1 or out_w < 1:
            raise ValueError(f"filter: {filt_h}x{filt_w} filter does not fit a {ifmap_h}x{ifmap_w} input (layer {name})")
        if channels % groups:
            raise ValueError(f"groups: {channels} channels do not split into {groups} groups (layer {name})")
        return cls(name=name, kind="conv", M=out_h * out_w * batch, K=filt_h * filt_w * channels // groups,
                   N=num_filters, groups=groups, ifmap_h=ifmap_h + 2 * padding, ifmap_w=ifmap_w + 2 * padding,
                   filt_h=filt_h, filt_w=filt_w, channels=channels, stride=stride, out_h=out_h, out_w=out_w)

    @classmethod
    def linear(cls, name: str, in_features: int, out_features: int, batch: int = 1) -> "LayerSpec":
        return cls(name=name, kind="linear", M=batch, K=in_features, N=out_features, channels=in_features)

    @classmethod
    def gemm(cls, name: str, M: int, K: int, N: int) -> "LayerSpec":
        return cls(name=name, kind="gemm", M=M, K=K, N=N, channels=K)


@dataclass(frozen=True)
class Workload:
    """Compute layers in execution order plus data-dependency edges between them.

    ``edges`` hold (producer, consumer) layer names; non-compute nodes (adds, concats,
    inputs) may appear in edges under their own names. Hashable, so per-workload costs
    can be memoised.
    """

    name: str
    layers: tuple[LayerSpec, ...]
    edges: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        seen: set[str] = set()
        for layer in self.layers:
            if layer.name in seen:
                raise ValueError(f"layers: duplicate layer name {layer.name!r} in workload {self.name!r}")
            seen.add(layer.name)
        if not self.edges and len(self.layers) > 1:
            chain = tuple((a.name, b.name) for a, b in zip(self.layers, self.layers[1:]))
            object.__setattr__(self, "edges", chain)
        else:
            object.__setattr__(self, "edges", tuple((str(a), str(b)) for a, b in self.edges))

    @cached_property
    def graph(self) -> nx.DiGraph:
        """Layers (``compute=True``, ``layer=``) and other nodes joined by the edges; networkx
        is imported here, on first use, not with hwmodels (start-up of ``dse hw``, issue 16)."""
        import networkx as nx

        g = nx.DiGraph()
        for layer in self.layers:
            g.add_node(layer.name, compute=True, layer=layer)
        for a, b in self.edges:
            for n in (a, b):
                if n not in g:
                    g.add_node(n, compute=False)
            g.add_edge(a, b)
        return g

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("graph", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    def layer(self, name: str) -> LayerSpec:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"layer {name!r} is not in workload {self.name!r}; layers: {', '.join(self.layer_names)}")

    macs = layer_sum("macs")
    weights = layer_sum("weights")

    @classmethod
    def chain(cls, name: str, layers: Iterable[LayerSpec]) -> "Workload":
        return cls(name=name, layers=tuple(layers))

    def subset(self, names: Sequence[str]) -> "Workload":
        keep = set(names)
        return Workload(self.name, tuple(l for l in self.layers if l.name in keep),
                        tuple(e for e in self.edges if e[0] in keep or e[1] in keep))
