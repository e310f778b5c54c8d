"""dse: hardware-aware quantization design-space exploration (CLI, quantizers, training,
studies, Pareto maths, reports)."""

from .compat import install as _install_aliases
from .errors import UserError

_install_aliases()  # old module paths (dse.train, dse.storage, ...) keep importing

__all__ = ["UserError", "__version__"]


def __getattr__(name: str):
    # __version__ is read from the installed metadata on first use (importlib.metadata costs
    # ~10 ms of every start-up otherwise, `dse --help` included)
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("termfront-dse")
        except PackageNotFoundError:  # running from a source tree that was not installed
            value = "0.0.0+unknown"
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
