"""Shared fixtures: BLAS pinned to one thread, a private catalog index, Dask clients."""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

import pytest  # noqa: E402

# The user's catalog and model registry are never the tests': a private pair for the whole run,
# under the per-test pair of ``_private_catalog``, so that a test that undoes its patches (or a
# subprocess it starts) still writes here, not into ~/.local/share/vlab.
_SESSION_HOME = tempfile.mkdtemp(prefix="vlab-tests-")
atexit.register(shutil.rmtree, _SESSION_HOME, ignore_errors=True)
os.environ["VLAB_CATALOG__INDEX_DIR"] = os.path.join(_SESSION_HOME, "catalogs")
os.environ["VLAB_POLYMERS__MODELS_DIR"] = os.path.join(_SESSION_HOME, "models")

from vlab._utils import pin_blas_threads  # noqa: E402

pin_blas_threads(1)

import signal  # noqa: E402

# A test run started in the background by a non-interactive shell inherits SIGINT ignored;
# the Ctrl-C tests need it as a terminal has it (Python's handler here, the default in the
# subprocesses they start).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _private_catalog(tmp_path_factory, monkeypatch):
    """Every test gets its own catalog index and model registry, never the user's."""
    index = tmp_path_factory.mktemp("catalog-index")
    monkeypatch.setenv("VLAB_CATALOG__INDEX_DIR", str(index))
    monkeypatch.setenv("VLAB_POLYMERS__MODELS_DIR", str(tmp_path_factory.mktemp("models")))
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


TINY_PROTOCOL = {
    "speed": 1.0,
    "equilibration": 0.2,
    "max_elongation": 3.0,
    "snapshot_every": 0.25,
    "post_rupture": 0.5,
}


def _tiny_md_spec(
    name: str = "bj",
    *,
    store: str = "bj.zarr",
    n: int = 2,
    seed: int | None = None,
    temperatures: list[float] | None = None,
    protocol: dict | None = None,
) -> dict:
    """A ``break-junction-md`` campaign spec (a fresh dict): one-atom necks between 2x2-cell
    electrodes (104 atoms), one trace per chunk; ``protocol`` replaces :data:`TINY_PROTOCOL`."""
    inputs: dict = {"generator": "traces", "n": n}
    if seed is not None:
        inputs["seed"] = seed
    if temperatures is not None:
        inputs["params"] = {"temperatures": list(temperatures)}
    return {
        "name": name,
        "kind": "break-junction-md",
        "params": {
            "structure": {
                "builder": "contact",
                "neck_cross_section": [1, 1],
                "electrode_cross_section": [2, 2],
                "length": 2,
                "electrode_layers": 3,
            },
            "protocol": dict(TINY_PROTOCOL if protocol is None else protocol),
        },
        "inputs": inputs,
        "chunk_size": 1,
        "store": store,
    }


@pytest.fixture(scope="session")
def tiny_md_spec():
    """Factory of tiny ``break-junction-md`` spec dicts (see :func:`_tiny_md_spec`)."""
    return _tiny_md_spec


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (moto's server mode) on loopback; yields its endpoint URL."""
    pytest.importorskip("s3fs", reason="s3fs is not installed (pip install 'vlab[s3]')")
    server_mod = pytest.importorskip(
        "moto.server", reason="moto's server mode is not installed (pip install 'moto[server]')"
    )
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_server, monkeypatch, tmp_path):
    """A new, empty bucket on :func:`s3_server`; the environment points vlab at it.

    The credentials are set as a Kubernetes Secret mounted as environment variables would
    set them; subprocesses started by the test inherit them.
    """
    import uuid

    env = {
        "AWS_ACCESS_KEY_ID": "vlab-test",
        "AWS_SECRET_ACCESS_KEY": "vlab-test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "VLAB_STORAGE__LEASE_TTL": "2",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from vlab.catalog.location import filesystem

    name = f"vlab-{uuid.uuid4().hex[:12]}"
    filesystem().mkdir(name)
    return name
