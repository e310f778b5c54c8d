"""A derived-data cache for built-in data sets that are generated or converted on every load
(MNIST-1D's procedural generator, scikit-learn's bundled digits): the generator and its imports
cost 1-2 s of CPU in every process (each ``--jobs`` worker, each ``dse worker``), the cached
``.npz`` file a few milliseconds, and the arrays are the same bit for bit (tests compare them).

Files live in ``$DSE_DATA_CACHE`` (``0``/``off`` disables the cache), else
``$XDG_CACHE_HOME/termfront-dse/data`` or ``~/.cache/termfront-dse/data``: like the native
kernels' build cache, deliberately not under ``$DSE_CACHE_DIR`` (which holds a user's trained
weights and which ``--dry-run`` leaves untouched). A file is keyed by everything its arrays depend
on (the data set's options, the generating package's version, a format number); a missing,
truncated or foreign file is regenerated, and writes are atomic (a temporary file renamed into
place), so concurrent workers never read half a file. A read-only or full disk means no cache,
never an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import numpy as np

ENV = "DSE_DATA_CACHE"

__all__ = ["ENV", "cached", "data_cache_dir", "package_version"]


def data_cache_dir() -> Optional[Path]:
    """The cache directory, or ``None`` when disabled (``DSE_DATA_CACHE=0``) or there is no home."""
    own = os.environ.get(ENV)
    if own is not None and own.strip().lower() in ("0", "off", "false", "no", ""):
        return None
    if own:
        return Path(own).expanduser()
    try:
        xdg = os.environ.get("XDG_CACHE_HOME")
        return (Path(xdg) if xdg else Path.home() / ".cache") / "termfront-dse" / "data"
    except (RuntimeError, KeyError):  # no home directory
        return None


def package_version(name: str) -> Optional[str]:
    """The installed version of the package that makes the data (``None``: do not cache)."""
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return None


def _file(name: str, key: Mapping[str, Any]) -> Optional[Path]:
    root = data_cache_dir()
    if root is None:
        return None
    digest = hashlib.sha256(json.dumps(dict(key), sort_keys=True).encode()).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "data"
    return root / f"{safe}-{digest}.npz"


def _write(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        pass


def cached(name: str, key: Optional[Mapping[str, Any]], make: Callable[[], dict[str, np.ndarray]],
           valid: Callable[[dict[str, np.ndarray]], bool]) -> dict[str, np.ndarray]:
    """``make()``'s arrays, from the cache file for ``(name, key)`` when it holds arrays that
    ``valid`` accepts, else made and written there. ``key=None``: no cache (made every time)."""
    path = _file(name, key) if key is not None else None
    if path is not None:
        got = _read(path)
        if got is not None and valid(got):
            return got
    arrays = make()
    if path is not None:
        _write(path, arrays)
    return arrays


def _read(path: Path) -> Optional[dict[str, np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception:  # absent, truncated, foreign: regenerate
        return None
