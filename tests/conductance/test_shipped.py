"""Shipped surrogates: checksum checked on load, clear errors, ``vlab conductance predict``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dscribe")  # the 'descriptors' extra
from ase.io import write

from vlab.campaign.kinds import get_kind
from vlab.cli import main
from vlab.conductance import (
    ConductanceSurrogate,
    SBandTightBinding,
    build_wire,
    load_shipped_model,
    load_shipped_residuals,
    perturb,
    shipped,
    shipped_model_info,
    shipped_models,
)
from vlab.errors import DataFileError, InputError


@pytest.fixture(scope="module")
def wires():
    wire = build_wire("Au", cross_section=(1, 1), length=2, electrode_layers=2)
    structures = [perturb(wire, amplitude=0.1 * k, rng=k) for k in range(6)]
    return structures, np.array([SBandTightBinding().conductance(a) for a in structures])


@pytest.fixture
def model_dir(tmp_path, monkeypatch, wires):
    """A model folder with one small trained model 'tiny' and its manifest."""
    structures, y = wires
    model = ConductanceSurrogate(n_estimators=2, hidden_layer_sizes=(6,), max_iter=20,
                                 random_state=0).fit(structures, y)  # fmt: skip
    path = model.save(tmp_path / "tiny.npz")
    manifest = {"file": "tiny.npz", "sha256": shipped.file_sha256(path), "preset": "default"}
    (tmp_path / "tiny.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(shipped, "MODEL_DIR", tmp_path)
    return tmp_path


def test_shipped_model_loads_with_its_checksum(model_dir, wires):
    structures, _ = wires
    assert shipped_models() == ["tiny"]
    assert shipped_model_info("tiny")["preset"] == "default"
    model = load_shipped_model("tiny")
    again = ConductanceSurrogate.load(model_dir / "tiny.npz")
    assert np.array_equal(model.predict(structures), again.predict(structures))


def test_a_changed_file_is_refused(model_dir):
    path = model_dir / "tiny.npz"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataFileError, match="sha256 .* but its manifest records"):
        load_shipped_model("tiny")
    kind = get_kind("conductance-surrogate")  # a campaign given the shipped model by name
    with pytest.raises(DataFileError, match="tiny.npz' has sha256 .* but its manifest"):
        kind.check_params({"model": "tiny"})


def test_unknown_model_names_the_shipped_ones(model_dir):
    with pytest.raises(InputError, match="no shipped conductance surrogate 'nope'; shipped: tiny"):
        load_shipped_model("nope")


def test_shipped_residuals_are_the_validation_ones():
    residuals = load_shipped_residuals("spd-headline")
    info = shipped_model_info("spd-headline")["residuals"]
    assert residuals.predicted.size == len(info["reference_G0"]) == 1555
    assert "not trained on and not blind" in info["source"]
    draws = residuals.sample(np.array([0.87] * 100), draws=5, rng=0)
    assert draws.size == 500 and draws.min() >= 0.0 and draws.max() < 3.0


def test_a_model_without_residuals_says_so(model_dir):
    with pytest.raises(InputError, match="'tiny' records no held-out residuals"):
        load_shipped_residuals("tiny")


def test_predict_command_on_files_and_stores(model_dir, wires, tmp_path, capsys):
    structures, _ = wires
    xyz = tmp_path / "wires.extxyz"
    write(xyz, structures[:3])
    out = tmp_path / "pred.json"
    argv = ["conductance", "predict", str(xyz), "au-spd-small", "--model", "tiny"]
    assert main([*argv, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    expected = load_shipped_model("tiny").predict(structures[:3])
    got = report["sources"][str(xyz)]["conductance_G0"]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    small = report["sources"]["au-spd-small"]
    assert small["n"] == len(small["conductance_std_G0"]) > 100
    assert set(small["against_reference"]) >= {"r2", "mae_G0", "peak_reference_G0"}
    printed = json.loads(capsys.readouterr().out)
    assert printed["model"] == {"shipped": "tiny"}
    # a histogram beside the report for the store (> 20 structures), none for 3 structures
    assert small["histogram_png"] == str(tmp_path / "pred-au-spd-small.png")
    assert (tmp_path / "pred-au-spd-small.png").stat().st_size > 10_000
    assert printed["sources"]["au-spd-small"]["histogram_png"] == small["histogram_png"]
    assert "histogram_png" not in report["sources"][str(xyz)]
    # MD snapshots of traces: their conductance-displacement histograms too
    assert small["displacement_png"] == str(tmp_path / "pred-au-spd-small-displacement.png")
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "pred-au-spd-small-displacement.png",
        "pred-au-spd-small.png",
    ]


def test_predict_command_without_plots(model_dir, tmp_path):
    out = tmp_path / "sub" / "pred.json"
    argv = ["conductance", "predict", "au-spd-small", "--model", "tiny", "--no-plot"]
    assert main([*argv, "--out", str(out)]) == 0
    assert "histogram_png" not in json.loads(out.read_text())["sources"]["au-spd-small"]
    assert list(tmp_path.rglob("*.png")) == []


def test_predict_command_errors_are_one_line(model_dir, tmp_path, capsys):
    assert main(["conductance", "predict", "au-spd-small", "--model", "none.npz"]) == 2
    err = capsys.readouterr().err.strip()
    assert "neither a shipped surrogate (tiny) nor an existing .npz file" in err
    assert "The spd-headline model file is missing from this installation" in err
    assert len(err.splitlines()) == 1
    bad = tmp_path / "bad.extxyz"
    bad.write_text("not a structure\n")
    assert main(["conductance", "predict", str(bad), "--model", "tiny"]) == 2
    assert "Could not read structures from" in capsys.readouterr().err
    assert main(["conductance", "predict", "au-spd-small", "--model", "tinny"]) == 2
    assert capsys.readouterr().err.strip().endswith("Did you mean 'tiny'?")
    missing = tmp_path / "missing.xyz"
    assert main(["conductance", "predict", str(missing), "--model", "tiny"]) == 2
    assert capsys.readouterr().err == (
        f"vlab: error: {str(missing)!r} is neither a structure file nor a store: no such file "
        "or folder (and no catalog entry of that name). Give a structure file that "
        "ase.io.read understands, a conductance-reference store, or a catalog entry name "
        "(vlab catalog list).\n"
    )
    assert main(["conductance", "predict", "au-spd-smal", "--model", "tiny"]) == 2
    assert "No catalog entry named 'au-spd-smal'" in capsys.readouterr().err
    from ase.build import bulk
    from ase.io import write

    from vlab.conductance import build_wire

    mixed = tmp_path / "mixed.xyz"  # a junction, then bulk gold without electrode tags
    write(mixed, [build_wire("Au", length=3), bulk("Au", cubic=True).repeat(2)])
    assert main(["conductance", "predict", str(mixed), "--model", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vlab: error: {str(mixed)!r}, structure 1 (of 2): The tags of the ")
    assert "electrodes tagged 1 and 2 at the two ends along z" in err and len(err.splitlines()) == 1
    silver = tmp_path / "silver.xyz"
    write(silver, [build_wire("Au", length=3), build_wire("Ag", length=3)])
    assert main(["conductance", "predict", str(silver), "--model", "tiny"]) == 2
    assert capsys.readouterr().err == (
        f"vlab: error: {str(silver)!r}, structure 1 (of 2): it holds ['Ag'], but the tiny model "
        "describes ['Au'] junctions only (the shipped models: gold). Give junctions of those "
        "elements, or train a surrogate on reference labels of yours (vlab conductance train).\n"
    )
    argv = ["conductance", "predict", "au-spd-small", str(mixed), "au-spd-small"]
    assert main([*argv, "--model", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "vlab: error: The source 'au-spd-small' is given twice; the report holds one entry "
        "per source.\n"
    )


@pytest.mark.skipif(
    "spd-headline" not in shipped_models(),
    reason="the headline model file is made by benchmarks/train_headline.py",
)
def test_headline_model_reproduces_its_recorded_blind_error():
    """The shipped headline model loads (checksum), and on the blind traces it has the R² and
    MAE recorded in its manifest."""
    from vlab.workflows.conductance import labelled_structures

    info = shipped_model_info("spd-headline")
    model = load_shipped_model("spd-headline")
    structures, y, _, _ = labelled_structures("au-spd-2x2-test")
    pred = model.predict(structures)
    assert len(y) == info["blind"]["n"]
    assert np.mean(np.abs(pred - y)) == pytest.approx(info["blind"]["mae_G0"], abs=2e-3)


@pytest.mark.skipif(
    "spd-headline" not in shipped_models(),
    reason="the headline model file is made by benchmarks/train_headline.py",
)
def test_predict_reports_the_predictive_peak_with_shipped_residuals(tmp_path):
    """With the headline model, predict adds the peak of the predictive draws: on the blind
    traces the value surrogate_shipped.py recorded, near the reference's, not near the
    point predictions' peak; for a store of two temperatures, also at each."""
    from vlab.workflows.conductance import predict_conductance

    root = Path(__file__).resolve().parents[2]
    recorded = json.loads((root / "benchmarks" / "results" / "surrogate.json").read_text())
    entry = predict_conductance(["au-spd-2x2-test"])["sources"]["au-spd-2x2-test"]
    assert entry["peak_predictive_G0"] == pytest.approx(
        recorded["peak_blind_predictive_G0"], abs=0.005
    )
    reference = entry["against_reference"]["peak_reference_G0"]
    assert abs(entry["peak_predictive_G0"] - reference) < abs(
        entry["against_reference"]["peak_surrogate_G0"] - reference
    )
    # and per temperature (4 K, 300 K), as the benchmark drew them
    blind = recorded["surrogate_shipped"]["blind"]
    for t in ("4K", "300K"):
        assert entry[f"peak_{t}_predictive_G0"] == pytest.approx(
            blind[f"peak_{t}_predictive_G0"], abs=0.005
        )
        for key in (f"peak_{t}_surrogate_G0", f"peak_{t}_reference_G0"):
            assert entry["against_reference"][key] == pytest.approx(blind[key], abs=0.005)


def test_models_without_residuals_report_no_predictive_peak(model_dir, wires, tmp_path):
    from vlab.workflows.conductance import predict_conductance

    structures, _ = wires
    xyz = tmp_path / "w.extxyz"
    write(xyz, structures)
    entry = predict_conductance([str(xyz)], model="tiny")["sources"][str(xyz)]
    assert "peak_predictive_G0" not in entry


def test_predict_goes_in_chunks_under_a_bar_with_the_same_report(
    model_dir, wires, tmp_path, monkeypatch, capsys
):
    import vlab.workflows.conductance as workflow

    structures, _ = wires
    xyz = tmp_path / "w.extxyz"
    write(xyz, structures)
    whole = workflow.predict_conductance([str(xyz)], model="tiny", progress=False)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(workflow, "PREDICT_CHUNK", 3)
    chunked = workflow.predict_conductance([str(xyz)], model="tiny")
    assert chunked["sources"] == whole["sources"]
    n = len(structures)
    bar = capsys.readouterr().err.split("\r")[-1]
    assert "w.extxyz: 100%" in bar and f" {n}/{n} " in bar, bar


def test_shipped_model_names_and_ranges_of_use(tmp_path):
    """A shipped model file is known by its name wherever its path is given; only a model
    whose manifest records a range of use warns, and only for structures outside it: other
    sizes for the fast model, narrower electrodes than the training cells' for both."""
    path = shipped.shipped_model_file("spd-bottleneck")
    assert shipped.shipped_model_name(path) == "spd-bottleneck"
    assert shipped.shipped_model_name(str(path)) == "spd-bottleneck"
    copy = tmp_path / path.name
    copy.write_bytes(path.read_bytes())
    assert shipped.shipped_model_name(copy) is None
    assert shipped.shipped_model_name(tmp_path / "missing.npz") is None
    from vlab.conductance import build_wire

    def wire(n: int, length: int, layers: int = 3):
        return build_wire(cross_section=(n, n), length=length, electrode_layers=layers)

    thin, w112, w160, thick, wide = wire(1, 6), wire(2, 3, 2), wire(2, 4), wire(3, 2), wire(4, 2)
    assert [len(a) for a in (thin, w112, w160, thick, wide)] == [48, 112, 160, 288, 512]
    assert shipped.range_of_use_warning([w112, w160], "spd-bottleneck", "a") is None
    message = shipped.range_of_use_warning([thin, w160, thick, thick], "spd-bottleneck", "b.xyz")
    assert "3 of the 4 structures of 'b.xyz' have 48, 288 atoms" in message
    assert "narrower" not in message  # one reason is enough
    # the headline model transfers to other sizes and wider electrodes, not narrower ones
    assert shipped.range_of_use_warning([w112, thick, wide], "spd-headline", "c") is None
    message = shipped.range_of_use_warning([thin, thick], "spd-headline", "d")
    assert message.startswith("The spd-headline model was trained on junctions whose electrodes")
    assert "1 of the 2 structures of 'd' have narrower electrodes (4 atoms per layer)" in message
    untagged = w160.copy()
    untagged.set_tags(0)
    assert shipped.range_of_use_warning([untagged], "spd-headline", "e") is None


def test_predict_figures_of_sources_with_the_same_name(model_dir, wires, tmp_path):
    """Two structure files of the same name in different folders get two figures."""
    from vlab.workflows.conductance import PLOT_MIN_STRUCTURES, predict_conductance

    structures, _ = wires
    many = [structures[k % len(structures)] for k in range(PLOT_MIN_STRUCTURES)]
    paths = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        paths.append(tmp_path / folder / "wires.extxyz")
        write(paths[-1], many)
    out = tmp_path / "out" / "pred.json"
    report = predict_conductance([str(p) for p in paths], model="tiny", out=out)
    figures = [report["sources"][str(p)]["histogram_png"] for p in paths]
    assert [Path(f).name for f in figures] == ["pred-wires.extxyz.png", "pred-wires.extxyz-2.png"]
    assert all(Path(f).stat().st_size > 10_000 for f in figures)


@pytest.mark.skipif(
    "spd-headline" not in shipped_models(),
    reason="the headline model file is made by benchmarks/train_headline.py",
)
def test_third_blind_set_and_its_recorded_peaks():
    """The shipped third blind set has 48 traces, 24 per temperature; on it the headline's
    predictions and predictive draws give the peaks that blind_peaks.py recorded."""
    from vlab.workflows.conductance import (
        labelled_structures,
        labelled_temperatures,
        predict_conductance,
    )

    root = Path(__file__).resolve().parents[2]
    recorded = json.loads((root / "benchmarks" / "results" / "blind_peaks.json").read_text())
    _, y, traces, _ = labelled_structures("au-spd-2x2-test-d")
    temps = labelled_temperatures("au-spd-2x2-test-d")
    assert len(y) == recorded["snapshots"] == 1401
    for t in (4.0, 300.0):
        assert np.unique(traces[temps == t]).size == 24
    entry = predict_conductance(["au-spd-2x2-test-d"])["sources"]["au-spd-2x2-test-d"]
    draws, point = (recorded["spd-headline"][k]["peak_G0"] for k in ("predictive", "prediction"))
    assert entry["peak_predictive_G0"] == pytest.approx(draws, abs=0.005)
    against = entry["against_reference"]
    assert against["peak_surrogate_G0"] == pytest.approx(point, abs=0.005)
    assert against["peak_reference_G0"] == pytest.approx(recorded["reference_peak_G0"], abs=1e-3)


def test_an_unknown_model_name_lists_the_shipped_ones():
    import vlab.workflows.conductance as workflow

    with pytest.raises(InputError) as info:
        workflow.load_surrogate("no-such-model")
    message = str(info.value)
    assert "'no-such-model' is neither a shipped surrogate (" in message
    assert all(name in message for name in shipped.shipped_models())
    if "spd-headline" in shipped.shipped_models():
        assert "missing" not in message


def test_predict_warns_for_electrodes_narrower_than_the_training_cells():
    """The 1x1-cell wires of au-spd-small (4 atoms per electrode layer) are outside the shipped
    model's training cells (16-36): the report and a UserWarning say so."""
    from vlab.workflows.conductance import predict_conductance

    assert shipped.shipped_model_info("spd-headline")["electrode_atoms_per_layer"] == [16, 36]
    with pytest.warns(UserWarning, match=r"narrower electrodes \(4 atoms per layer\)"):
        report = predict_conductance(["au-spd-small"])
    assert (
        "309 of the 309 structures of 'au-spd-small'"
        in report["sources"]["au-spd-small"]["warning"]
    )


def test_predict_says_which_structures_of_a_store_were_training_labels(tmp_path):
    """A store whose items the shipped model was trained on (by input hash, so a copy too)
    gets ``training_labels`` and a warning that R² and MAE there measure the fit, from predict
    and validate; a blind store gets 0 and no warning."""
    import warnings

    from vlab import catalog
    from vlab.conductance import shipped_model_info
    from vlab.workflows.conductance import (
        predict_conductance,
        training_labels,
        validate_surrogate,
    )

    trained = shipped_model_info("spd-bottleneck")["training_stores"]["au-spd-2x2"]
    location = catalog.get_entry("au-spd-2x2").checked_location()
    copy = catalog.export_store(location, tmp_path / "copy.zarr")
    with pytest.warns(UserWarning) as caught:
        report = predict_conductance(["au-spd-2x2", str(copy)], model="spd-bottleneck")
    for source in ("au-spd-2x2", str(copy)):
        entry = report["sources"][source]
        assert entry["training_labels"] == trained["structures"] == 528  # traces 0-17 of 716
        assert entry["warning"].startswith(
            f"528 of the 716 structures of {source!r} were training labels of the "
            "spd-bottleneck model: R² and MAE against their reference measure its fit, not its "
            "accuracy (on blind snapshots, au-spd-2x2-test-c"
        )
    assert len(caught) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        blind = predict_conductance(["au-spd-2x2-test-c"], model="spd-bottleneck")
    assert blind["sources"]["au-spd-2x2-test-c"]["training_labels"] == 0
    assert "warning" not in blind["sources"]["au-spd-2x2-test-c"]
    with pytest.warns(UserWarning, match="528 of the 716 structures of 'au-spd-2x2' were"):
        checked = validate_surrogate("spd-bottleneck", ["au-spd-2x2"], tmp_path / "v")
    assert checked["stores"]["au-spd-2x2"]["training_labels"] == 528
    assert len(training_labels("spd-headline")) == sum(
        s["structures"] for s in shipped_model_info("spd-headline")["training_stores"].values()
    )


def test_stores_of_another_reference_are_flagged_and_predictions_are_not_scored(tmp_path):
    """The shipped models learned spd labels: a store of s-band labels gets a warning (from
    predict and validate) that R² and MAE there compare two references; a store of spd
    labels (a blind one: no training labels) gets none; a store of a surrogate's predictions
    is predicted but not scored, and validate refuses it."""
    import warnings

    from vlab.campaign import parse_spec, run_campaign
    from vlab.workflows.conductance import predict_conductance, validate_surrogate

    said = (
        "The reference conductances of 'au-sband-large' come from sband-tb v1, but the "
        "spd-bottleneck model learned eht-spd v2 (au-tail): R² and MAE against them compare "
        "two references, not the model's accuracy."
    )
    # and its snapshots are those of au-spd-large, a training store: recognised by structure
    trained = (
        "32 of the 32 structures of 'au-sband-large' were training labels of the "
        "spd-bottleneck model: R² and MAE against their reference measure its fit, not its "
        "accuracy (on blind snapshots, au-spd-2x2-test-c"
    )
    with pytest.warns(UserWarning) as caught:
        report = predict_conductance(["au-sband-large"], model="spd-bottleneck")
    assert report["sources"]["au-sband-large"]["warning"].startswith(f"{said} {trained}")
    assert [str(w.message)[:40] for w in caught] == [said[:40], trained[:40]]
    assert report["sources"]["au-sband-large"]["training_labels"] == 32
    assert report["model"] == {
        "shipped": "spd-bottleneck",
        "reference": "eht-spd v2 (au-tail)",
        "residuals": 1555,  # its validation residuals, for predictive draws
    }
    assert report["sources"]["au-sband-large"]["against_reference"]["reference"] == "sband-tb v1"
    with pytest.warns(UserWarning, match="come from sband-tb v1, but the spd-bottleneck"):
        checked = validate_surrogate("spd-bottleneck", ["au-sband-large"], tmp_path / "v")
    assert checked["stores"]["au-sband-large"]["warning"].startswith(f"{said} {trained}")
    assert checked["model_reference"] == "eht-spd v2 (au-tail)"
    assert checked["stores"]["au-sband-large"]["reference"] == "sband-tb v1"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = predict_conductance(["au-spd-2x2-test"], model="spd-bottleneck")
    assert "warning" not in same["sources"]["au-spd-2x2-test"]
    spec = parse_spec(
        {
            "name": "predicted",
            "kind": "conductance-surrogate",
            "params": {"model": "spd-bottleneck"},
            "inputs": {"catalog": "au-spd-large"},
            "store": str(tmp_path / "predicted.zarr"),
            "chunk_size": 32,
        }
    )
    run_campaign(spec, progress=False)
    predicted = str(tmp_path / "predicted.zarr")
    entry = predict_conductance([predicted], model="spd-bottleneck")["sources"][predicted]
    assert entry["n"] == 32 and "against_reference" not in entry
    with pytest.raises(InputError, match="holds a surrogate's predictions") as err:
        validate_surrogate("spd-bottleneck", [predicted], tmp_path / "w")
    assert "Give a conductance-reference store." in str(err.value)


def test_shipped_manifests_name_the_reference_of_their_training_stores():
    from vlab.workflows.conductance import one_reference, reference_name, store_reference

    for name in ("spd-headline", "spd-bottleneck"):
        info = shipped_model_info(name)
        recorded = info["reference_calculator"]
        assert recorded == one_reference(list(info["training_stores"]), "training stores")
        assert recorded == store_reference("au-spd-2x2")
        assert reference_name(recorded) == "eht-spd v2 (au-tail)"


def test_predict_gives_the_plateau_lengths_of_predicted_and_reference_traces(tmp_path):
    from vlab import catalog
    from vlab.conductance import plateau_length
    from vlab.workflows.conductance import conductance_figures, predict_conductance

    report = predict_conductance(["au-spd-2x2-test-c"], model="spd-bottleneck")
    entry = report["sources"]["au-spd-2x2-test-c"]
    ds = catalog.select(catalog.open("au-spd-2x2-test-c"), status="done").load()
    trace, temperature = ds["trace"].values, ds["temperature"].values
    predicted = np.asarray(entry["conductance_G0"])
    for t in (4, 300):
        lengths = [
            plateau_length(ds["elongation"].values[trace == k], predicted[trace == k])
            for k in np.unique(trace[temperature == t])
        ]
        assert entry[f"plateau_length_mean_A_{t}K"] == pytest.approx(np.mean(lengths), abs=2e-3)
    figures = conductance_figures("au-spd-2x2-test-c", tmp_path)
    reference = entry["against_reference"]["reference_plateaus"]
    for key, value in reference.items():
        assert figures[key] == value, key
    ruptures = entry["against_reference"]["reference_ruptures"]  # as `vlab conductance plot`
    assert ruptures and all(figures[key] == value for key, value in ruptures.items())
    assert {"traces_broken_4K", "rupture_elongation_median_A_300K"} <= set(entry)
    assert reference["plateau_length_mean_A_4K"] > reference["plateau_length_mean_A_300K"]


def test_a_replaced_report_takes_its_figures_along(model_dir, tmp_path):
    out = tmp_path / "pred.json"
    argv = ["conductance", "predict", "au-spd-small", "--model", "tiny", "--out", str(out)]
    assert main(argv) == 0
    assert len(list(tmp_path.glob("pred-*.png"))) == 2
    mine = tmp_path / "pred-notes.png"  # not named by the report: left alone
    mine.write_bytes(b"png")
    assert main([*argv, "--no-plot"]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["pred-notes.png"]
    assert main(argv) == 0  # and drawn again
    assert len(list(tmp_path.glob("pred-*.png"))) == 3


def test_a_failed_predict_leaves_the_earlier_report_and_its_figures(model_dir, tmp_path):
    from ase.io import write

    from vlab.conductance import build_wire

    out = tmp_path / "pred.json"
    argv = ["--model", "tiny", "--out", str(out)]
    assert main(["conductance", "predict", "au-spd-small", *argv]) == 0
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    silver = tmp_path / "silver.xyz"
    write(silver, [build_wire("Ag", length=3)])
    # the store is predicted and drawn again, then the file refused
    assert main(["conductance", "predict", "au-spd-small", str(silver), *argv]) == 2
    after = {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir() if p != silver
    }
    assert after == before  # no figure of the failed run, no temporary file
