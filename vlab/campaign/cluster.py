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
import signal
import sys
import threading
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

from vlab import config
from vlab.errors import ClusterError, InputError

__all__ = ["check_options", "connect", "kubernetes_cluster"]

_ADDRESS = re.compile(r"^(tcp|tls|inproc|ws|wss)://[^\s]+$")


def _drop_sizeof_warning(record: logging.LogRecord) -> bool:
    """Logging filter: drop distributed's "Sizeof calculation ... failed" warning.

    With a performance report, workers send deeply nested statistical-profile dicts; dask's
    ``sizeof`` recurses through them, hits the recursion limit and distributed logs a warning
    before using its default message size (dask/distributed#8378). Nothing is lost or slowed,
    so the warning only alarms users.
    """
    return "Sizeof calculation" not in str(record.msg)


def _drop_cancelled_warning(record: logging.LogRecord) -> bool:
    """Logging filter: drop "Async instruction ... ended with CancelledError".

    A worker logs it for each task still running when it is closed (after Ctrl-C, say): the
    task's result is not wanted any more, so the warning says nothing the user must act on.
    """
    return "ended with CancelledError" not in str(record.msg)


_FILTERS = {
    "distributed.sizeof": _drop_sizeof_warning,
    "distributed.worker.state_machine": _drop_cancelled_warning,
}


def _install_log_filters() -> None:
    """Install the filters of :data:`_FILTERS` on this process's distributed loggers."""
    for name, drop in _FILTERS.items():
        logger = logging.getLogger(name)
        if drop not in logger.filters:
            logger.addFilter(drop)


def _setup_worker() -> None:
    """In a worker process: the log filters, and Ctrl-C left to the client.

    A Ctrl-C in a terminal reaches every process of the foreground group, the LocalCluster's
    worker processes included; the client stops them in order, so they ignore SIGINT.
    """
    _install_log_filters()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _prepare(client, *, local: bool) -> None:
    """Quiet the known warnings here and on the workers (also those that join later).

    On the workers of a cluster made here (``local``), SIGINT is ignored as well.
    """
    from distributed.diagnostics.plugin import WorkerPlugin

    class _Setup(WorkerPlugin):
        name = "vlab-worker-setup"

        def setup(self, worker):
            (_setup_worker if local else _install_log_filters)()

    _install_log_filters()
    client.register_plugin(_Setup())


#: deploy/kubernetes/daskcluster.yaml, shipped with the package (kubernetes/ links to it).
_MANIFEST = Path(__file__).resolve().parent / "kubernetes" / "daskcluster.yaml"
_RUN_LABEL = "vlab-run"  # app.kubernetes.io/managed-by of the clusters vlab creates
_K8S_TIMEOUT = 20.0  # seconds to reach the Kubernetes API server before giving up


def kubernetes_cluster(manifest: str | os.PathLike | None = None):
    """A ``dask_kubernetes.operator.KubeCluster`` made from vlab's DaskCluster manifest.

    The cluster gets a fresh name (``<manifest name>-<6 hex digits>``) so that it never
    attaches to, and then deletes, a DaskCluster that someone else created; it is deleted
    when the returned object is closed.

    Inside the cluster Dask speaks TLS (the manifest mounts the Secret ``vlab-dask-tls``).
    KubeCluster itself cannot: it connects with plain TCP and no ``Security``. So it reaches
    the scheduler through a ``kubectl port-forward``-style tunnel of the Kubernetes API to a
    plain-TCP listener on the scheduler pod's loopback, which no other pod can reach; who may
    open the tunnel is decided by Kubernetes RBAC (``pods/portforward``).

    Parameters
    ----------
    manifest : path, optional
        A ``DaskCluster`` (``kubernetes.dask.org/v1``) YAML file. Default: the configuration
        key ``cluster.kubernetes_manifest``, else the package's copy of
        ``deploy/kubernetes/daskcluster.yaml``.

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
    name = resource["metadata"]["name"]
    try:
        # Always through a port-forward, also from inside Kubernetes: the scheduler's plain
        # TCP port that KubeCluster speaks listens on the scheduler pod's loopback only.
        return _started_within(
            lambda: KubeCluster(
                custom_cluster_spec=resource, shutdown_on_close=True, port_forward_cluster_ip=True
            ),
            float(config.get("cluster.kubernetes_start_timeout")),
            name,
        )
    except ClusterError:
        raise
    except Exception as err:  # kr8s/httpx/operator errors have no common base class
        raise ClusterError(
            f"Could not create the Dask cluster {name!r} on Kubernetes ({type(err).__name__}: "
            f"{_one_line(err)}). Check the operator and the pods: kubectl get "
            "daskclusters,pods; see deploy/README.md."
        ) from None


def _started_within(start, timeout: float, name: str):
    """``start()`` (the cluster), or a ClusterError if it has not returned after ``timeout``
    seconds: dask-kubernetes waits for the scheduler pod without limit unless it crash-loops,
    so a pod that never runs (image not pulled, a Secret missing, no node with room) would
    hold the run forever. The cluster resource is then deleted (best effort)."""
    done = threading.Event()
    result: dict = {}

    def run() -> None:
        try:
            result["cluster"] = start()
        except BaseException as err:  # handed to the caller's thread
            result["error"] = err
        done.set()

    threading.Thread(target=run, name=f"start {name}", daemon=True).start()
    if not done.wait(timeout):
        _delete_cluster(name)
        raise ClusterError(
            f"The Dask cluster {name!r} did not start within {timeout:g} s: its scheduler pod "
            "is not running. Common causes: the image cannot be pulled (ImagePullBackOff), "
            "the Secret vlab-dask-tls is missing (ContainerCreating), or no node has the CPU "
            f"and memory the pods request (Pending); see kubectl describe pods -l "
            f"dask.org/cluster-name={name}. The cluster was deleted. The configuration key "
            "cluster.kubernetes_start_timeout sets the wait."
        )
    if "error" in result:
        raise result["error"]
    return result["cluster"]


def _delete_cluster(name: str) -> None:
    """Delete the DaskCluster ``name`` (in the current namespace), ignoring any failure."""
    import asyncio

    async def delete() -> None:
        from kr8s.asyncio.objects import new_class

        kind = new_class("DaskCluster", "kubernetes.dask.org/v1", namespaced=True)
        await (await kind.get(name)).delete()

    # gone already, or the API unreachable: nothing more to do here
    with contextlib.suppress(Exception):
        asyncio.run(asyncio.wait_for(delete(), _K8S_TIMEOUT))


def _manifest_path(manifest: str | os.PathLike | None) -> Path:
    from vlab.errors import ConfigError

    path = Path(manifest or config.get("cluster.kubernetes_manifest", None) or _MANIFEST)
    if not path.is_file():
        raise ConfigError(
            f"The Kubernetes manifest {str(path)!r} does not exist. Set the configuration key "
            "cluster.kubernetes_manifest (VLAB_CLUSTER__KUBERNETES_MANIFEST) to a DaskCluster "
            "YAML file such as deploy/kubernetes/daskcluster.yaml."
        )
    return path


def _cluster_resource(path: Path) -> dict:
    """The DaskCluster resource of ``path`` under a fresh name (service selector included)."""
    from vlab._yaml import load_yaml_file
    from vlab.errors import ConfigError

    resource = load_yaml_file(path, error=ConfigError, what="Kubernetes manifest")
    kind = resource.get("kind") if isinstance(resource, dict) else None
    if kind != "DaskCluster" or resource.get("apiVersion") != "kubernetes.dask.org/v1":
        raise ConfigError(
            f"The Kubernetes manifest {str(path)!r} must hold one DaskCluster resource "
            f"(apiVersion kubernetes.dask.org/v1). Got kind {kind!r}."
        )
    resource = copy.deepcopy(resource)
    metadata = resource.setdefault("metadata", {})
    base = metadata.get("name", "vlab")
    name = f"{base}-{uuid.uuid4().hex[:6]}"
    metadata["name"] = name
    # deploy/kubernetes/networkpolicy.yaml admits traffic between pods with this label.
    metadata.setdefault("labels", {})["app.kubernetes.io/managed-by"] = _RUN_LABEL
    spec = resource.get("spec") or {}
    service = spec.get("scheduler", {}).get("service", {})
    if isinstance(service.get("selector"), dict):
        service["selector"]["dask.org/cluster-name"] = name
    for role in ("scheduler", "worker"):
        for container in (spec.get(role, {}).get("spec") or {}).get("containers", []):
            for env in container.get("env", []):
                if env.get("name") == "DASK_SCHEDULER_ADDRESS" and "value" in env:
                    env["value"] = env["value"].replace(
                        f"//{base}-scheduler", f"//{name}-scheduler"
                    )
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


def check_options(
    *, workers: int | None = None, scheduler: str | None = None, kubernetes: bool = False
) -> None:
    """Validate where a campaign runs (see :func:`connect`) without starting anything.

    Raises
    ------
    InputError
        If more than one place is chosen, ``workers`` < 1, or ``scheduler`` is no address.
    """
    chosen = sum([workers is not None, scheduler is not None, bool(kubernetes)])
    if chosen > 1:
        raise InputError("Use only one of --workers, --scheduler and --kubernetes.")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
        raise InputError(f"The number of workers must be an integer >= 1. Got {workers!r}.")
    if workers is not None and workers < 1:
        raise InputError(f"The number of workers must be >= 1. Got {workers}.")
    if workers is not None and workers > max_local_workers():
        cpus = os.cpu_count() or 1
        raise InputError(
            f"The number of workers must be at most {max_local_workers()} on this machine "
            f"({cpus} CPUs): each local worker is a process, and more than "
            f"{_WORKERS_PER_CPU} per CPU only compete for them. Got {workers}. For more, "
            "run on a cluster (--scheduler or --kubernetes)."
        )
    if scheduler is not None and not _ADDRESS.match(scheduler):
        raise InputError(
            f"The scheduler address must look like tcp://HOST:PORT. Got {scheduler!r}."
        )


_WORKERS_PER_CPU = 4


def max_local_workers() -> int:
    """The most worker processes of a local cluster: 4 per CPU, at least 8."""
    return max(8, _WORKERS_PER_CPU * (os.cpu_count() or 1))


@contextlib.contextmanager
def connect(
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    kubernetes: bool = False,
) -> Iterator:
    """A ``distributed.Client`` for a campaign; closes what it created on exit.

    On exit the client is closed first, then the cluster, each with a timeout and without
    distributed's shutdown warnings. The worker processes of a LocalCluster do not see a
    Ctrl-C typed in the terminal: the ``KeyboardInterrupt`` of this process closes them.

    Parameters
    ----------
    workers : int, optional
        Worker processes of a new LocalCluster (default: ``cluster.n_workers``). Its
        scheduler, workers and dashboard listen on 127.0.0.1 only; the configuration key
        ``cluster.dashboard_address`` (e.g. ``0.0.0.0:8787``) opens the dashboard.
    scheduler : str, optional
        Address ``tcp://HOST:PORT`` or ``tls://HOST:PORT`` of an existing scheduler to
        connect to instead; for ``tls://`` Dask's own configuration names the certificates
        (``distributed.comm.tls.*``, e.g. ``DASK_DISTRIBUTED__COMM__TLS__CA_FILE``).
    kubernetes : bool
        Create the cluster on Kubernetes through the dask-kubernetes operator.
    """
    from distributed import Client

    check_options(workers=workers, scheduler=scheduler, kubernetes=kubernetes)
    client = cluster = None
    interrupted = False
    try:
        if scheduler is not None:
            client = _remote_client(scheduler)
        else:
            with contextlib.nullcontext() if kubernetes else _sigint_held():
                cluster = kubernetes_cluster() if kubernetes else _local_cluster(workers)
            client = Client(cluster)
        _prepare(client, local=cluster is not None and not kubernetes)
        yield client
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        _shutdown(client, cluster, interrupted=interrupted)


def _remote_client(scheduler: str):
    from distributed import Client

    try:
        return Client(scheduler, timeout="10s")
    except OSError as err:
        raise ClusterError(f"Could not reach the Dask scheduler at {scheduler}: {err}") from None


_LOCAL_SETTINGS = {
    # A task goes to a worker only when one of its threads is free (see _local_cluster).
    "distributed.scheduler.worker-saturation": 1.0,
    # The scheduler and the nannies of a LocalCluster share the client's process, and the
    # workers share the cores with the items: their periodic housekeeping takes CPU from the
    # items whenever every core computes. Dask's defaults poll far more often than a campaign
    # needs: a statistical profile of every worker thread each 10 ms (the performance
    # report's profile keeps its shape at 100 ms), an event-loop tick each 20 ms, the
    # nannies' memory checks each 100 ms and a system monitor each 500 ms.
    "distributed.worker.profile.interval": "100ms",
    "distributed.admin.tick.interval": "200ms",
    "distributed.worker.memory.monitor-interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
}


_SCRIPT_GUARD = (
    "Worker processes start by importing the main script again, so a script that starts a "
    "local cluster (vlab.campaign.connect, run_campaigns with workers) must do so under "
    "'if __name__ == \"__main__\":'."
)


def _local_cluster(workers: int | None):
    """A LocalCluster on loopback; a clear error where a script lacks the main guard."""
    import multiprocessing

    if getattr(multiprocessing.current_process(), "_inheriting", False):
        # a worker process importing the main script (as multiprocessing checks it): it must
        # not start a cluster of its own
        raise ClusterError(
            f"A worker process tried to start a cluster while it started. {_SCRIPT_GUARD}"
        )
    settings = _local_settings(workers)  # checked before anything starts
    try:
        return _new_local_cluster(settings)
    except Exception as err:
        if "failed to start" not in str(err):
            raise
        if _user_script():
            raise ClusterError(
                f"The local Dask workers did not start ({type(err).__name__}: {err}). "
                f"{_SCRIPT_GUARD}"
            ) from err
        raise ClusterError(
            f"The local Dask cluster did not start ({type(err).__name__}: {err}). Its "
            f"settings: {settings}; vlab config shows where they come from."
        ) from err


def _user_script() -> bool:
    """Whether the main module is a script of the user's (not the vlab command)."""
    main = sys.modules.get("__main__")
    spec_name = getattr(getattr(main, "__spec__", None), "name", "") or ""
    file = getattr(main, "__file__", None)
    return bool(file) and Path(file).stem != "vlab" and not spec_name.startswith("vlab")


_DASHBOARD = re.compile(r"[^\s:/]*:\d{1,5}")


def _size(text: str) -> int | None:
    """Bytes of a size in words as Dask reads them ('4GB', '512 MiB', '1e9'), or None."""
    from dask.utils import parse_bytes

    try:
        return parse_bytes(text)
    except (ValueError, TypeError):
        return None


def _local_settings(workers: int | None) -> dict:
    """The LocalCluster's settings from the configuration (``workers`` overrides
    ``cluster.n_workers``), checked: a :class:`~vlab.errors.ConfigError` names the key."""
    from vlab.errors import ConfigError

    n_workers = workers or config.get("cluster.n_workers")
    if n_workers > max_local_workers():
        raise ConfigError(
            f"The configuration key 'cluster.n_workers' must be at most {max_local_workers()} "
            f"on this machine ({os.cpu_count() or 1} CPUs; each local worker is a process); "
            f"got {n_workers}. For more, run on a cluster (--scheduler or --kubernetes)."
        )
    threads = config.get("cluster.threads_per_worker")
    if threads > (os.cpu_count() or 1) * _WORKERS_PER_CPU:
        raise ConfigError(
            "The configuration key 'cluster.threads_per_worker' must be at most "
            f"{(os.cpu_count() or 1) * _WORKERS_PER_CPU} on this machine "
            f"({os.cpu_count() or 1} CPUs); got {threads}."
        )
    memory = config.get("cluster.memory_limit")
    fine = memory is None or memory == "auto"
    fine |= isinstance(memory, int | float) and not isinstance(memory, bool) and memory >= 0
    fine |= isinstance(memory, str) and _size(memory) is not None
    if not fine:
        raise ConfigError(
            "The configuration key 'cluster.memory_limit' must be 'auto', a size such as '4GB' "
            "or '512MiB', or a number (bytes; at most 1: a fraction of the machine's memory, "
            f"0: no limit); got {memory!r}."
        )
    dashboard = config.get("cluster.dashboard_address")
    if not (isinstance(dashboard, str) and _DASHBOARD.fullmatch(dashboard.strip())):
        raise ConfigError(
            "The configuration key 'cluster.dashboard_address' must be HOST:PORT, e.g. "
            f"'127.0.0.1:8787' ('127.0.0.1:0': any free port); got {dashboard!r}."
        )
    return {
        "n_workers": n_workers,
        "threads_per_worker": threads,
        "dashboard_address": dashboard.strip(),
        "memory_limit": memory,
    }


def _new_local_cluster(settings: dict):
    import dask
    from distributed import LocalCluster

    with warnings.catch_warnings():
        # "Port 8787 is already in use ... Hosting the HTTP server on port N instead": the
        # dashboard link printed next names the port actually used.
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        # Scheduler and workers listen on loopback only; so does the dashboard unless the
        # configuration key cluster.dashboard_address opens it (e.g. 0.0.0.0:8787).
        # A task goes to a worker only when one of its threads is free: with the default (1.1)
        # a worker may hold queued tasks while others idle at the end of a campaign, a whole
        # extra task duration on the wall clock. The scheduler reads it as it starts, here.
        with dask.config.set(_LOCAL_SETTINGS):
            return LocalCluster(host="127.0.0.1", processes=True, **settings)


_CLOSE_TIMEOUT = 20.0  # seconds for the client, then the cluster, to close after a normal run
_INTERRUPT_TIMEOUT = 5.0  # the same after Ctrl-C


def _shutdown(client, cluster, *, interrupted: bool) -> None:
    """Close ``client``, then ``cluster``: bounded, quiet, and not interrupted by Ctrl-C."""
    timeout = _INTERRUPT_TIMEOUT if interrupted else _CLOSE_TIMEOUT
    with _sigint_ignored(), _distributed_logs_silenced():
        if client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=timeout)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=timeout)


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """While the cluster starts, block SIGINT; a Ctrl-C typed meanwhile is raised after.

    A Ctrl-C in a terminal reaches every process of its foreground group. The threads and
    worker processes started meanwhile inherit the blocked signal (the mask survives fork and
    exec), so a Ctrl-C never reaches the workers' code: the client stops them, in order.
    Outside the main thread, does nothing.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield
        return
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()  # starting it later would unblock SIGINT here
    caught: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT for a while (in the main thread only; elsewhere do nothing)."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _distributed_logs_silenced() -> Iterator[None]:
    """Only errors of distributed's loggers reach the terminal while the cluster closes.

    Closing logs warnings such as "Worker process still alive after 4.0 seconds, killing"
    (a worker that was slow to exit after its work was done) that need no action.
    """
    logger = logging.getLogger("distributed")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)
