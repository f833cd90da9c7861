"""Dask clusters for campaigns: a LocalCluster (default), an existing scheduler, or Kubernetes.

Examples
--------
Connect to a cluster started elsewhere with ``dask scheduler`` and ``dask worker``::

    with connect(scheduler="tcp://127.0.0.1:8786") as client:
        print(client.dashboard_link)
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

from vlab import config
from vlab.errors import ClusterError, InputError

__all__ = ["connect", "kubernetes_cluster"]

_ADDRESS = re.compile(r"^(tcp|tls|inproc|ws|wss)://[^\s]+$")


def _drop_sizeof_warning(record: logging.LogRecord) -> bool:
    """Logging filter: drop distributed's "Sizeof calculation ... failed" warning.

    With a performance report, workers send deeply nested statistical-profile dicts; dask's
    ``sizeof`` recurses through them, hits the recursion limit and distributed logs a warning
    before using its default message size (dask/distributed#8378). Nothing is lost or slowed,
    so the warning only alarms users.
    """
    return "Sizeof calculation" not in str(record.msg)


def _quiet_sizeof() -> None:
    """Install :func:`_drop_sizeof_warning` on this process's ``distributed.sizeof`` logger."""
    logger = logging.getLogger("distributed.sizeof")
    if _drop_sizeof_warning not in logger.filters:
        logger.addFilter(_drop_sizeof_warning)


def _prepare(client) -> None:
    """Quiet the sizeof warning here, on the workers, and on workers that join later."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class _Quiet(WorkerPlugin):
        name = "vlab-quiet-sizeof"

        def setup(self, worker):
            _quiet_sizeof()

    _quiet_sizeof()
    client.register_plugin(_Quiet())


_MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "daskcluster.yaml"
_K8S_TIMEOUT = 20.0  # seconds to reach the Kubernetes API server before giving up


def kubernetes_cluster(manifest: str | os.PathLike | None = None):
    """A ``dask_kubernetes.operator.KubeCluster`` made from vlab's DaskCluster manifest.

    The cluster gets a fresh name (``<manifest name>-<6 hex digits>``) so that it never
    attaches to, and then deletes, a DaskCluster that someone else created; it is deleted
    when the returned object is closed.

    Parameters
    ----------
    manifest : path, optional
        A ``DaskCluster`` (``kubernetes.dask.org/v1``) YAML file. Default: the configuration
        key ``cluster.kubernetes_manifest``, else ``deploy/kubernetes/daskcluster.yaml`` of
        a source checkout.

    Raises
    ------
    ClusterError
        If the ``k8s`` extra is not installed, the manifest is missing or not a DaskCluster,
        no Kubernetes API server is reachable, the dask-kubernetes operator is not
        installed there, or the cluster does not start.
    """
    try:
        from dask_kubernetes.operator import KubeCluster
    except ImportError:
        raise ClusterError(
            "--kubernetes needs the dask-kubernetes operator client, which is not installed: "
            "pip install 'vlab[k8s]'."
        ) from None
    resource = _cluster_resource(_manifest_path(manifest))
    _check_kubernetes()
    try:
        return KubeCluster(custom_cluster_spec=resource, shutdown_on_close=True)
    except Exception as err:  # kr8s/httpx/operator errors have no common base class
        raise ClusterError(
            f"Could not create the Dask cluster {resource['metadata']['name']!r} on "
            f"Kubernetes ({type(err).__name__}: {_one_line(err)}). Check the operator and "
            "the pods: kubectl get daskclusters,pods; see deploy/README.md."
        ) from None


def _manifest_path(manifest: str | os.PathLike | None) -> Path:
    path = Path(manifest or config.get("cluster.kubernetes_manifest", None) or _MANIFEST)
    if not path.is_file():
        raise ClusterError(
            f"The Kubernetes manifest {str(path)!r} does not exist. Set the configuration key "
            "cluster.kubernetes_manifest (VLAB_CLUSTER__KUBERNETES_MANIFEST) to a DaskCluster "
            "YAML file such as deploy/kubernetes/daskcluster.yaml."
        )
    return path


def _cluster_resource(path: Path) -> dict:
    """The DaskCluster resource of ``path`` under a fresh name (service selector included)."""
    import yaml

    try:
        resource = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ClusterError(f"The Kubernetes manifest {str(path)!r} is not YAML: {err}") from None
    kind = resource.get("kind") if isinstance(resource, dict) else None
    if kind != "DaskCluster" or resource.get("apiVersion") != "kubernetes.dask.org/v1":
        raise ClusterError(
            f"The Kubernetes manifest {str(path)!r} must hold one DaskCluster resource "
            f"(apiVersion kubernetes.dask.org/v1). Got kind {kind!r}."
        )
    resource = copy.deepcopy(resource)
    metadata = resource.setdefault("metadata", {})
    name = f"{metadata.get('name', 'vlab')}-{uuid.uuid4().hex[:6]}"
    metadata["name"] = name
    service = (resource.get("spec") or {}).get("scheduler", {}).get("service", {})
    if isinstance(service.get("selector"), dict):
        service["selector"]["dask.org/cluster-name"] = name
    return resource


def _check_kubernetes(timeout: float = _K8S_TIMEOUT) -> None:
    """Fail fast, with a clear message, when no API server or no operator is reachable."""
    import asyncio

    import kr8s.asyncio

    async def probe() -> None:
        api = await kr8s.asyncio.api()  # loads kubeconfig or the service account, asks /version
        try:
            await api.lookup_kind("daskcluster.kubernetes.dask.org/v1")
        except ValueError:
            raise ClusterError(
                "The Kubernetes cluster has no DaskCluster resource kind: install the "
                "dask-kubernetes operator first (helm install ... dask-kubernetes-operator; "
                "see deploy/README.md)."
            ) from None

    try:
        asyncio.run(asyncio.wait_for(probe(), timeout))
    except ClusterError:
        raise
    except Exception as err:  # no credentials (ValueError), refused, TLS, timeout, ...
        why = f"{type(err).__name__}: {_one_line(err)}" if str(err) else type(err).__name__
        raise ClusterError(
            f"No Kubernetes cluster is reachable ({why}). vlab uses the current context of "
            "$KUBECONFIG or ~/.kube/config (or the pod's service account); check it with "
            "kubectl cluster-info."
        ) from None


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300]


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
    if scheduler is not None and not _ADDRESS.match(scheduler):
        raise InputError(
            f"The scheduler address must look like tcp://HOST:PORT. Got {scheduler!r}."
        )
    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            try:
                client = stack.enter_context(Client(scheduler, timeout="10s"))
            except OSError as err:
                raise ClusterError(
                    f"Could not reach the Dask scheduler at {scheduler}: {err}"
                ) from None
        else:
            cluster = stack.enter_context(
                kubernetes_cluster()
                if kubernetes
                else LocalCluster(
                    n_workers=workers or config.get("cluster.n_workers"),
                    threads_per_worker=config.get("cluster.threads_per_worker"),
                    processes=True,
                    dashboard_address=config.get("cluster.dashboard_address"),
                    memory_limit=config.get("cluster.memory_limit"),
                )
            )
            client = stack.enter_context(Client(cluster))
        _prepare(client)
        yield client
