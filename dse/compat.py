"""Old module paths, kept importable after the redesign of ``dse/`` (issue 17).

``import dse.train`` gives the very module object ``dse.training`` (not a copy), so code,
pickles and ``monkeypatch.setattr("dse.train.X", ...)`` written against the old layout keep
working. New code imports the new paths; this table is the only place that names the old.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys

#: old module -> its home now
MOVED = {
    "dse.train": "dse.training",
    "dse.storage": "dse.study.storage",
    "dse.pareto": "dse.study.pareto",
    "dse.preflight": "dse.study.preflight",
    "dse.progress": "dse.study.progress",
    "dse.multires": "dse.methods.multires",
    "dse.allocate": "dse.methods.allocate",
    "dse.msq": "dse.methods.msq",
    "dse.qonnx_export": "dse.export.qonnx",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old name in :data:`MOVED` and loads it as the new module itself."""

    def find_spec(self, fullname, path=None, target=None):  # noqa: D401 - importlib protocol
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=False)

    def create_module(self, spec):
        module = importlib.import_module(MOVED[spec.name])
        spec.loader_state = module.__spec__  # the import system is about to overwrite it
        return module

    def exec_module(self, module):
        module.__spec__ = module.__spec__.loader_state  # give the module back its own spec


def install() -> None:
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.append(_Alias())
