"""dse.quant.native: compile once, cache by source hash, fall back to None, never half-written."""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dse.quant import native

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="no C compiler on this machine")

SRC = "#include <stdint.h>\nint64_t twice(int64_t x) { return 2 * x; }\n"


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """A throwaway kernel source beside the real ones, and an empty cache directory."""
    name = f"_test_twice_{os.getpid()}"
    src = Path(native.__file__).parent / f"{name}.c"
    src.write_text(SRC)
    monkeypatch.setenv("DSE_NATIVE_CACHE", str(tmp_path / "cache" / "native"))
    monkeypatch.delenv("DSE_NATIVE", raising=False)
    native._LOADED.pop(name, None)
    yield name, src, tmp_path / "cache" / "native"
    native._LOADED.pop(name, None)
    src.unlink()


def test_compiles_once_caches_and_loads(kernel):
    name, _, cache = kernel
    lib = native.load(name)
    assert lib is not None
    lib.twice.restype = ctypes.c_int64
    assert lib.twice(ctypes.c_int64(21)) == 42
    built = sorted(p.name for p in cache.iterdir())
    assert len(built) == 1 and built[0].startswith(name) and built[0].endswith(".so")
    assert native.load(name) is lib                      # once per process
    native._LOADED.pop(name)
    mtime = (cache / built[0]).stat().st_mtime_ns
    assert native.load(name) is not None                 # a new process would reuse the file
    assert (cache / built[0]).stat().st_mtime_ns == mtime
    assert sorted(p.name for p in cache.iterdir()) == built   # no temporary left behind


def test_changed_source_gets_a_new_library(kernel):
    name, src, cache = kernel
    assert native.load(name) is not None
    native._LOADED.pop(name)
    src.write_text(SRC.replace("2 * x", "3 * x"))
    lib = native.load(name)
    lib.twice.restype = ctypes.c_int64
    assert lib.twice(ctypes.c_int64(7)) == 21
    assert len(list(cache.iterdir())) == 2


@pytest.mark.parametrize("value", ["0", "off", "false", "no"])
def test_disabled_by_environment(kernel, monkeypatch, value):
    name, _, cache = kernel
    monkeypatch.setenv("DSE_NATIVE", value)
    assert native.load(name) is None
    assert not cache.exists()


def test_no_compiler_or_broken_source_is_none(kernel, monkeypatch):
    name, src, _ = kernel
    src.write_text("this is not C\n")
    assert native.load(name) is None
    native._LOADED.pop(name)
    src.write_text(SRC)
    monkeypatch.setenv("CC", "/nonexistent/cc")
    assert native.load(name) is None
    assert native.load("no_such_kernel_anywhere") is None


def test_two_processes_building_at_once_both_load(kernel):
    name, _, cache = kernel
    code = textwrap.dedent(f"""
        import ctypes
        from dse.quant import native
        lib = native.load({name!r})
        lib.twice.restype = ctypes.c_int64
        print(lib.twice(ctypes.c_int64(5)))
    """)
    env = dict(os.environ, DSE_NATIVE_CACHE=str(cache))
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(3)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert outs == ["10", "10", "10"]
    assert [p.suffix for p in cache.iterdir()] == [".so"]
