"""vlab: a Dask-distributed high-throughput virtual lab for materials discovery.

Subpackages
-----------
``vlab.conductance``  break-junction MD, reference conductance, local-descriptor surrogate.
``vlab.polymers``     polymer data, transfer learning, iQSPR inverse design.
``vlab.campaign``     campaign specs and the Dask engine.
``vlab.catalog``      zarr/xarray stores and the catalog index.

In a notebook or script, call ``vlab.pin_blas_threads(1)`` first: on small machines a
multi-threaded BLAS makes the conductance lab's small dense matrix work many times slower
(vlab's command line and Dask workers do this themselves).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from vlab._utils import pin_blas_threads

try:
    __version__ = version("vlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "pin_blas_threads"]
