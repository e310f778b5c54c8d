"""Fused CPU kernels in plain C, compiled once on first use and loaded with ctypes.

Each kernel lives in ``dse/quant/native/<name>.c`` (shipped as package data) and works on raw
float32/int32 buffers (``tensor.data_ptr()``): one pass over memory where the pure-torch path
needs several kernels. Nothing here is required: ``load(name)`` returns ``None`` when there is
no C compiler, the compile fails, ``DSE_NATIVE=0`` is set, or the platform is not one we build
for, and every caller then takes its pure-torch path, which gives the same numbers bit for bit
(the C code uses the same IEEE operations in the same order; ``-ffp-contract=off`` keeps the
compiler from fusing a multiply and an add into one rounding; tests compare both paths).

Built libraries are cached per source hash, compiler flags and CPU in ``$DSE_NATIVE_CACHE``
(default ``$XDG_CACHE_HOME/termfront-dse/native`` or ``~/.cache/termfront-dse/native``): a
build cache like ``__pycache__`` or torch's ``torch_extensions``, deliberately not under
``$DSE_CACHE_DIR`` (which holds a user's trained weights: a ``--dry-run`` leaves that
untouched). A build goes to a temporary file and is renamed into place, so two processes
building at once never load a half-written library.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Optional

__all__ = ["load", "enabled", "cache_dir", "FLAGS"]

_HERE = Path(__file__).resolve().parent
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-fPIC", "-shared", "-std=c11")
_LOCK = threading.Lock()
_LOADED: dict[str, Optional[ctypes.CDLL]] = {}


def enabled() -> bool:
    """False when ``DSE_NATIVE`` is ``0``/``off``/``false``/``no`` (forces the pure-torch paths)."""
    return os.environ.get("DSE_NATIVE", "1").strip().lower() not in ("0", "off", "false", "no")


def cache_dir() -> Path:
    own = os.environ.get("DSE_NATIVE_CACHE")
    if own:
        return Path(own)
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg else Path.home() / ".cache"
    return root / "termfront-dse" / "native"


def _cpu_key() -> str:
    """What -march=native depends on: a library built on one CPU is not loaded on another."""
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features", "model name")):
                    flags += line
    except OSError:
        pass
    return platform.machine() + flags


def _compiler() -> Optional[str]:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    return cc


def _build(name: str) -> Optional[ctypes.CDLL]:
    if not enabled() or sys.platform not in ("linux", "darwin"):
        return None
    src = _HERE / f"{name}.c"
    cc = _compiler()
    if cc is None or not src.is_file():
        return None
    text = src.read_bytes()
    key = hashlib.sha256(text + "\0".join(FLAGS).encode() + cc.encode() + _cpu_key().encode()).hexdigest()[:16]
    try:
        out_dir = cache_dir()
    except (RuntimeError, KeyError):  # no HOME and no passwd entry (Path.home() raises): no cache, torch path
        return None
    lib = out_dir / f"{name}-{key}.so"
    if not lib.is_file():
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".so", dir=out_dir)
            os.close(fd)
            try:
                subprocess.run([cc, *FLAGS, "-o", tmp, str(src), "-lm"], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
                os.replace(tmp, lib)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except (OSError, subprocess.SubprocessError):
            return None
    try:
        return ctypes.CDLL(str(lib))
    except OSError:
        return None


def load(name: str) -> Optional[ctypes.CDLL]:
    """The compiled ``<name>.c`` library, or ``None`` (callers fall back to torch).

    Compiled at most once per process (and once per machine, through the cache); later calls
    return the same object. Respects ``DSE_NATIVE=0`` at the first call for each name.
    """
    try:
        return _LOADED[name]
    except KeyError:
        pass
    with _LOCK:
        if name not in _LOADED:
            _LOADED[name] = _build(name)
        return _LOADED[name]
