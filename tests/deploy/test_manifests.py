"""The Kubernetes manifests of deploy/kubernetes, validated without a cluster.

Core kinds (ConfigMap, PersistentVolumeClaim, Pod, and the Deployments and Services that the
operator makes from the Dask resources) are validated against the Kubernetes schemas that
``kubernetes-validate`` ships, for a pinned Kubernetes version, in strict mode (unknown
fields are errors). The operator's custom resources (DaskCluster, DaskJob, DaskAutoscaler)
are validated against the OpenAPI schemas of the CRDs shipped inside the installed
``dask-kubernetes`` package, made strict the same way.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is not installed (pip install 'vlab[k8s]')"
)
jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed")
if importlib.util.find_spec("dask_kubernetes") is None:
    pytest.skip(
        "dask-kubernetes is not installed (pip install 'vlab[k8s]')", allow_module_level=True
    )

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
K8S_VERSION = "1.30.0"  # oldest Kubernetes release the manifests are checked against
CUSTOM_KINDS = {"DaskCluster", "DaskJob", "DaskAutoscaler"}
CORE_KINDS = {"ConfigMap", "PersistentVolumeClaim", "Pod", "NetworkPolicy"}
FILES = sorted(p.name for p in MANIFESTS.glob("*.yaml") if p.name != "kustomization.yaml")


def _docs(name: str) -> list[dict]:
    return copy.deepcopy(_parsed(name))


@functools.cache
def _parsed(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((MANIFESTS / name).read_text()) if d]


def _all_docs() -> list[dict]:
    return [doc for name in FILES for doc in _docs(name)]


def _one(kind: str) -> dict:
    (doc,) = [d for d in _all_docs() if d["kind"] == kind]
    return doc


def _project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)["project"]["version"]


def _pod_specs(doc: dict) -> dict[str, dict]:
    """Every PodSpec inside a resource, by a readable location."""
    spec = doc.get("spec", {})
    if doc["kind"] == "Pod":
        return {"pod": spec}
    if doc["kind"] == "DaskCluster":
        return {"worker": spec["worker"]["spec"], "scheduler": spec["scheduler"]["spec"]}
    if doc["kind"] == "DaskJob":
        cluster = spec["cluster"]["spec"]
        return {
            "job": spec["job"]["spec"],
            "worker": cluster["worker"]["spec"],
            "scheduler": cluster["scheduler"]["spec"],
        }
    return {}


def _containers(doc: dict) -> list[tuple[str, dict]]:
    return [
        (f"{where}/{c['name']}", c)
        for where, pod in _pod_specs(doc).items()
        for c in pod["containers"] + pod.get("initContainers", [])
    ]


# ---------------------------------------------------------------- custom resource schemas
def _crd_dir() -> Path:
    (location,) = importlib.util.find_spec("dask_kubernetes").submodule_search_locations
    return Path(location) / "operator" / "deployment" / "helm" / "dask-kubernetes-operator" / "crds"


@functools.cache
def _crd(kind: str) -> dict:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRDs are 10,000 lines
    for path in sorted(_crd_dir().glob("*.yaml")):
        crd = yaml.load(path.read_text(), Loader=loader)
        if crd["spec"]["names"]["kind"] == kind:
            return crd
    raise AssertionError(f"no CRD of kind {kind} in {_crd_dir()}")


def _strict(node):
    """An OpenAPI v3 schema in which objects with declared properties reject unknown keys.

    Kubernetes prunes unknown fields of custom resources silently (or rejects them, with
    kubectl's strict field validation); either way a misspelt key must fail here.
    """
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = dict(node)
    if "properties" in node:
        out["properties"] = {k: _strict(v) for k, v in node["properties"].items()}
        if "additionalProperties" not in node and not node.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            out["additionalProperties"] = False
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict):
            out[key] = _strict(node[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in node:
            out[key] = _strict(node[key])
    return out


def _validate_custom(doc: dict) -> None:
    crd = _crd(doc["kind"])
    group, version = doc["apiVersion"].split("/")
    assert group == crd["spec"]["group"], f"{doc['kind']}: apiVersion group {group}"
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
    schema = _strict(served["schema"]["openAPIV3Schema"]["properties"]["spec"])
    jsonschema.Draft7Validator(schema).validate(doc["spec"])


def _validate_core(doc: dict) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize("name", FILES)
def test_manifest_files_hold_named_resources_of_known_kinds(name):
    docs = _docs(name)
    assert docs, f"{name} holds no resource"
    for doc in docs:
        assert doc["kind"] in CORE_KINDS | CUSTOM_KINDS, f"{name}: unexpected kind {doc['kind']}"
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "vlab"


@pytest.mark.parametrize("kind", sorted(CUSTOM_KINDS))
def test_custom_resources_match_the_operator_crd_schemas(kind):
    _validate_custom(_one(kind))


@pytest.mark.parametrize("kind", sorted(CORE_KINDS))
def test_core_resources_match_the_kubernetes_schemas(kind):
    for doc in [d for d in _all_docs() if d["kind"] == kind]:
        _validate_core(doc)


@pytest.mark.parametrize("kind", ["DaskCluster", "DaskJob"])
def test_pod_and_service_specs_inside_custom_resources_are_valid_core_objects(kind):
    doc = _one(kind)
    for where, pod_spec in _pod_specs(doc).items():
        _validate_core(
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": where}, "spec": pod_spec}
        )
    cluster = doc["spec"] if kind == "DaskCluster" else doc["spec"]["cluster"]["spec"]
    service = cluster["scheduler"]["service"]
    service_doc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}
    _validate_core({**service_doc, "spec": service})


def test_the_schema_checks_reject_broken_resources():
    cluster = copy.deepcopy(_one("DaskCluster"))
    cluster["spec"]["worker"]["replicas"] = "two"
    with pytest.raises(jsonschema.ValidationError, match="'two' is not of type 'integer'"):
        _validate_custom(cluster)
    typo = copy.deepcopy(_one("DaskJob"))
    typo["spec"]["job"]["spec"]["containers"][0]["volumeMount"] = []
    with pytest.raises(jsonschema.ValidationError, match="volumeMount"):
        _validate_custom(typo)
    claim = copy.deepcopy(_one("PersistentVolumeClaim"))
    claim["spec"]["accessMode"] = ["ReadWriteOnce"]
    with pytest.raises(jsonschema.ValidationError):
        _validate_core(claim)


def _operator_objects(doc: dict, namespace: str = "vlab-test") -> list[dict]:
    """The Deployments, Service and Pod that the operator's controller makes from ``doc``.

    As the operator does, the resource's labels are copied onto what it makes.
    """
    from dask_kubernetes.operator.controller import controller as op

    labels = dict(doc["metadata"].get("labels", {}))
    if doc["kind"] == "DaskJob":
        name = doc["metadata"]["name"]
        spec = doc["spec"]["cluster"]["spec"]
        job_spec = doc["spec"]["job"]["spec"]
        extra = [op.build_job_pod_spec(name, name, namespace, job_spec, {}, labels)]
    else:
        name, spec, extra = doc["metadata"]["name"], doc["spec"], []
    cluster = op.build_cluster_spec(name, spec["worker"], spec["scheduler"], {}, labels)["spec"]
    scheduler = cluster["scheduler"]
    return [
        op.build_scheduler_deployment_spec(name, scheduler["spec"], {}, labels),
        op.build_scheduler_service_spec(name, scheduler["service"], {}, labels),
        op.build_worker_deployment_spec(
            f"{name}-default", namespace, name, "abc12", cluster["worker"]["spec"], {}, labels
        ),
        *extra,
    ]


@pytest.mark.parametrize("kind", ["DaskCluster", "DaskJob"])
def test_objects_the_operator_creates_are_valid_and_wired(kind):
    deployment, service, workers, *job = _operator_objects(_one(kind))
    for obj in (deployment, service, workers, *job):
        _validate_core(obj)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = service["spec"]["selector"]
    assert selector.items() <= pod_labels.items(), "the scheduler service selects no pod"
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    # tcp-comm and http-dashboard are the names KubeCluster looks up; it port-forwards to the
    # service's port number on the pod, so that number must be the container's.
    assert ports == {"tls-comm": 8786, "tcp-comm": 8785, "http-dashboard": 8787}
    tcp = next(p for p in service["spec"]["ports"] if p["name"] == "tcp-comm")
    assert tcp["targetPort"] == "tcp-comm" and tcp["port"] == 8785
    (worker,) = workers["spec"]["template"]["spec"]["containers"]
    address = f"tls://{service['metadata']['name']}:8786"
    env = {e["name"]: e.get("value") for e in worker["env"]}
    assert env["DASK_SCHEDULER_ADDRESS"] == address  # not the operator's tcp:// default
    if job:
        (runner,) = job[0]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in runner["env"]}
        assert env["DASK_SCHEDULER_ADDRESS"] == address


def test_scheduler_is_reachable_only_inside_the_cluster():
    for kind in ("DaskCluster", "DaskJob"):
        doc = _one(kind)
        cluster = doc["spec"] if kind == "DaskCluster" else doc["spec"]["cluster"]["spec"]
        assert cluster["scheduler"]["service"]["type"] == "ClusterIP"
    for doc in _all_docs():
        assert "hostNetwork" not in str(doc) and "NodePort" not in str(doc)


def test_images_are_the_tag_the_dockerfile_documents():
    version = _project_version()
    documented = re.findall(r"docker build -f deploy/Dockerfile -t (\S+) \.", _dockerfile())
    assert documented == [f"vlab:{version}"]
    images = {c["image"] for doc in _all_docs() for _, c in _containers(doc)}
    assert images == {f"vlab:{version}"}
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    assert (image["name"], image["newTag"]) == ("vlab", version)


def _dockerfile() -> str:
    return (ROOT / "deploy" / "Dockerfile").read_text()


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi)?$")
_SCALE = {None: 1, "m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def _quantity(text: str) -> float:
    number, unit = _QUANTITY.match(str(text)).groups()
    return float(number) * _SCALE[unit]


@pytest.mark.parametrize("name", FILES)
def test_every_container_requests_resources_within_its_limits(name):
    for doc in _docs(name):
        for where, container in _containers(doc):
            res = container["resources"]
            for key in ("cpu", "memory"):
                request, limit = res["requests"][key], res["limits"][key]
                assert 0 < _quantity(request) <= _quantity(limit), f"{name} {where} {key}"


def _arg(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


@pytest.mark.parametrize("kind", ["DaskCluster", "DaskJob"])
def test_workers_are_single_threaded_and_fit_their_memory_limit(kind):
    (worker,) = _pod_specs(_one(kind))["worker"]["containers"]
    args = worker["args"]
    assert args[:2] == ["dask", "worker"]
    assert _arg(args, "--nthreads") == "1" and _arg(args, "--nworkers") == "1"
    env = {e["name"]: e["value"] for e in worker["env"]}
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        assert env[var] == "1"
    dask_limit = _quantity(_arg(args, "--memory-limit").replace("MiB", "Mi"))
    assert dask_limit < _quantity(worker["resources"]["limits"]["memory"])
    assert worker["resources"]["limits"]["cpu"] == "1"


def test_daskjob_cluster_is_the_daskcluster_under_the_job_name():
    cluster, job = _one("DaskCluster"), _one("DaskJob")
    # the operator takes only the scheduler and worker specs of a DaskJob's cluster
    expected = {k: copy.deepcopy(cluster["spec"][k]) for k in ("scheduler", "worker")}
    name = job["metadata"]["name"]
    expected["scheduler"]["service"]["selector"]["dask.org/cluster-name"] = name
    (worker,) = expected["worker"]["spec"]["containers"]
    (address,) = [e for e in worker["env"] if e["name"] == "DASK_SCHEDULER_ADDRESS"]
    address["value"] = f"tls://{name}-scheduler:8786"
    assert job["spec"]["cluster"]["spec"] == expected
    selector = cluster["spec"]["scheduler"]["service"]["selector"]
    assert selector["dask.org/cluster-name"] == cluster["metadata"]["name"]


def test_daskjob_mounts_the_spec_configmap_and_the_catalog_volume():
    job = _one("DaskJob")["spec"]["job"]["spec"]
    configmap, claim = _one("ConfigMap"), _one("PersistentVolumeClaim")
    volumes = {v["name"]: v for v in job["volumes"]}
    (runner,) = job["containers"]
    mounts = {m["name"]: m for m in runner["volumeMounts"]}
    assert volumes.keys() == mounts.keys()
    by_source = {}
    for name, volume in volumes.items():
        if "configMap" in volume:
            assert volume["configMap"]["name"] == configmap["metadata"]["name"]
            by_source["configMap"] = mounts[name]
        if "persistentVolumeClaim" in volume:
            assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
            by_source["claim"] = mounts[name]
    assert by_source["configMap"]["readOnly"] is True
    assert "readOnly" not in by_source["claim"]  # the runner writes the stores
    script = runner["args"][-1]
    (spec_path,) = re.findall(r"vlab run (\S+) --scheduler \"\$DASK_SCHEDULER_ADDRESS\"", script)
    folder, key = spec_path.rsplit("/", 1)
    assert folder == by_source["configMap"]["mountPath"] and key in configmap["data"]
    data_dir = by_source["claim"]["mountPath"]
    env = {e["name"]: e["value"] for e in runner["env"]}
    assert env["VLAB_CATALOG__INDEX_DIR"].startswith(data_dir + "/")
    assert job["restartPolicy"] == "Never" and job["securityContext"]["fsGroup"] == 10001


def test_workers_mount_no_catalog_volume():
    for kind in ("DaskCluster", "DaskJob"):
        pods = _pod_specs(_one(kind))
        for role in ("worker", "scheduler"):
            for volume in pods[role].get("volumes", []):
                assert "persistentVolumeClaim" not in volume, f"{kind} {role}"


def test_the_configmap_spec_is_a_valid_campaign_writing_to_the_volume(tmp_path):
    from vlab.campaign import load_spec, plan_campaign

    configmap = _one("ConfigMap")
    job = _one("DaskJob")["spec"]["job"]["spec"]
    (claim_mount,) = [
        m
        for m in job["containers"][0]["volumeMounts"]
        if m["name"] == next(v["name"] for v in job["volumes"] if "persistentVolumeClaim" in v)
    ]
    for key, text in configmap["data"].items():
        path = tmp_path / key
        path.write_text(text)
        spec = load_spec(path)
        assert spec.store.is_absolute()
        assert spec.store.is_relative_to(claim_mount["mountPath"]), spec.store
        plan = plan_campaign(spec)
        assert len(plan.items) > 0


def test_pods_run_as_the_non_root_user_of_the_image():
    (uid,) = re.findall(r"^USER (\d+)", _dockerfile(), flags=re.M)[-1:]
    for doc in _all_docs():
        for where, pod in _pod_specs(doc).items():
            context = pod["securityContext"]
            assert context["runAsNonRoot"] is True, f"{doc['kind']} {where}"
            assert context["runAsUser"] == int(uid), f"{doc['kind']} {where}"
        for where, container in _containers(doc):
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where


def test_autoscaler_targets_the_campaign_cluster_within_sane_bounds():
    scaler = _one("DaskAutoscaler")["spec"]
    clusters = {_one(kind)["metadata"]["name"] for kind in ("DaskJob", "DaskCluster")}
    assert scaler["cluster"] in clusters
    assert 1 <= scaler["minimum"] <= scaler["maximum"]


def test_kustomization_applies_the_campaign_files_that_exist():
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    listed = kustomization["resources"]
    assert all((MANIFESTS / name).is_file() for name in listed)
    kinds = {doc["kind"] for name in listed for doc in _docs(name)}
    assert kinds == {"ConfigMap", "PersistentVolumeClaim", "NetworkPolicy", "DaskJob"}
    assert listed.index("networkpolicy.yaml") < listed.index("daskjob.yaml")  # closed first


# ---------------------------------------------------------------- hardening
def test_every_pod_is_hardened():
    """No API token, seccomp, non-root, read-only root with a writable /tmp, no privileges."""
    for doc in _all_docs():
        for where, pod in _pod_specs(doc).items():
            label = f"{doc['kind']} {where}"
            assert pod["automountServiceAccountToken"] is False, label
            context = pod["securityContext"]
            assert context["runAsNonRoot"] is True, label
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, label
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            for container in pod["containers"] + pod.get("initContainers", []):
                security = container["securityContext"]
                assert security["readOnlyRootFilesystem"] is True, label
                assert security["allowPrivilegeEscalation"] is False, label
                assert security["capabilities"] == {"drop": ["ALL"]}, label
                assert "privileged" not in security, label
                mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
                assert "emptyDir" in volumes[mounts["/tmp"]], f"{label}: /tmp is no emptyDir"
                if "--local-directory" in container.get("args", []):
                    local = _arg(container["args"], "--local-directory")
                    assert "emptyDir" in volumes[mounts[local]], label


def test_scheduler_probes_answer_within_explicit_timeouts():
    for kind in ("DaskCluster", "DaskJob"):
        (scheduler,) = _pod_specs(_one(kind))["scheduler"]["containers"]
        for probe in ("readinessProbe", "livenessProbe"):
            spec = scheduler[probe]
            assert spec["httpGet"] == {"port": "http-dashboard", "path": "/health"}
            assert 1 <= spec["timeoutSeconds"] < spec["periodSeconds"], f"{kind} {probe}"
            assert spec["failureThreshold"] >= 3, f"{kind} {probe}"


# ---------------------------------------------------------------- TLS
def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def _tls_mount(pod: dict, container: dict) -> str:
    """Where ``container`` mounts the Secret vlab-dask-tls (read-only)."""
    (volume,) = [v for v in pod["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == "vlab-dask-tls"
    assert "items" not in volume["secret"]  # the files keep the names vlab writes
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    return mount["mountPath"]


def _assert_tls_env(env: dict, folder: str, roles: tuple[str, ...], *, required: bool) -> None:
    """Dask's TLS settings point at the files that ``vlab.campaign.security`` writes."""
    from vlab.campaign import security

    prefix = "DASK_DISTRIBUTED__COMM__"
    assert env[prefix + "REQUIRE_ENCRYPTION"] == str(required)
    assert env[prefix + "TLS__CA_FILE"] == f"{folder}/{security.CA_FILE}"
    for role in roles:
        assert env[f"{prefix}TLS__{role}__CERT"] == f"{folder}/{security.CERT_FILE}", role
        assert env[f"{prefix}TLS__{role}__KEY"] == f"{folder}/{security.KEY_FILE}", role


@pytest.mark.parametrize("kind", ["DaskCluster", "DaskJob"])
def test_dask_traffic_is_tls_with_the_mounted_secret(kind):
    doc = _one(kind)
    pods = _pod_specs(doc)
    name = doc["metadata"]["name"]
    address = f"tls://{name}-scheduler:8786"

    (scheduler,) = pods["scheduler"]["containers"]
    args = scheduler["args"]
    assert args[:2] == ["dask", "scheduler"] and "--host" not in args
    # tls://:8786 on every interface first (the scheduler's address), then plain TCP on the
    # pod's loopback only
    assert _arg(args, "--protocol").split(",") == ["tls", "tcp"]
    assert _arg(args, "--port").split(",") == ["8786", "8785"]
    assert _arg(args, "--interface").split(",") == ["", "lo"]
    folder = _tls_mount(pods["scheduler"], scheduler)
    # the loopback listener needs require-encryption off in the scheduler alone
    _assert_tls_env(_env(scheduler), folder, ("SCHEDULER", "CLIENT"), required=False)

    (worker,) = pods["worker"]["containers"]
    assert _arg(worker["args"], "--protocol") == "tls"
    env = _env(worker)
    assert env["DASK_SCHEDULER_ADDRESS"] == address
    _assert_tls_env(env, _tls_mount(pods["worker"], worker), ("WORKER", "CLIENT"), required=True)

    if kind == "DaskJob":
        (runner,) = pods["job"]["containers"]
        env = _env(runner)
        assert env["DASK_SCHEDULER_ADDRESS"] == address
        _assert_tls_env(env, _tls_mount(pods["job"], runner), ("CLIENT",), required=True)


@pytest.mark.parametrize("kind", ["DaskCluster", "DaskJob"])
def test_the_plain_tcp_service_port_is_the_scheduler_loopback_port(kind):
    """KubeCluster port-forwards the service port *number* straight to the pod."""
    cluster = _pod_specs(_one(kind))["scheduler"]
    (scheduler,) = cluster["containers"]
    ports = {p["name"]: p["containerPort"] for p in scheduler["ports"]}
    assert ports["tcp-comm"] == 8785 and ports["tls-comm"] == 8786
    spec = _one(kind)["spec"]
    service = (spec if kind == "DaskCluster" else spec["cluster"]["spec"])["scheduler"]["service"]
    for port in service["ports"]:
        assert ports[port["targetPort"]] == port["port"], port["name"]


# ---------------------------------------------------------------- network policies
NAMESPACE = "vlab"


def _selects(selector: dict, labels: dict) -> bool:
    """Whether a Kubernetes label selector matches ``labels``."""
    assert set(selector) <= {"matchLabels", "matchExpressions"}, selector
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, op, values = expression["key"], expression["operator"], expression.get("values", [])
        ok = {
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
            "In": labels.get(key) in values,
            "NotIn": key not in labels or labels[key] not in values,
        }[op]
        if not ok:
            return False
    return True


def _peer_matches(peer: dict, source: dict) -> bool:
    """``source``: {"labels", "namespace", "namespace_labels"} of the connecting pod."""
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], source["namespace_labels"]):
            return False
    elif source["namespace"] != NAMESPACE:
        return False
    return _selects(peer.get("podSelector", {}), source["labels"])


def _policies() -> list[dict]:
    return [d for d in _all_docs() if d["kind"] == "NetworkPolicy"]


def _admitted(target_labels: dict, source: dict, port: int) -> bool:
    """Kubernetes semantics: isolated once selected; then the union of the ingress rules."""
    selecting = [
        p
        for p in _policies()
        if "Ingress" in p["spec"]["policyTypes"]
        and _selects(p["spec"]["podSelector"], target_labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from")
            ports = rule.get("ports")
            if peers is not None and not any(_peer_matches(p, source) for p in peers):
                continue
            if ports is not None and not any(p.get("port") == port for p in ports):
                continue
            return True
    return False


def _pod_labels(doc: dict) -> dict[str, dict]:
    """Labels of the scheduler, worker and runner pods the operator makes from ``doc``."""
    deployment, _, workers, *job = _operator_objects(doc, NAMESPACE)
    out = {
        "scheduler": deployment["spec"]["template"]["metadata"]["labels"],
        "worker": workers["spec"]["template"]["metadata"]["labels"],
    }
    if job:
        out["job"] = job[0]["metadata"]["labels"]
    return out


def _source(labels: dict, namespace: str = NAMESPACE) -> dict:
    return {
        "labels": labels,
        "namespace": namespace,
        "namespace_labels": {"kubernetes.io/metadata.name": namespace},
    }


def test_network_policies_close_every_dask_pod():
    kinds = {"DaskJob": _one("DaskJob"), "DaskCluster": _one("DaskCluster")}
    for doc in kinds.values():
        for role, labels in _pod_labels(doc).items():
            deny = [p for p in _policies() if p["metadata"]["name"] == "vlab-dask-deny-ingress"]
            assert _selects(deny[0]["spec"]["podSelector"], labels), role
            stranger = _source({"app": "someone-else"})
            for port in (8786, 8785, 8788, 40123):
                assert not _admitted(labels, stranger, port), (role, port)


@pytest.mark.parametrize("kind", ["DaskJob", "DaskCluster"])
def test_network_policies_admit_the_cluster_own_pods_only(kind):
    from vlab.campaign import cluster

    pods = _pod_labels(_one(kind))
    for target, target_labels in pods.items():
        for source_labels in pods.values():
            assert _admitted(
                target_labels, _source(source_labels), 8786 if target == "scheduler" else 40123
            )
    other_kind = {"DaskJob": "DaskCluster", "DaskCluster": "DaskJob"}[kind]
    others = list(_pod_labels(_one(other_kind)).values())
    generated = cluster._cluster_resource(MANIFESTS / "daskcluster.yaml")
    others += list(_pod_labels(generated).values())
    for other in others:
        assert not _admitted(pods["scheduler"], _source(other), 8786)
        assert not _admitted(pods["worker"], _source(other), 40123)


def test_network_policies_admit_the_pods_of_vlab_run_kubernetes_clusters():
    from vlab.campaign import cluster

    first = _pod_labels(cluster._cluster_resource(MANIFESTS / "daskcluster.yaml"))
    assert _admitted(first["scheduler"], _source(first["worker"]), 8786)
    assert _admitted(first["worker"], _source(first["scheduler"]), 40123)
    campaign = _pod_labels(_one("DaskJob"))
    assert not _admitted(first["scheduler"], _source(campaign["job"]), 8786)


def test_the_dashboard_is_open_to_the_namespace_and_the_operator_only():
    for doc in (_one("DaskJob"), _one("DaskCluster")):
        scheduler = _pod_labels(doc)["scheduler"]
        assert _admitted(scheduler, _source({"app": "notebook"}), 8787)
        assert _admitted(scheduler, _source({}, namespace="dask-operator"), 8787)
        assert not _admitted(scheduler, _source({}, namespace="dask-operator"), 8786)
        assert not _admitted(scheduler, _source({"app": "x"}, namespace="elsewhere"), 8787)


# ---------------------------------------------------------------- object-storage overlay
OVERLAY = ROOT / "deploy" / "overlays" / "object-storage"


def _pointer(doc, path: str):
    """The parent node and last key of a JSON pointer into ``doc``."""
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
    node = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, (int(last) if isinstance(node, list) and last != "-" else last)


def _apply_json6902(doc: dict, ops: list[dict]) -> None:
    """The JSON 6902 operations the overlay uses: test, replace, add."""
    for op in ops:
        node, key = _pointer(doc, op["path"])
        if op["op"] == "test":
            assert node[key] == op["value"], f"test failed at {op['path']}"
        elif op["op"] == "replace":
            node[key] = copy.deepcopy(op["value"])
        elif op["op"] == "add" and isinstance(node, list):
            node.insert(len(node) if key == "-" else key, copy.deepcopy(op["value"]))
        elif op["op"] == "add":
            node[key] = copy.deepcopy(op["value"])
        else:
            raise AssertionError(f"unexpected operation {op['op']!r}")


def _render_overlay() -> list[dict]:
    """The overlay's resources, rendered as kustomize does for the features it uses."""
    kustomization = yaml.safe_load((OVERLAY / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["../../kubernetes"]
    base = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    docs = [doc for name in base["resources"] for doc in _docs(name)]
    for patch in kustomization["patches"]:
        if "target" not in patch:  # a strategic-merge patch that deletes a resource
            gone = yaml.safe_load(patch["patch"])
            assert gone.pop("$patch") == "delete"
            before = len(docs)
            docs = [
                d
                for d in docs
                if (d["kind"], d["metadata"]["name"]) != (gone["kind"], gone["metadata"]["name"])
            ]
            assert len(docs) == before - 1, f"nothing to delete: {gone}"
            continue
        target = patch["target"]
        ops = yaml.safe_load((OVERLAY / patch["path"]).read_text())
        (doc,) = [
            d
            for d in docs
            if d["kind"] == target["kind"] and d["metadata"]["name"] == target["name"]
        ]
        _apply_json6902(doc, ops)
    return docs


def test_object_storage_overlay_has_no_volume_and_valid_resources():
    docs = _render_overlay()
    assert {d["kind"] for d in docs} == {"ConfigMap", "NetworkPolicy", "DaskJob"}
    assert "persistentVolumeClaim" not in yaml.safe_dump(docs)
    for doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            _validate_custom(doc)
            for made in _operator_objects(doc):
                _validate_core(made)
        else:
            _validate_core(doc)


def test_object_storage_overlay_writes_the_spec_store_and_index_to_the_bucket(tmp_path):
    from vlab.campaign import load_spec
    from vlab.catalog import StoreURL

    docs = {d["kind"]: d for d in _render_overlay()}
    job = docs["DaskJob"]["spec"]["job"]["spec"]
    (runner,) = job["containers"]
    env = {e["name"]: e["value"] for e in runner["env"]}
    assert runner["envFrom"] == [{"secretRef": {"name": "vlab-object-storage"}}]
    assert not any(e["name"].startswith("AWS_") for e in runner["env"])  # only from the Secret
    index = env["VLAB_CATALOG__INDEX_DIR"]
    (data,) = [v for v in job["volumes"] if v["name"] == "data"]
    assert "emptyDir" in data
    for key, text in docs["ConfigMap"]["data"].items():
        path = tmp_path / key
        path.write_text(text)
        spec = load_spec(path)
        assert isinstance(spec.store, StoreURL)
        assert index.startswith(f"s3://{spec.store.bucket}/")
    for role, pod in _pod_specs(docs["DaskJob"]).items():  # workers never see the credentials
        if role != "job":
            assert "vlab-object-storage" not in yaml.safe_dump(pod), role


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_object_storage_overlay_renders_with_kubectl_as_the_tests_render_it():
    out = subprocess.run(
        ["kubectl", "kustomize", str(OVERLAY)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    rendered = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out.stdout)}
    ours = {(d["kind"], d["metadata"]["name"]): d for d in _render_overlay()}
    assert rendered.keys() == ours.keys()
    for key, doc in ours.items():
        part = "spec" if "spec" in doc else "data"
        assert rendered[key][part] == doc[part], key
