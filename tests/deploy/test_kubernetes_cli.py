"""`vlab run --kubernetes` where no Kubernetes cluster exists: one clear line, no traceback."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vlab.campaign import cluster
from vlab.cli import main
from vlab.errors import ClusterError, ConfigError

ROOT = Path(__file__).resolve().parents[2]
DASKCLUSTER = ROOT / "deploy" / "kubernetes" / "daskcluster.yaml"
needs_k8s = pytest.mark.skipif(
    __import__("importlib").util.find_spec("dask_kubernetes") is None,
    reason="dask-kubernetes is not installed (pip install 'vlab[k8s]')",
)


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "probe.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "probe",
                "kind": "engine-probe",
                "inputs": {"generator": "range", "n": 4},
                "store": "probe.zarr",
                "register": False,
            }
        )
    )
    return path


def _run_cli(spec: Path, tmp_path: Path, **env_extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    env.update({"HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "no-kubeconfig")})
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "vlab.cli", "run", str(spec), "--kubernetes", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("vlab: error: ")
    return lines[0]


@needs_k8s
def test_no_kubeconfig_gives_one_clear_line(spec, tmp_path):
    line = _one_error_line(_run_cli(spec, tmp_path))
    assert "No Kubernetes cluster is reachable" in line and "kubectl cluster-info" in line
    assert not (tmp_path / "probe.zarr").exists()


@needs_k8s
def test_unreachable_api_server_gives_one_clear_line(spec, tmp_path):
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "gone", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
        "current-context": "gone",
    }
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    line = _one_error_line(_run_cli(spec, tmp_path, KUBECONFIG=str(kubeconfig)))
    assert "No Kubernetes cluster is reachable" in line


def test_missing_k8s_extra_is_reported(spec, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "dask_kubernetes", None)
    monkeypatch.setitem(sys.modules, "dask_kubernetes.operator", None)
    assert main(["run", str(spec), "--kubernetes"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "vlab: error: --kubernetes needs the dask-kubernetes operator client, which is not "
        "installed: pip install 'vlab[k8s]'."
    ]


@needs_k8s
def test_manifest_must_be_a_daskcluster(spec, tmp_path, monkeypatch, capsys):
    other = tmp_path / "pvc.yaml"
    other.write_text((ROOT / "deploy" / "kubernetes" / "pvc.yaml").read_text())
    monkeypatch.setenv("VLAB_CLUSTER__KUBERNETES_MANIFEST", str(other))
    assert main(["run", str(spec), "--kubernetes"]) == 2  # a bad setting, as other ones
    err = capsys.readouterr().err
    assert "must hold one DaskCluster resource" in err and "'PersistentVolumeClaim'" in err
    monkeypatch.setenv("VLAB_CLUSTER__KUBERNETES_MANIFEST", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match=r"missing\.yaml' does not exist"):
        cluster.kubernetes_cluster()


def test_each_kubernetes_run_gets_its_own_cluster_name():
    first = cluster._cluster_resource(DASKCLUSTER)
    second = cluster._cluster_resource(DASKCLUSTER)
    original = yaml.safe_load(DASKCLUSTER.read_text())
    base = original["metadata"]["name"]
    for resource in (first, second):
        name = resource["metadata"]["name"]
        assert name.startswith(base + "-") and len(name) == len(base) + 7
        selector = resource["spec"]["scheduler"]["service"]["selector"]
        assert selector["dask.org/cluster-name"] == name
        # its workers find its own scheduler, over TLS
        worker = resource["spec"]["worker"]
        (container,) = worker["spec"]["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["DASK_SCHEDULER_ADDRESS"] == f"tls://{name}-scheduler:8786"
        expected = copy.deepcopy(original["spec"]["worker"])
        for e in expected["spec"]["containers"][0]["env"]:
            if e["name"] == "DASK_SCHEDULER_ADDRESS":
                e["value"] = f"tls://{name}-scheduler:8786"
        assert worker == expected
        assert resource["spec"]["scheduler"]["spec"] == original["spec"]["scheduler"]["spec"]
        # the label that deploy/kubernetes/networkpolicy.yaml admits between such pods
        assert resource["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "vlab-run"
    assert first["metadata"]["name"] != second["metadata"]["name"]
    assert yaml.safe_load(DASKCLUSTER.read_text()) == original  # the file is not changed


@needs_k8s
def test_a_cluster_whose_scheduler_never_runs_is_given_up_after_the_start_timeout(
    tmp_path, monkeypatch
):
    """dask-kubernetes waits for a scheduler pod that never runs (image not pulled, Secret
    missing) without limit; vlab gives up after cluster.kubernetes_start_timeout seconds. The
    operator's client is replaced by one that waits like that (no Kubernetes cluster here)."""
    import threading
    import time

    import dask_kubernetes.operator

    released = threading.Event()

    class NeverStarts:
        def __init__(self, **kwargs):
            released.wait(60)

    monkeypatch.setattr(dask_kubernetes.operator, "KubeCluster", NeverStarts)
    monkeypatch.setattr(cluster, "_check_kubernetes", lambda: None)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("VLAB_CLUSTER__KUBERNETES_START_TIMEOUT", "1")
    start = time.monotonic()
    with pytest.raises(ClusterError) as info:
        cluster.kubernetes_cluster()
    released.set()
    assert time.monotonic() - start < 25
    message = str(info.value)
    assert message.startswith("The Dask cluster 'vlab-") and " did not start within 1 s: " in (
        message
    )
    assert "ImagePullBackOff" in message and "cluster.kubernetes_start_timeout" in message

    class Fails:
        def __init__(self, **kwargs):
            raise RuntimeError("the operator said no")

    monkeypatch.setattr(dask_kubernetes.operator, "KubeCluster", Fails)
    with pytest.raises(ClusterError, match="RuntimeError: the operator said no"):
        cluster.kubernetes_cluster()
