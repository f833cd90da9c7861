"""Dask TLS: the credentials vlab writes, and the manifests' scheduler and worker commands.

The cluster tests start real Dask processes on loopback: a LocalCluster with the written
credentials, and the exact ``dask scheduler`` / ``dask worker`` command lines and TLS
environment of deploy/kubernetes/daskcluster.yaml (ports and paths moved to the test's).
"""

from __future__ import annotations

import os
import socket
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from vlab.campaign import security
from vlab.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
DASKCLUSTER = ROOT / "deploy" / "kubernetes" / "daskcluster.yaml"


@pytest.fixture(scope="module")
def credentials(tmp_path_factory):
    return security.write_tls_files(tmp_path_factory.mktemp("tls") / "dask-tls")


def test_written_files_form_a_chain_that_security_accepts(credentials):
    from cryptography import x509

    assert [p.name for p in credentials.paths()] == ["ca.crt", "tls.crt", "tls.key"]
    assert stat.S_IMODE(credentials.key_file.stat().st_mode) == 0o600
    ca = x509.load_pem_x509_certificate(credentials.ca_file.read_bytes())
    leaf = x509.load_pem_x509_certificate(credentials.cert_file.read_bytes())
    leaf.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    sec = credentials.security()
    assert sec.require_encryption is True
    for role in ("scheduler", "worker", "client"):
        context = sec.get_connection_args(role)["ssl_context"]
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode == ssl.CERT_REQUIRED  # peers must show a certificate
    assert security.tls_files(credentials.ca_file.parent) == credentials


def test_existing_files_are_kept_unless_overwrite(tmp_path):
    first = security.write_tls_files(tmp_path)
    ca = first.ca_file.read_bytes()
    with pytest.raises(InputError, match=r"ca\.crt, tls\.crt, tls\.key already exist in"):
        security.write_tls_files(tmp_path)
    assert first.ca_file.read_bytes() == ca
    security.write_tls_files(tmp_path, overwrite=True)
    assert first.ca_file.read_bytes() != ca


@pytest.mark.parametrize("days", [0, -3, 1.5, True, "30"])
def test_bad_validity_is_refused(tmp_path, days):
    with pytest.raises(InputError, match=r"integer >= 1 days\. Got"):
        security.write_tls_files(tmp_path, days=days)
    assert not list(tmp_path.iterdir())


def test_missing_files_are_named(tmp_path):
    (tmp_path / "ca.crt").write_text("x")
    with pytest.raises(InputError, match=r"lacks tls\.crt, tls\.key\. .*python -m vlab"):
        security.tls_files(tmp_path)


def test_the_module_command_writes_the_files_and_prints_the_kubectl_step(tmp_path):
    folder = tmp_path / "dask-tls"
    proc = subprocess.run(
        [sys.executable, "-m", "vlab.campaign.security", str(folder), "30"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"kubectl create secret generic vlab-dask-tls --from-file={folder}" in proc.stdout
    security.tls_files(folder)
    again = subprocess.run(
        [sys.executable, "-m", "vlab.campaign.security", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 2 and again.stderr.startswith("vlab: error: ")
    assert "(--overwrite on the command line;" in again.stderr
    before = (folder / security.CA_FILE).read_bytes()
    assert security.main([str(folder), "--overwrite"]) == 0
    assert (folder / security.CA_FILE).read_bytes() != before
    with pytest.raises(SystemExit) as info:
        security.main([str(tmp_path / "other"), "abc"])
    assert info.value.code == 2


def _refused(address: str, sec=None) -> bool:
    from distributed import Client

    try:
        Client(address, security=sec, timeout="3s").close()
    except (OSError, TimeoutError):  # CommClosedError is an OSError
        return True
    return False


def _bare_tls_refused(address: str, credentials, *, with_certificate: bool) -> bool:
    """A TLS client that trusts the CA, with or without a certificate of its own.

    Dask's ``Security`` makes no client context without a certificate, so this uses ``ssl``
    directly: the server must end the connection (TLS 1.3 reports the missing certificate
    on the first read); a server that admits the client waits for its first message.
    """
    host, port = address.removeprefix("tls://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(credentials.ca_file))
    context.check_hostname = False
    if with_certificate:
        context.load_cert_chain(str(credentials.cert_file), str(credentials.key_file))
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        try:
            with context.wrap_socket(raw) as tls:
                tls.settimeout(2)
                return tls.recv(1) == b""
        except TimeoutError:
            return False  # admitted: the scheduler waits for the client to speak
        except (ssl.SSLError, ConnectionError):
            return True


@pytest.mark.cluster
def test_a_tls_cluster_serves_holders_and_refuses_strangers(credentials, tmp_path):
    from distributed import Client, LocalCluster
    from distributed.security import Security

    sec = credentials.security()
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        security=sec,
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        with Client(address, security=sec, timeout="20s") as client:
            assert client.submit(pow, 3, 4).result(timeout=30) == 81
            assert all(w.startswith("tls://") for w in client.scheduler_info()["workers"])
        plain = "tcp://" + address.removeprefix("tls://")
        assert _refused(plain, Security())  # no TLS at all
        other = security.write_tls_files(tmp_path / "other").security()
        assert _refused(address, other)  # a certificate of another CA
        # trusts the CA but shows no certificate; the same client with one is admitted
        assert _bare_tls_refused(address, credentials, with_certificate=False)
        assert not _bare_tls_refused(address, credentials, with_certificate=True)


# ---------------------------------------------------------------- the manifests' commands
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _container(role: str) -> dict:
    doc = yaml.safe_load(DASKCLUSTER.read_text())
    (container,) = doc["spec"][role]["spec"]["containers"]
    return container


def _local_env(container: dict, folder: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for item in container["env"]:
        env[item["name"]] = item["value"].replace("/etc/dask-tls", str(folder))
    env.update(extra)
    return env


def _replace_arg(args: list[str], flag: str, value: str) -> list[str]:
    args = list(args)
    args[args.index(flag) + 1] = value
    return args


def _listening(pid: int) -> dict[int, set[str]]:
    import psutil

    out: dict[int, set[str]] = {}
    for conn in psutil.Process(pid).net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN:
            out.setdefault(conn.laddr.port, set()).add(conn.laddr.ip)
    return out


def _wait(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def manifest_cluster(credentials, tmp_path):
    """The scheduler and a worker, started with daskcluster.yaml's command lines."""
    dask = os.path.join(os.path.dirname(sys.executable), "dask")
    folder = credentials.ca_file.parent
    tls_port, tcp_port = _free_port(), _free_port()
    scheduler = _container("scheduler")
    args = _replace_arg(scheduler["args"], "--port", f"{tls_port},{tcp_port}")
    args = _replace_arg(args, "--dashboard-address", "127.0.0.1:0")
    procs = [
        subprocess.Popen(
            [dask, *args[1:]],
            env=_local_env(scheduler, folder),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        pid = procs[0].pid
        _wait(lambda: {tls_port, tcp_port} <= _listening(pid).keys(), 60, "the scheduler")
        worker = _container("worker")
        args = [a.replace("$(DASK_WORKER_NAME)", "w1") for a in worker["args"]]
        args = _replace_arg(args, "--local-directory", str(tmp_path / "scratch"))
        args = _replace_arg(args, "--dashboard-address", "127.0.0.1:0")
        address = f"tls://127.0.0.1:{tls_port}"
        env = _local_env(worker, folder, DASK_SCHEDULER_ADDRESS=address)
        procs.append(
            subprocess.Popen(
                [dask, *args[1:]], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )
        yield {"pid": pid, "tls": tls_port, "tcp": tcp_port}
    finally:
        for proc in reversed(procs):
            proc.kill()
            proc.wait()


@pytest.mark.cluster
def test_the_manifest_scheduler_listens_on_tls_and_plain_tcp_on_loopback_only(
    manifest_cluster, credentials
):
    from distributed import Client
    from distributed.security import Security

    ports = _listening(manifest_cluster["pid"])
    assert ports[manifest_cluster["tcp"]] == {"127.0.0.1"}  # the port-forward's listener
    assert ports[manifest_cluster["tls"]] & {"0.0.0.0", "::"}  # every interface
    # what KubeCluster does through its port-forward: plain TCP, no Security
    with Client(f"tcp://127.0.0.1:{manifest_cluster['tcp']}", timeout="20s") as client:
        client.wait_for_workers(1, timeout=60)
        (worker,) = client.scheduler_info()["workers"]
        assert worker.startswith("tls://")  # the worker joined over TLS
        assert client.submit(pow, 2, 10).result(timeout=30) == 1024
    tls = f"tls://127.0.0.1:{manifest_cluster['tls']}"
    with Client(tls, security=credentials.security(), timeout="20s") as client:
        assert client.submit(pow, 2, 5).result(timeout=30) == 32
    assert _refused(f"tcp://127.0.0.1:{manifest_cluster['tls']}", Security())
    assert _bare_tls_refused(tls, credentials, with_certificate=False)
