"""Shared fixtures: BLAS pinned to one thread, a private catalog index, Dask clients."""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402

from vlab._utils import pin_blas_threads  # noqa: E402

pin_blas_threads(1)


@pytest.fixture(autouse=True)
def _private_catalog(tmp_path_factory, monkeypatch):
    """Every test gets its own catalog index, never the repository's catalogs/."""
    index = tmp_path_factory.mktemp("catalog-index")
    monkeypatch.setenv("VLAB_CATALOG__INDEX_DIR", str(index))
    monkeypatch.setenv("VLAB_CAMPAIGN__PERFORMANCE_REPORT", "false")
    return index


@pytest.fixture(scope="session")
def dask_client():
    """A LocalCluster of two single-threaded worker processes on loopback."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture(params=["synchronous", "distributed"])
def client_or_none(request):
    """Parametrise a test over in-process execution and a real Dask cluster."""
    if request.param == "synchronous":
        return None
    return request.getfixturevalue("dask_client")
