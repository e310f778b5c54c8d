"""Run the ``dse`` CLI on a user mistake and check the contract: exit code 2, exactly one
line on stderr naming the problem, no traceback, nothing on stdout, and nothing created
or modified under the watched directories.

In-process (``main()``, fast: most of the corpus) or in a subprocess (the real console
script path, for a sample and for anything touching signals or limits)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory under ``roots``: path -> (size, mtime_ns)."""
    out: dict[str, tuple[int, int]] = {}
    for root in roots:
        root = Path(root)
        if not root.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                st = p.lstat()
                out[str(p)] = (st.st_size if p.is_file() else -1, st.st_mtime_ns if p.is_file() else 0)
    return out


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_inprocess(argv: list[str], cwd: Path) -> Result:
    """``dse.cli.main(argv)`` with cwd = ``cwd``; SystemExit (argparse) becomes the code."""
    from dse.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    dont_write = sys.dont_write_bytecode
    os.chdir(cwd)
    sys.path.insert(0, str(cwd))
    sys.dont_write_bytecode = True
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    finally:
        os.chdir(old)
        sys.path.remove(str(cwd))
        sys.dont_write_bytecode = dont_write
        for name in [m for m in sys.modules if m.startswith("usermod")]:
            del sys.modules[name]  # user modules of one case must not leak into the next
    return Result(rc, out.getvalue(), err.getvalue())


def run_subprocess(argv: list[str], cwd: Path, env: dict | None = None, timeout: float = 300) -> Result:
    env = dict(env or os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(cwd), env.get("PYTHONPATH", "")])
    r = subprocess.run([sys.executable, "-m", "dse", *argv], capture_output=True, text=True, cwd=cwd, env=env,
                       timeout=timeout)
    return Result(r.returncode, r.stdout, r.stderr)


def assert_refused(r: Result, before: dict, after: dict, expect: str | tuple[str, ...] = ()) -> str:
    """The mistake contract; returns the one stderr line."""
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, f"exit {r.returncode}, stderr: {r.stderr!r}"
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}: {r.stderr!r}"
    line = lines[0]
    assert "error" in line, line
    for part in (expect,) if isinstance(expect, str) else expect:
        assert part in line, f"{part!r} not in {line!r}"
    assert r.stdout == "", f"stdout: {r.stdout!r}"
    created = sorted(set(after) - set(before))
    changed = sorted(k for k in set(after) & set(before) if after[k] != before[k])
    removed = sorted(set(before) - set(after))
    assert not created and not changed and not removed, f"created {created}, changed {changed}, removed {removed}"
    return line
