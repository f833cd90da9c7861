"""Tests of the virtual break-junction experiment (vlab.workflows.experiment).

A tiny but real pipeline: 4 EMT break-junction traces of a one-atom neck between 2x2-cell
electrodes (104 atoms), a surrogate trained here on 40 committed s-band-labelled 160-atom
snapshots, the surrogate and s-band reference campaigns run in process, and the figure.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("dscribe")  # the 'descriptors' extra

from vlab import catalog, config
from vlab.conductance import ConductanceSurrogate, histogram_peak
from vlab.errors import InputError, SpecError
from vlab.workflows.experiment import experiment_figure, load_experiment, run_experiment

COMMITTED = Path(__file__).resolve().parents[2] / "catalogs" / "data" / "au-sband-subset.zarr"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


_PROTOCOL = {
    "speed": 0.5,
    "snapshot_every": 0.1,
    "equilibration": 1.0,
    "max_elongation": 6.0,
    "post_rupture": 1.0,
}


def tiny_experiment(
    md_spec, model: str, *, train: dict | None = None, prefix: str = "tiny"
) -> dict:
    """An experiment spec (as a dict) small enough for the test suite; ``md_spec`` is the
    ``tiny_md_spec`` fixture."""
    return {
        "name": f"{prefix}-experiment",
        "description": "tiny virtual experiment",
        "model": {"path": model, **({"train": train} if train else {})},
        "campaigns": {
            "md": md_spec(f"{prefix}-md", store="stores/md.zarr", n=4, seed=5, protocol=_PROTOCOL),
            "surrogate": {
                "name": f"{prefix}-surrogate",
                "kind": "conductance-surrogate",
                "inputs": {"catalog": f"{prefix}-md"},
                "chunk_size": 64,
                "store": "stores/surrogate.zarr",
            },
            "reference": {
                "name": f"{prefix}-sband",
                "kind": "conductance-reference",
                "params": {"fidelity": "sband", "snapshot_stride": 2},
                "inputs": {"catalog": f"{prefix}-md"},
                "chunk_size": 64,
                "store": "stores/sband.zarr",
            },
        },
        "figure": "figures/experiment.png",
        "summary": "summary.json",
    }


def write(folder: Path, data: dict, name: str = "experiment.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """A small surrogate trained on every 27th committed 2x2-wire snapshot (40 structures),
    with a report of its residuals on 40 other committed snapshots, as ``vlab conductance
    train`` writes it."""
    from vlab.conductance import ConditionalResiduals
    from vlab.conductance.shipped import file_sha256

    done = catalog.select(catalog.open_store(COMMITTED), status="done").load()
    ds, held = done.isel(item=slice(0, None, 27)), done.isel(item=slice(13, None, 27))
    structures = catalog.decode_structures(ds, prefix="structure_")
    model = ConductanceSurrogate(
        n_estimators=2, hidden_layer_sizes=(16,), max_iter=80, random_state=0
    ).fit(structures, ds["conductance"].values)
    path = model.save(tmp_path_factory.mktemp("model") / "tiny.npz")
    pred = model.predict(catalog.decode_structures(held, prefix="structure_"))
    residuals = ConditionalResiduals(pred, held["conductance"].values).to_dict()
    report = {"model_sha256": file_sha256(path), "residuals": residuals}
    path.with_suffix(".report.json").write_text(json.dumps(report))
    return path


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, model_file, tiny_md_spec):
    """The tiny experiment, run once in process (with its own catalog index)."""
    folder = tmp_path_factory.mktemp("experiment")
    path = write(folder, tiny_experiment(tiny_md_spec, str(model_file)))
    with config.override({"catalog.index_dir": str(folder / "catalog")}):
        summary = run_experiment(path, synchronous=True, progress=False)
        again = run_experiment(path, synchronous=True, progress=False)
    return path, summary, again


def test_experiment_runs_the_three_campaigns_and_draws_the_figure(experiment):
    path, summary, again = experiment
    folder = path.parent
    assert summary["traces"] == 4 and summary["atoms_per_structure"] == 104
    md = catalog.open_store(folder / "stores/md.zarr")
    n_snapshots = int(md["n_snapshots"].sum())
    assert summary["snapshots_surrogate"] == n_snapshots
    per_trace = (md["n_snapshots"].values + 1) // 2  # every 2nd snapshot: 0, 2, 4, ...
    assert summary["snapshots_reference"] == int(per_trace.sum())
    assert summary["common_snapshots"]["n"] == summary["snapshots_reference"]
    assert np.isfinite(summary["common_snapshots"]["r2"])
    assert Path(summary["figure"]).read_bytes()[:8] == PNG_MAGIC
    assert Path(summary["figure"]) == folder / "figures/experiment.png"
    assert json.loads((folder / "summary.json").read_text()) == again  # the last run's
    runs = {role: c["this_run"]["computed"] for role, c in summary["campaigns"].items()}
    assert runs == {"md": 4, "surrogate": n_snapshots, "reference": summary["snapshots_reference"]}
    assert summary["model"]["path"].endswith("tiny.npz")


def test_a_model_file_with_held_out_residuals_gives_the_predictive_histogram(experiment):
    from vlab.workflows.conductance import model_residuals

    path, summary, _ = experiment
    sur = catalog.open_store(path.parent / "stores/surrogate.zarr")
    residuals = model_residuals(summary["model"]["path"])
    draws = residuals.sample(sur["conductance"].values, rng=0)
    expected = round(histogram_peak(draws), 3) if (draws >= 0.3).any() else None
    assert summary["histogram_peak_predictive_G0"] == expected
    assert summary["predictive_draws_per_snapshot"] == 20
    # 40 residuals: too few for a smooth predictive histogram, and said so
    assert summary["predictive_warning"].startswith(
        "The predictive draws of the model tiny.npz rest on 40 held-out residuals"
    )


def test_peaks_are_those_of_the_stores(experiment):
    path, summary, _ = experiment
    for role in ("surrogate", "reference"):
        ds = catalog.open_store(
            path.parent / f"stores/{'sband' if role == 'reference' else role}.zarr"
        )
        g = ds["conductance"].values
        expected = round(histogram_peak(g), 3) if (g >= 0.3).any() else None
        assert summary[f"histogram_peak_{role}_G0"] == expected
    assert summary["experiment_window_G0"] == [0.8, 1.1]
    s, r = summary["histogram_peak_surrogate_G0"], summary["histogram_peak_reference_G0"]
    if s is not None and r is not None:
        assert summary["peak_difference_G0"] == pytest.approx(abs(s - r), abs=1e-3)
        assert summary["surrogate_peak_in_experiment_window"] == (0.8 <= s <= 1.1)


def test_rerun_resumes_without_computing(experiment):
    _, summary, again = experiment
    assert {c["this_run"]["computed"] for c in again["campaigns"].values()} == {0}
    for key in ("histogram_peak_surrogate_G0", "histogram_peak_reference_G0", "common_snapshots"):
        assert again[key] == summary[key]


@pytest.fixture(scope="module")
def shipped_experiment(experiment, tiny_md_spec):
    """The tiny experiment again with the shipped spd model and a random spd sample;
    the MD campaign is the first experiment's (resumed: nothing computed)."""
    folder = experiment[0].parent
    spec = tiny_experiment(tiny_md_spec, "unused.npz")
    spec["model"] = {"shipped": "spd-headline"}
    spec["campaigns"]["surrogate"] |= {"name": "tiny-shipped", "store": "stores/shipped.zarr"}
    spec["campaigns"]["reference"] |= {
        "name": "tiny-sample",
        "store": "stores/sample.zarr",
        "params": {"fidelity": "spd", "sample": 8, "sample_seed": 1},  # the model's reference
    }
    spec |= {"figure": "figures/shipped.png", "summary": "shipped.json"}
    path = write(folder, spec, "shipped.yaml")
    with config.override({"catalog.index_dir": str(folder / "catalog")}):
        return path, run_experiment(path, synchronous=True, progress=False)


def test_shipped_model_gives_the_predictive_histogram(shipped_experiment):
    from vlab.conductance import load_shipped_residuals, shipped_model_info

    path, summary = shipped_experiment
    info = shipped_model_info("spd-headline")
    assert summary["model"]["shipped"] == "spd-headline"
    assert summary["model"]["sha256"] == info["sha256"]
    assert summary["model"]["blind"] == info["blind"]
    assert summary["campaigns"]["md"]["this_run"]["computed"] == 0
    assert summary["snapshots_reference"] == summary["common_snapshots"]["n"] == 8
    sur = catalog.open_store(path.parent / "stores/shipped.zarr")
    draws = load_shipped_residuals("spd-headline").sample(sur["conductance"].values, rng=0)
    assert draws.size == 20 * summary["snapshots_surrogate"]
    expected = round(histogram_peak(draws), 3) if (draws >= 0.3).any() else None
    assert summary["histogram_peak_predictive_G0"] == expected
    assert summary["predictive_draws_per_snapshot"] == 20
    for temp in np.unique(sur["temperature"].values):
        assert f"histogram_peak_predictive_G0_{temp:g}K" in summary
        assert f"histogram_peak_reference_G0_{temp:g}K" in summary
    assert Path(summary["figure"]).read_bytes()[:8] == PNG_MAGIC


def test_unknown_shipped_model_is_named(tmp_path, tiny_md_spec):
    spec = tiny_experiment(tiny_md_spec, "m.npz")
    spec["model"] = {"shipped": "nope"}
    with pytest.raises(SpecError, match="'model.shipped': There is no shipped .* 'nope'"):
        load_experiment(write(tmp_path, spec))


def test_experiment_figure_rejects_stores_that_do_not_match(experiment):
    path, _, _ = experiment
    stores = path.parent / "stores"
    with pytest.raises(InputError, match="is not a conductance store of break-junction"):
        experiment_figure(stores / "md.zarr", stores / "sband.zarr", path.parent / "x.png")


def _bad(spec: dict, where: str, value) -> dict:
    spec = copy.deepcopy(spec)
    *parents, last = where.split(".")
    node = spec
    for key in parents:
        node = node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return spec


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("campaigns", KeyError, r"missing key\(s\) \['campaigns'\]; an experiment has the keys"),
        ("extra", 1, r"yaml: unknown key\(s\) \['extra'\]; an experiment has the keys"),
        ("summry", 1, r"unknown key\(s\) \['summry'\]; .*Did you mean 'summary'\?"),
        ("model", "m.npz", r"'model' must be \{path: FILE.npz, train: \{...\}\}"),
        ("model.train", {"stores": ["x"], "epochs": 3}, r"unknown 'model.train' key\(s\)"),
        (
            "model.train",
            {"stores": ["x"], "estimators": 3},
            r"\['estimators'\]; allowed: .* parameters go under 'params' by their own names",
        ),
        ("model.train", {"stores": ["x"], "params": [3]}, "'model.train.params' must be a"),
        ("model.train", {"stores": "x"}, "'model.train' must be a mapping with a 'stores' list"),
        ("campaigns.reference", KeyError, "'campaigns' must map exactly"),
        (
            "campaigns.md.kind",
            "conductance-reference",
            "campaigns.md must have kind 'break-junction-md'. Got 'conductance-reference'.",
        ),
        ("campaigns.surrogate.params", {"model": "x.npz"}, "must not set 'model'"),
        (
            "campaigns.reference.inputs",
            {"catalog": "other"},
            r"campaigns.reference.inputs must be \{catalog: tiny-md\} .* Got 'other'.",
        ),
        ("campaigns.md.chunk_size", 0, "campaigns.md: the 'chunk_size' key must be > 0"),
        ("figure", "out.jpg", "'figure' must be a .png file path. Got 'out.jpg'."),
        ("model.path", "x.txt", r"'model.path' must be a .npz file path. Got 'x.txt'."),
    ],
)
def test_bad_experiment_files_are_named(tmp_path, where, value, message, tiny_md_spec):
    path = write(tmp_path, _bad(tiny_experiment(tiny_md_spec, "m.npz"), where, value))
    with pytest.raises(SpecError, match=message):
        load_experiment(path)


def test_unreadable_experiment_files(tmp_path):
    with pytest.raises(SpecError, match="no such experiment file"):
        load_experiment(tmp_path / "none.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(SpecError, match=r"an experiment is a mapping of keys. Got \[1, 2\]"):
        load_experiment(tmp_path / "list.yaml")
    (tmp_path / "bad.yaml").write_text("a: [1,\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_experiment(tmp_path / "bad.yaml")
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    bomb += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    (tmp_path / "bomb.yaml").write_text("\n".join(bomb) + "\nname: x\n")
    with pytest.raises(SpecError, match="not accepted as YAML"):
        load_experiment(tmp_path / "bomb.yaml")
    (tmp_path / "named.yaml").write_text("name: [1, 2]\n")
    with pytest.raises(SpecError, match="'name' must be text"):
        load_experiment(tmp_path / "named.yaml")


def test_missing_model_without_training_fails_before_any_campaign(tmp_path, tiny_md_spec):
    path = write(tmp_path, tiny_experiment(tiny_md_spec, "missing.npz"))
    with pytest.raises(SpecError, match=r"missing.npz' does not exist and 'model.train' is not"):
        run_experiment(path, synchronous=True, progress=False)
    assert not (tmp_path / "stores").exists()


def test_paths_are_relative_to_the_experiment_file(tmp_path, tiny_md_spec):
    spec = tiny_experiment(
        tiny_md_spec, "models/m.npz", train={"stores": ["data.zarr", "au-sband-subset"]}
    )
    (tmp_path / "data.zarr").mkdir()
    loaded = load_experiment(write(tmp_path, spec))
    assert loaded.model == tmp_path / "models/m.npz"
    assert loaded.train["stores"] == [str(tmp_path / "data.zarr"), "au-sband-subset"]
    assert loaded.surrogate.params["model"] == str(tmp_path / "models/m.npz")
    assert loaded.md.store == tmp_path / "stores/md.zarr"
    assert loaded.figure == tmp_path / "figures/experiment.png"


def test_example_experiment_is_valid():
    path = Path(__file__).resolve().parents[2] / "examples" / "au-virtual-experiment.yaml"
    spec = load_experiment(path)
    assert spec.md.inputs.n >= 200
    assert spec.surrogate.inputs.catalog == spec.reference.inputs.catalog == spec.md.name
    assert spec.train["stores"] == ["au-sband-subset", "au-sband-contact"]
    for name in spec.train["stores"]:  # committed with the repository: no campaign needed
        assert (COMMITTED.parent / f"{name}.zarr").is_dir()
        assert (COMMITTED.parents[1] / f"{name}.yaml").is_file()


def test_example_spd_experiment_is_valid():
    path = Path(__file__).resolve().parents[2] / "examples" / "au-spd-virtual-experiment.yaml"
    spec = load_experiment(path)
    assert spec.shipped == "spd-headline" and spec.model.is_file() and spec.train is None
    assert spec.surrogate.params["model"] == str(spec.model)
    assert spec.reference.params["fidelity"] == "spd"
    assert spec.reference.params["sample"] == 600
    assert spec.md.inputs.n == 200


def test_a_reference_other_than_the_surrogate_learned_is_refused(tmp_path, tiny_md_spec):
    """The shipped model learned spd labels; an s-band reference campaign would compare two
    references: refused before any campaign runs."""
    spec = tiny_experiment(tiny_md_spec, "unused.npz")
    spec["model"] = {"shipped": "spd-headline"}
    path = write(tmp_path, spec)
    with pytest.raises(SpecError) as err:
        run_experiment(path, synchronous=True, progress=False)
    assert str(err.value) == (
        f"{path}: the surrogate learned eht-spd v2 (au-tail) labels, but "
        "campaigns.reference computes sband-tb v1: the experiment would compare two "
        "references. Give the reference campaign the surrogate's reference (params.fidelity, "
        "params.calculator), or a surrogate trained on that reference's labels."
    )
    assert not (tmp_path / "stores").exists()


def _store_traces(store):
    """(elongation, conductance) of each trace of a store's done snapshots, in order."""
    ds = catalog.select(catalog.open_store(store), status="done").load()
    for k in np.unique(ds["trace"].values):
        rows = np.flatnonzero(ds["trace"].values == k)
        rows = rows[np.argsort(ds["snapshot"].values[rows])]
        yield ds["elongation"].values[rows], ds["conductance"].values[rows]


def test_plateau_lengths_of_the_surrogate_and_of_a_strided_reference(experiment):
    """The reference labels every 2nd snapshot: its traces' plateau lengths are given, with
    the surrogate's on the same snapshots; the surrogate's on all its snapshots too."""
    from vlab.conductance import plateau_length

    path, summary, _ = experiment
    lengths = [plateau_length(x, g) for x, g in _store_traces(path.parent / "stores/sband.zarr")]
    reference = summary["plateaus_reference"]
    assert reference["plateau_length_mean_A"] == round(float(np.mean(lengths)), 3)
    assert {"4K", "300K"} <= {k.rsplit("_", 1)[-1] for k in reference if k.endswith("K")}
    for key in ("plateaus_surrogate", "plateaus_surrogate_on_reference_snapshots"):
        assert set(summary[key]) == set(reference), key


def test_the_surrogates_traces_get_a_displacement_histogram_and_their_ruptures(experiment):
    from vlab.conductance import rupture_elongation

    path, summary, _ = experiment
    figure = Path(summary["figure_displacement"])
    assert figure == path.parent / "figures/experiment-displacement.png"
    assert figure.read_bytes()[:8] == PNG_MAGIC
    stores = path.parent / "stores"
    breaks = [rupture_elongation(x, g) for x, g in _store_traces(stores / "surrogate.zarr")]
    ruptures = summary["ruptures_surrogate"]
    assert ruptures["traces_broken"] == sum(b is not None for b in breaks)
    assert set(ruptures) >= {"traces_broken_4K", "traces_broken_300K"}


def test_a_sampled_reference_gets_no_plateau_lengths(shipped_experiment):
    _, summary = shipped_experiment  # a random sample of 8 snapshots: no traces to follow
    assert "plateau_length_mean_A" in summary["plateaus_surrogate"]
    assert "plateaus_reference" not in summary


def test_model_residuals_of_a_name_that_is_no_model_is_an_error():
    from vlab.workflows.conductance import model_residuals

    with pytest.raises(InputError, match=r"'spd-headlin' is neither a shipped model .*"
                       r"Did you mean 'spd-headline'\?"):  # fmt: skip
        model_residuals("spd-headlin")
