"""deploy/Dockerfile: the image installs this vlab version, pins its inputs, runs as non-root.

No container engine is needed: the Dockerfile is parsed (instructions, ARG defaults, stages)
and checked against pyproject.toml and deploy/constraints.txt.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _pyproject() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def _instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if current and line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    out = []
    for line in logical:
        word, _, rest = line.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _stages(instructions):
    """The instructions grouped by build stage; global ARGs (before FROM) come first."""
    stages, current = [], []
    for ins in instructions:
        if ins[0] == "FROM":
            stages.append(current)
            current = []
        current.append(ins)
    stages.append(current)
    return stages[0], stages[1:]


def _arg_defaults(instructions) -> dict[str, str]:
    out = {}
    for word, rest in instructions:
        if word == "ARG" and "=" in rest:
            name, value = rest.split("=", 1)
            out[name] = value.strip().strip('"')
    return out


def _expand(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), text)


@pytest.fixture(scope="module")
def dockerfile():
    instructions = _instructions((DEPLOY / "Dockerfile").read_text())
    global_args, stages = _stages(instructions)
    return {"all": instructions, "global": _arg_defaults(global_args), "stages": stages}


def test_image_installs_the_version_of_pyproject(dockerfile):
    version = _pyproject()["project"]["version"]
    for stage in dockerfile["stages"]:
        assert _arg_defaults(stage).get("VLAB_VERSION") == version
    labels = " ".join(rest for word, rest in dockerfile["stages"][-1] if word == "LABEL")
    assert 'org.opencontainers.image.version="${VLAB_VERSION}"' in labels
    build = " ".join(rest for word, rest in dockerfile["stages"][0] if word == "RUN")
    assert "vlab.__version__" in build and "${VLAB_VERSION}" in build  # checked at build time
    text = (DEPLOY / "Dockerfile").read_text()
    assert f"docker build -f deploy/Dockerfile -t vlab:{version} ." in text


def test_image_runs_as_a_non_root_user(dockerfile):
    final = dockerfile["stages"][-1]
    users = [rest for word, rest in final if word == "USER"]
    assert users, "the final stage sets no USER: containers would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert user.isdigit(), "a numeric USER lets Kubernetes verify runAsNonRoot"
    created = " ".join(rest for word, rest in final if word == "RUN")
    assert f"--uid {user}" in created
    after_user = final[[w for w, _ in final].index("USER") :]
    assert not [r for w, r in after_user if w == "RUN"], "RUN after USER would run as root"


def test_base_images_are_pinned_to_a_release(dockerfile):
    values, stage_names = dockerfile["global"], set()
    for stage in dockerfile["stages"]:
        words = stage[0][1].split()
        image = _expand(words[0], values)
        if image not in stage_names:
            tag = image.partition(":")[2]
            assert tag and tag != "latest", f"FROM {image} is not pinned"
            assert re.match(r"^\d+\.\d+\.\d+-", tag), f"FROM {image}: pin a patch release"
            # the tag says what it is, the digest makes sure it stays that
            assert re.fullmatch(r"[^@\s]+@sha256:[0-9a-f]{64}", image), (
                f"FROM {image}: pin the content digest too (name:tag@sha256:...)"
            )
        if len(words) == 3 and words[1].upper() == "AS":
            stage_names.add(words[2])
    assert len(dockerfile["stages"]) == 2, "a build stage (compilers) and a runtime stage"


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (DEPLOY / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"constraints.txt: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version
    return pins


def test_every_pip_install_is_pinned(dockerfile):
    installs = [rest for word, rest in dockerfile["all"] if word == "RUN" and "pip install" in rest]
    assert installs
    env = " ".join(rest for word, rest in dockerfile["all"] if word == "ENV")
    assert "PIP_CONSTRAINT=/tmp/constraints.txt" in env  # applies to build isolation too
    copies = [rest for word, rest in dockerfile["all"] if word == "COPY"]
    assert "deploy/constraints.txt /tmp/constraints.txt" in copies
    for command in installs:
        for part in command.split("&&"):
            words = shlex.split(part)
            if words[:2] != ["pip", "install"]:
                continue
            for word in words[2:]:
                assert word.startswith(("/src", "-")) or "==" in word, f"unpinned {word!r}"


def test_constraints_pin_every_dependency_within_pyproject(dockerfile):
    project = _pyproject()["project"]
    pins = _constraints()
    extras = set()
    for word, rest in dockerfile["stages"][0]:
        if word == "ARG" and rest.startswith("VLAB_EXTRAS="):
            extras = set(rest.split("=", 1)[1].strip('"').split(","))
    assert extras and extras <= set(project["optional-dependencies"]), extras
    wanted = list(project["dependencies"])
    for extra in sorted(extras):
        wanted += project["optional-dependencies"][extra]
    for text in wanted:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not pinned in deploy/constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"deploy/constraints.txt pins {req.name}=={pins[name]}, outside {req.specifier}"
        )
    for text in _pyproject()["build-system"]["requires"]:
        assert canonicalize_name(Requirement(text).name) in pins


def test_copied_sources_exist_and_are_not_ignored(dockerfile):
    ignore = DEPLOY / "Dockerfile.dockerignore"  # BuildKit reads <Dockerfile>.dockerignore
    patterns = [
        line.strip()
        for line in ignore.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ".git" in patterns and "vlab-results" in patterns

    def ignored(path: str) -> bool:
        result = False
        for pattern in patterns:
            negate = pattern.startswith("!")
            pat = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pat) or path.startswith(pat + "/"):
                result = not negate
        return result

    for word, rest in dockerfile["all"]:
        if word != "COPY" or rest.startswith("--from"):
            continue
        *sources, _ = rest.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
            assert not ignored(source), f"COPY {source} is excluded by {ignore.name}"


def test_runtime_stage_pins_blas_threads_and_has_no_compiler(dockerfile):
    final = dockerfile["stages"][-1]
    env = " ".join(rest for word, rest in final if word == "ENV")
    for var in ("OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1", "MKL_NUM_THREADS=1"):
        assert var in env
    runs = " ".join(rest for word, rest in final if word == "RUN")
    assert not re.search(r"\b(gcc|g\+\+|build-essential)\b", runs)
    build_runs = " ".join(rest for word, rest in dockerfile["stages"][0] if word == "RUN")
    assert "g++" in build_runs  # asap3 is a C++ extension


def test_constraints_satisfy_each_others_requirements():
    """For every pinned package installed here at its pinned version, what it requires of
    the other pinned packages holds at their pins (pip would refuse the set otherwise, as it
    did when python-dateutil 4 was pinned beside aiobotocore, which needs < 3)."""
    from importlib import metadata

    from packaging.markers import default_environment

    pins = _constraints()
    env = default_environment()
    checked = 0
    for name, version in pins.items():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if dist.version != version:
            continue
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
                continue
            other = canonicalize_name(req.name)
            if other in pins:
                checked += 1
                assert req.specifier.contains(pins[other], prereleases=True), (
                    f"{name}=={version} requires {text!r}, but deploy/constraints.txt pins "
                    f"{req.name}=={pins[other]}"
                )
    assert checked > 20


def test_what_the_package_links_to_is_copied_into_the_image_and_shipped(dockerfile):
    """vlab/ links to catalogs/ (the shipped catalog) and deploy/kubernetes/ (the manifest of
    ``vlab run --kubernetes``): the image must copy their targets to the same places beside
    vlab/, and the package data must include what the code reads through them."""
    from vlab.campaign.cluster import _MANIFEST

    copies = {
        rest.split()[-1]: rest.split()[0]
        for word, rest in dockerfile["all"]
        if word == "COPY" and not rest.startswith("--from")
    }
    links = [p for p in (ROOT / "vlab").rglob("*") if p.is_symlink()]
    assert len(links) >= 2
    for link in links:
        target = link.resolve().relative_to(ROOT).as_posix()
        assert copies.get(f"/src/{target}") == target, f"{link} -> {target}: not copied"
    globs = _pyproject()["tool"]["setuptools"]["package-data"]["vlab"]
    shipped = _MANIFEST.relative_to((ROOT / "vlab").resolve()).as_posix()
    assert _MANIFEST.is_file() and shipped in globs
    assert "catalog/shipped/data/**/*" in globs and "catalog/shipped/*.yaml" in globs
