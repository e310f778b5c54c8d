"""dse: hardware-aware quantization design-space exploration (CLI, quantizers, training,
studies, Pareto maths, reports)."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("termfront-dse")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

from .compat import install as _install_aliases
from .errors import UserError

_install_aliases()  # old module paths (dse.train, dse.storage, ...) keep importing

__all__ = ["UserError", "__version__"]
