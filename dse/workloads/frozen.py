"""The built-in shape-only networks' hardware views, stored as package data (issues 13, 16).

Tracing ``resnet18``, ``resnet50`` or ``mobilenetv2`` needs torch (and torch.fx), which
costs seconds of start-up in every hardware-only command and every ``dse search --jobs N``
worker. Their :class:`hwmodels.Workload` at the default options is therefore stored in
``dse/workloads/data/NAME.json`` and read here without torch; other options still trace.

The file is a small versioned JSON: ``format`` / ``version``, the workload ``name``, the
``options`` it was traced with, the ``input_shape`` (batch included), ``source_sha256`` (of
``shapes.py`` + ``trace.py``, line endings normalised), ``layers`` (every
:class:`~hwmodels.LayerSpec` field) and ``edges``. A file whose digest no longer matches the
sources is not used (the network is traced instead), and tests/dse/test_workloads_frozen.py
fails until the files are rewritten with ``python -m dse.workloads.freeze``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Mapping, Optional

from hwmodels.workload import LayerSpec, Workload

FORMAT = "dse.workloads.frozen"
VERSION = 1
#: the built-in networks stored here, and the sources whose digest each file records
NAMES = ("resnet18", "resnet50", "mobilenetv2")
SOURCES = ("shapes.py", "trace.py")
HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
FREEZE_COMMAND = "python -m dse.workloads.freeze"

_LAYER_FIELDS = tuple(f.name for f in dataclasses.fields(LayerSpec))


def source_digest(directory: Path = HERE) -> str:
    """sha256 over the sources that decide a built-in shape network's trace."""
    h = hashlib.sha256()
    for name in SOURCES:
        h.update(name.encode() + b"\0")
        h.update((directory / name).read_bytes().replace(b"\r\n", b"\n"))
        h.update(b"\0")
    return h.hexdigest()


def to_dict(workload: Workload, options: Mapping[str, Any], input_shape: tuple[int, ...],
            digest: str) -> dict[str, Any]:
    """The stored form of ``workload`` (see the module docstring)."""
    return {
        "format": FORMAT, "version": VERSION, "name": workload.name,
        "options": dict(sorted(options.items())), "input_shape": list(input_shape), "source_sha256": digest,
        "layers": [{f: getattr(layer, f) for f in _LAYER_FIELDS} for layer in workload.layers],
        "edges": [list(e) for e in workload.edges],
    }


def dumps(data: Mapping[str, Any]) -> str:
    """JSON text with one layer and one edge per line (readable diffs when a network changes)."""
    head = {k: v for k, v in data.items() if k not in ("layers", "edges")}
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    for key in ("layers", "edges"):
        items = [f"    {json.dumps(v)}" for v in data[key]]
        lines.append(f"  {json.dumps(key)}: [")
        lines.append(",\n".join(items))
        lines.append("  ]," if key == "layers" else "  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def from_dict(data: Mapping[str, Any]) -> Workload:
    """The :class:`Workload` a stored dict describes (ValueError if it is not one)."""
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ValueError(f"not a {FORMAT} version {VERSION} file (format {data.get('format')!r}, "
                         f"version {data.get('version')!r})")
    layers = tuple(LayerSpec(**{f: row[f] for f in _LAYER_FIELDS}) for row in data["layers"])
    return Workload(str(data["name"]), layers, tuple((str(a), str(b)) for a, b in data["edges"]))


def path_of(name: str, directory: Path = DATA_DIR) -> Path:
    return directory / f"{name}.json"


def read(name: str, directory: Path = DATA_DIR) -> Optional[dict[str, Any]]:
    """The stored dict of ``name``, or ``None`` when there is no readable file."""
    try:
        return json.loads(path_of(name, directory).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _same(given: Any, default: Any) -> bool:
    """An option value equals the stored default (``-o image_size=224`` arrives as text)."""
    if isinstance(given, bool) or isinstance(default, bool):
        return given is default
    return given == default or (isinstance(given, str) and given.strip() == str(default))


def load(name: str, options: Mapping[str, Any] | None = None, directory: Path = DATA_DIR,
         sources: Path = HERE) -> Optional[Workload]:
    """The stored hardware view of built-in ``name`` when ``options`` are its defaults (given
    or not) and the file is current; ``None`` otherwise (then trace the network with torch)."""
    if name not in NAMES:
        return None
    data = read(name, directory)
    if data is None or data.get("source_sha256") != source_digest(sources):
        return None
    stored = data.get("options") or {}
    if any(k not in stored or not _same(v, stored[k]) for k, v in (options or {}).items()):
        return None
    try:
        return from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None


__all__ = ["DATA_DIR", "FORMAT", "FREEZE_COMMAND", "NAMES", "VERSION", "dumps", "from_dict", "load", "path_of",
           "read", "source_digest", "to_dict"]
