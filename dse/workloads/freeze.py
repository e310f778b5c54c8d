"""Rewrite the stored hardware views of the built-in shape networks (needs torch).

    python -m dse.workloads.freeze            # rewrite dse/workloads/data/*.json
    python -m dse.workloads.freeze --check    # exit 1 naming each file that is out of date

Run it after changing dse/workloads/shapes.py or trace.py (tests/dse/test_workloads_frozen.py
fails until then). Each network is traced fresh at its default options.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from . import frozen


def defaults_of(fn: Any) -> dict[str, Any]:
    """The keyword defaults of a workload function (the options a stored file is valid for)."""
    return {p.name: p.default for p in inspect.signature(fn).parameters.values() if p.default is not p.empty}


def frozen_text(name: str) -> str:
    """The file content for built-in ``name``, traced now with torch."""
    from .registry import get_workload, resolve

    options = defaults_of(resolve(name).load())
    bundle = get_workload(name, **options)
    data = frozen.to_dict(bundle.spec, options, tuple(bundle.example_input.shape), frozen.source_digest())
    return frozen.dumps(data)


def freeze(names: Sequence[str] = frozen.NAMES, directory: Path = frozen.DATA_DIR, check: bool = False) -> list[Path]:
    """Write (or with ``check``, only compare) the stored files; returns those that were
    (or would be) changed."""
    changed = []
    for name in names:
        if name not in frozen.NAMES:
            raise ValueError(f"{name!r} is not a stored built-in; stored: {', '.join(frozen.NAMES)}")
        path = frozen.path_of(name, directory)
        text = frozen_text(name)
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old == text:
            continue
        changed.append(path)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
    return changed


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dse.workloads.freeze", description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=list(frozen.NAMES), help="networks (default: all stored ones)")
    ap.add_argument("--check", action="store_true", help="only report out-of-date files (exit 1 if any)")
    ap.add_argument("--dir", type=Path, default=frozen.DATA_DIR, help="where the files are (default: package data)")
    args = ap.parse_args(argv)
    bad = [n for n in args.names if n not in frozen.NAMES]
    if bad:
        print(f"freeze: unknown network(s) {', '.join(bad)}; stored: {', '.join(frozen.NAMES)}", file=sys.stderr)
        return 2
    changed = freeze(args.names, args.dir, check=args.check)
    for path in changed:
        print(f"{'out of date' if args.check else 'wrote'}: {path}")
    if args.check and changed:
        print(f"run: {frozen.FREEZE_COMMAND}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
