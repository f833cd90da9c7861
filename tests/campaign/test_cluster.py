"""The engine on real multi-process Dask clusters on loopback (scheduler + worker processes)."""

import logging
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import numpy as np
import pytest
import yaml

from vlab.campaign import connect, load_spec, run_campaign
from vlab.campaign.cluster import _drop_sizeof_warning
from vlab.campaign.faults import ExternalCluster, wait_for
from vlab.catalog import open_store, read_ledger

pytestmark = pytest.mark.cluster
COMPARED = ("x", "value", "vector", "status", "input_hash")


def _spec(tmp_path, name, *, n, chunk, params=None):
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "kind": "engine-probe",
                "chunk_size": chunk,
                "store": f"{name}.zarr",
                "params": params or {},
                "inputs": {"generator": "range", "n": n},
                "register": False,
            }
        )
    )
    return path


def _data(store):
    ds = open_store(store)
    return {k: ds[k].values for k in COMPARED}


def _same(a, b):
    texts = [str(h) for h in a["input_hash"]] == [str(h) for h in b["input_hash"]]
    return texts and all(
        np.array_equal(a[k], b[k], equal_nan=True) for k in COMPARED if k != "input_hash"
    )


def _written(store):
    try:
        return int(read_ledger(store)["status"].sum())
    except Exception:  # the template is being created
        return 0


@pytest.fixture
def external(tmp_path):
    cluster = ExternalCluster(tmp_path)
    yield cluster
    cluster.close()


def _wait_workers(client, n):
    client.wait_for_workers(n, timeout=60)


def test_10000_items_give_identical_stores_on_local_and_external_clusters(tmp_path, external):
    with connect(workers=2) as client:
        local = run_campaign(
            load_spec(_spec(tmp_path, "local", n=10_000, chunk=500)), client=client, progress=False
        )
    with connect(scheduler=external.address) as client:
        _wait_workers(client, 2)
        remote = run_campaign(
            load_spec(_spec(tmp_path, "remote", n=10_000, chunk=500)), client=client, progress=False
        )
        used = {str(w) for w in open_store(remote.store)["worker"].values}
    assert local.done == remote.done == 10_000
    assert _same(_data(local.store), _data(remote.store))
    assert len(used) == 2  # both external workers took part


def test_sigkill_of_the_client_then_rerun_equals_an_uninterrupted_run(tmp_path, external):
    params = {"seconds": 0.004}
    spec = _spec(tmp_path, "killed", n=3000, chunk=25, params=params)
    cmd = [
        sys.executable,
        "-m",
        "vlab.cli",
        "run",
        str(spec),
        "--scheduler",
        external.address,
        "--no-progress",
    ]
    client_proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = tmp_path / "killed.zarr"

    try:
        wait_for(lambda: 300 <= _written(store) < 2500, 120, "part of the campaign to be written")
    finally:
        os.kill(client_proc.pid, signal.SIGKILL)
        client_proc.wait()
    partial = read_ledger(store)["status"]
    assert 0 < partial.sum() < 3000
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    with connect(scheduler=external.address) as client:
        fresh = run_campaign(
            load_spec(_spec(tmp_path, "fresh", n=3000, chunk=25, params=params)),
            client=client,
            progress=False,
        )
    assert _same(_data(store), _data(fresh.store))
    assert (open_store(store)["status"].values == 1).all()


def test_killing_a_worker_mid_campaign_loses_and_duplicates_nothing(tmp_path, external):
    spec = load_spec(_spec(tmp_path, "workerkill", n=2000, chunk=20, params={"seconds": 0.004}))
    store = tmp_path / "workerkill.zarr"
    with connect(scheduler=external.address) as client:
        _wait_workers(client, 2)
        import threading

        result = {}
        runner = threading.Thread(
            target=lambda: result.update(r=run_campaign(spec, client=client, progress=False))
        )
        runner.start()
        wait_for(lambda: _written(store) >= 200, 120, "the campaign to start writing")
        with urllib.request.urlopen(f"{external.dashboard}/health", timeout=10) as answer:
            assert answer.status == 200 and answer.read() == b"ok"  # dashboard answers mid-run
        with urllib.request.urlopen(f"{external.dashboard}/status", timeout=30) as answer:
            assert answer.status == 200
        victim = external.workers[0]
        victim.kill()
        victim.wait()
        external.add_worker()  # a replacement joins mid-run
        runner.join(timeout=300)
        assert not runner.is_alive()
    report = result["r"]
    assert report.done == 2000 and report.failed == 0
    ds = open_store(store)
    assert ds["value"].values.tolist() == [float(x * x) for x in range(2000)]
    assert len({str(w) for w in ds["worker"].values}) >= 2


def _sizeof_filtered() -> bool:
    return _drop_sizeof_warning in logging.getLogger("distributed.sizeof").filters


def test_the_upstream_sizeof_warning_is_filtered_on_the_workers_and_nothing_else():
    def record(msg):
        return logging.LogRecord("distributed.sizeof", logging.WARNING, "", 0, msg, None, None)

    assert not _drop_sizeof_warning(
        record(("Sizeof calculation for object of type 'dict' failed. Defaulting to -1 B",))
    )
    assert _drop_sizeof_warning(record("Worker exceeded 95% memory budget"))
    with connect(workers=1) as client:
        assert set(client.run(_sizeof_filtered).values()) == {True}


def _cli(*args):
    return [sys.executable, "-m", "vlab.cli", *args]


def test_a_normal_run_closes_its_local_cluster_without_warnings(tmp_path):
    spec = _spec(tmp_path, "quiet", n=40, chunk=5, params={"seconds": 0.01})
    proc = subprocess.run(
        _cli("run", str(spec), "--workers", "2", "--no-progress"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "40 done, 0 failed" in proc.stdout
    for noise in ("still alive", "Traceback", "WARNING", "ERROR", "Port 8787"):
        assert noise not in proc.stderr, proc.stderr


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_ctrl_c_stops_quietly_saves_finished_chunks_and_the_rerun_resumes(tmp_path, how):
    """SIGINT to the whole process group, as a terminal's Ctrl-C does, mid-campaign; or
    SIGTERM to the vlab process alone, as Kubernetes or a batch scheduler stops a job."""
    spec = _spec(tmp_path, "slow", n=200, chunk=2, params={"seconds": 0.1})
    store = tmp_path / "slow.zarr"
    proc = subprocess.Popen(
        _cli("run", str(spec), "--workers", "2", "--no-progress"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the test runner gets no SIGINT
    )
    try:
        wait_for(lambda: _written(store) >= 20, 120, "the campaign to write a few chunks")
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert "Dask dashboard" in out  # interrupted after the cluster started
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == (130 if how == "ctrl-c" else 143), err
    assert "Traceback" not in err and "WARNING" not in err and "ERROR" not in err
    lines = err.strip().splitlines()
    assert len(lines) <= 3, err
    saved = int(read_ledger(store)["status"].sum())
    assert 20 <= saved < 200
    what = "interrupted" if how == "ctrl-c" else "terminated (SIGTERM)"
    assert lines[-1] == (
        f"vlab: {what}: {saved} of 200 items of campaign 'slow' are saved in "
        f"'{store}'. Resume with the same command: vlab run {spec} --workers 2 --no-progress"
    )
    rerun = subprocess.run(
        _cli("run", str(spec), "--synchronous", "--no-progress"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"200 done, 0 failed, 0 pending; this run computed {200 - saved} and" in rerun.stdout
    assert open_store(store)["value"].values.tolist() == [float(x * x) for x in range(200)]


def _listening(pid=None):
    """``{port: {ip, ...}}`` of the TCP sockets process ``pid`` listens on."""
    import psutil

    out = {}
    for conn in psutil.Process(pid).net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN:
            out.setdefault(conn.laddr.port, set()).add(conn.laddr.ip)
    return out


def _port(address):
    return int(address.rsplit(":", 1)[1].split("/")[0])


def _other_addresses():
    """This host's IPv4 addresses that are not loopback (may be none)."""
    import psutil

    return [
        a.address
        for addrs in psutil.net_if_addrs().values()
        for a in addrs
        if a.family == socket.AF_INET and not a.address.startswith("127.")
    ]


def test_the_local_cluster_and_its_dashboard_listen_on_loopback_only():
    from urllib.parse import urlparse

    with connect(workers=1) as client:
        link = urlparse(client.dashboard_link)
        assert link.hostname == "127.0.0.1"
        cluster = client.cluster
        here = _listening()  # the scheduler, its dashboard and the nannies run in this process
        ports = [_port(client.scheduler.address), link.port]
        ports += [_port(nanny.address) for nanny in cluster.workers.values()]
        for port in ports:
            assert here[port] == {"127.0.0.1"}, (port, here[port])
        (in_worker,) = client.run(_listening).values()
        assert in_worker and set().union(*in_worker.values()) == {"127.0.0.1"}
        for ip in _other_addresses():  # from another interface: nobody answers
            for port in ports:
                with pytest.raises(OSError), socket.create_connection((ip, port), timeout=2):
                    pass


def test_the_dashboard_opens_to_the_network_only_when_configured():
    from vlab import config

    with config.override({"cluster.dashboard_address": "0.0.0.0:0"}), connect(workers=1) as client:
        port = _port(client.dashboard_link.rstrip("/").rsplit("/", 1)[0])
        assert _listening()[port] == {"0.0.0.0"}
        assert _listening()[_port(client.scheduler.address)] == {"127.0.0.1"}


def test_a_script_without_the_main_guard_gets_one_clear_error(tmp_path):
    """Worker processes import the main script again: without ``if __name__ == "__main__"``
    the local cluster cannot start, and the error says why (not multiprocessing's)."""
    script = tmp_path / "campaign.py"
    script.write_text("from vlab.campaign import connect\n\nwith connect(workers=1):\n    pass\n")
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env
    )
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("vlab.errors.ClusterError: The local Dask workers did not start"), last
    assert last.endswith("""must do so under 'if __name__ == "__main__":'."""), last
    guarded = tmp_path / "guarded.py"
    guarded.write_text(
        "from vlab.campaign import connect\n\nif __name__ == '__main__':\n"
        "    with connect(workers=1) as client:\n        print(len(client.nthreads()))\n"
    )
    run = subprocess.run(
        [sys.executable, str(guarded)], capture_output=True, text=True, timeout=120, env=env
    )
    assert run.returncode == 0 and run.stdout.strip() == "1", run.stderr


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("cluster.memory_limit", "lots", "'auto', a size such as '4GB'"),
        ("cluster.memory_limit", -1, "'auto', a size such as '4GB'"),
        ("cluster.dashboard_address", "notanaddress", "HOST:PORT, e.g. '127.0.0.1:8787'"),
        ("cluster.n_workers", 10_000, "at most"),
        ("cluster.threads_per_worker", 10_000, "at most"),
    ],
)
def test_bad_local_cluster_settings_are_named_before_anything_starts(key, value, words):
    from vlab import config
    from vlab.errors import ConfigError

    with config.override({key: value}), pytest.raises(ConfigError) as caught, connect():
        pass
    assert str(caught.value).startswith(f"The configuration key {key!r} must be ")
    assert words in str(caught.value) and repr(value) in str(caught.value)


def test_a_cluster_that_does_not_start_from_the_command_names_its_settings(tmp_path):
    """From the vlab command the advice about a script's main guard would be beside the point:
    the error names the settings instead."""
    spec = tmp_path / "s.yaml"
    spec.write_text(
        f"name: s\nkind: engine-probe\nstore: {tmp_path / 's.zarr'}\n"
        "inputs: {generator: range, n: 2}\n"
    )
    env = os.environ | {
        "OMP_NUM_THREADS": "1",
        "VLAB_CLUSTER__DASHBOARD_ADDRESS": "no-such-host.invalid:0",
        "VLAB_CATALOG__INDEX_DIR": str(tmp_path / "catalog"),
    }
    run = subprocess.run(
        [sys.executable, "-m", "vlab.cli", "run", str(spec), "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert run.returncode == 1, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("vlab: error: The local Dask cluster did not start"), last
    assert "'dashboard_address': 'no-such-host.invalid:0'" in last and "__main__" not in last
