"""vlab: a Dask-distributed high-throughput virtual lab for materials discovery.

Subpackages
-----------
``vlab.conductance``  break-junction MD, reference conductance, local-descriptor surrogate.
``vlab.polymers``     polymer data, transfer learning, iQSPR inverse design.
``vlab.campaign``     campaign specs and the Dask engine.
``vlab.catalog``      zarr/xarray stores and the catalog index.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
