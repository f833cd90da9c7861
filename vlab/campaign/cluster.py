"""Dask clusters for campaigns: a LocalCluster (default), an existing scheduler, or Kubernetes.

Examples
--------
Connect to a cluster started elsewhere with ``dask scheduler`` and ``dask worker``::

    with connect(scheduler="tcp://127.0.0.1:8786") as client:
        print(client.dashboard_link)
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from vlab import config
from vlab.errors import ClusterError, InputError

__all__ = ["connect", "kubernetes_cluster"]

_ADDRESS = re.compile(r"^(tcp|tls|inproc|ws|wss)://[^\s]+$")


def kubernetes_cluster(manifest: str | os.PathLike | None = None):
    """A ``dask_kubernetes.operator.KubeCluster`` made from vlab's DaskCluster manifest.

    Raises
    ------
    ClusterError
        If the ``k8s`` extra is not installed or no Kubernetes cluster is reachable.
    """
    try:
        from dask_kubernetes.operator import KubeCluster
    except ImportError:
        raise ClusterError(
            "--kubernetes needs the dask-kubernetes operator client: pip install 'vlab[k8s]'."
        ) from None
    import yaml

    path = Path(
        manifest
        or config.get("cluster.kubernetes_manifest", None)
        or Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "daskcluster.yaml"
    )
    if not path.is_file():
        raise ClusterError(f"Kubernetes manifest {str(path)!r} not found.")
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        return KubeCluster(custom_cluster_spec=spec, shutdown_on_close=True)
    except Exception as err:  # kubernetes raises many kinds (config, connection, API)
        raise ClusterError(
            f"Could not create a Dask cluster on Kubernetes ({type(err).__name__}: {err}). "
            "Is a cluster reachable (kubectl cluster-info) with the dask-kubernetes operator "
            "installed? See deploy/README.md."
        ) from None


@contextlib.contextmanager
def connect(
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    kubernetes: bool = False,
) -> Iterator:
    """A ``distributed.Client`` for a campaign; closes what it created on exit.

    Parameters
    ----------
    workers : int, optional
        Worker processes of a new LocalCluster (default: ``cluster.n_workers``).
    scheduler : str, optional
        Address ``tcp://HOST:PORT`` of an existing scheduler to connect to instead.
    kubernetes : bool
        Create the cluster on Kubernetes through the dask-kubernetes operator.
    """
    from distributed import Client, LocalCluster

    chosen = sum([workers is not None, scheduler is not None, bool(kubernetes)])
    if chosen > 1:
        raise InputError("Use only one of --workers, --scheduler and --kubernetes.")
    if workers is not None and workers < 1:
        raise InputError(f"The number of workers must be >= 1. Got {workers}.")
    if scheduler is not None:
        if not _ADDRESS.match(scheduler):
            raise InputError(
                f"The scheduler address must look like tcp://HOST:PORT. Got {scheduler!r}."
            )
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as err:
            raise ClusterError(
                f"Could not reach the Dask scheduler at {scheduler}: {err}"
            ) from None
        with client:
            yield client
        return
    if kubernetes:
        with kubernetes_cluster() as cluster, Client(cluster) as client:
            yield client
        return
    cluster = LocalCluster(
        n_workers=workers or config.get("cluster.n_workers"),
        threads_per_worker=config.get("cluster.threads_per_worker"),
        processes=True,
        dashboard_address=config.get("cluster.dashboard_address"),
        memory_limit=config.get("cluster.memory_limit"),
    )
    with cluster, Client(cluster) as client:
        yield client
