"""The bottleneck features and the fast surrogate: geometry, errors, save/load, shipped model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms

from vlab.conductance import (
    BottleneckSettings,
    BottleneckSurrogate,
    ConductanceSurrogate,
    bottleneck_features,
    build_wire,
    load_model_file,
    load_shipped_model,
    neck_plane,
    perturb,
    shipped_model_info,
    shipped_models,
)
from vlab.conductance.bottleneck import FEATURE_NAMES
from vlab.conductance.shipped import MODEL_DIR, file_sha256, shipped_model_file
from vlab.errors import DataFileError, InputError, InvalidStructureError
from vlab.workflows.conductance import labelled_structures


def _column(name: str) -> int:
    return FEATURE_NAMES.index(name)


@pytest.fixture(scope="module")
def wires():
    wire = build_wire("Au", cross_section=(1, 1), length=4, electrode_layers=2)
    return [perturb(wire, amplitude=0.04, rng=k) for k in range(40)]


def test_a_perfect_wire_is_crossed_by_its_bonds_everywhere():
    thin = build_wire("Au", cross_section=(1, 1), length=4, electrode_layers=2)
    wide = build_wire("Au", cross_section=(2, 2), length=4, electrode_layers=2)
    f_thin, f_wide = bottleneck_features([thin, wide])
    bonds = _column("min_crossing_bonds")
    # fcc (001) layers of a 1x1 cell: 2 atoms, each bonded to 2 atoms of the next layer
    assert f_thin[bonds] == 4 and f_thin[_column("bottleneck_crossing_bonds")] == 4
    assert f_wide[bonds] > f_thin[bonds]
    assert np.all(f_wide[:3] > f_thin[:3])  # more links across the wider wire
    assert f_thin[_column("shortest_link_1")] == pytest.approx(2.885, abs=0.01)


def test_features_do_not_depend_on_position_or_atom_order():
    wire = perturb(build_wire("Au", cross_section=(1, 1), length=4), amplitude=0.05, rng=1)
    moved = wire.copy()
    moved.translate([3.0, -2.0, 7.5])
    order = np.random.default_rng(0).permutation(len(wire))
    shuffled = wire[order]
    f = bottleneck_features([wire, moved, shuffled])
    np.testing.assert_allclose(f[1], f[0], atol=1e-9)
    np.testing.assert_allclose(f[2], f[0], atol=1e-9)


def test_the_neck_spectra_are_those_of_the_atoms_at_the_cut():
    wire = perturb(build_wire("Au", cross_section=(1, 1), length=4), amplitude=0.05, rng=2)
    settings = BottleneckSettings(neck_centres=3)
    f = bottleneck_features([wire], settings)[0]
    names = settings.feature_names()
    assert len(f) == settings.n_features == 11 + 2 * 105 and names[11] == "neck_soap_mean_0"
    geometry = bottleneck_features([wire], BottleneckSettings(neck_centres=0))[0]
    np.testing.assert_array_equal(f[:11], geometry)
    spectra = f[11:].reshape(2, 105)
    assert np.all(spectra[1] <= spectra[0] + 1e-12)  # the minimum is at most the mean
    lonely = wire.copy()
    z = lonely.positions[:, 2]
    cut = np.median(z[lonely.get_tags() == 0])
    lonely.positions[z > cut, 2] += 1.5  # a gap: fewer neighbours for the atoms at the cut
    g = bottleneck_features([lonely], settings)[0]
    assert g[11:116].sum() < f[11:116].sum()


def test_neck_spectra_need_known_species():
    wire = build_wire("Au", cross_section=(1, 1), length=2)
    wire[0].symbol = "Ag"
    with pytest.raises(InputError, match="Structure 0 contains \\['Ag'\\], which are not in"):
        bottleneck_features([wire])
    assert bottleneck_features([wire], BottleneckSettings(neck_centres=0)).shape == (1, 11)


def test_a_stretched_neck_has_weaker_links():
    wire = build_wire("Au", cross_section=(1, 1), length=4, electrode_layers=2)
    stretched = wire.copy()
    z = stretched.positions[:, 2]
    cut = np.median(z[stretched.get_tags() == 0])
    stretched.positions[z > cut, 2] += 1.0  # open a 1 Å gap in the middle of the device
    f, g = bottleneck_features([wire, stretched])
    assert np.all(g[:3] < f[:3]) and g[_column("min_crossing_bonds")] == 0
    # the cut lies inside the gap opened between the two halves
    below, above = z[z <= cut].max(), stretched.positions[z > cut, 2].min()
    assert below < neck_plane(stretched) <= above
    with pytest.raises(InvalidStructureError, match=r"has tags \[0\]"):
        neck_plane(Atoms("Au2", positions=[(0, 0, 0), (0, 0, 2.9)]))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"cutoff": 3.0},
            "The 'cutoff' parameter of BottleneckSettings must be a number of Å in (3.3, 12]",
        ),
        ({"decays": (1.0, 2.0)}, "'decays' parameter of BottleneckSettings must be three"),
        ({"decays": (1.0, -2.0, 3.0)}, "three numbers per Å in (0, 20]"),
        ({"grid_spacing": 0.0}, "'grid_spacing' parameter of BottleneckSettings must be"),
        ({"bond_length": "2.88"}, "'bond_length' parameter of BottleneckSettings must be"),
        ({"neck_centres": -1}, "'neck_centres' parameter of BottleneckSettings must be an integer"),
        ({"neck_centres": 2.5}, "an integer in [0, 64]. Got 2.5"),
        ({"soap_r_cut": 20}, "'soap_r_cut' parameter of BottleneckSettings must be a number"),
        ({"soap_l_max": 10}, "'soap_l_max' parameter of BottleneckSettings must be an integer"),
        ({"species": ("Au", "Xx")}, "chemical symbols; ['Xx'] are not. Got ('Au', 'Xx')"),
        ({"species": "Au"}, "'species' parameter of BottleneckSettings must be a non-empty list"),
    ],
)
def test_bad_settings_name_the_parameter(settings, message):
    with pytest.raises(InputError) as err:
        BottleneckSettings(**settings)
    assert message in str(err.value)


def test_bad_structures_are_named():
    wire = build_wire("Au", cross_section=(1, 1), length=2)
    with pytest.raises(InputError, match="must be a list of ase.Atoms. Got Atoms"):
        bottleneck_features(wire)
    with pytest.raises(InputError, match="item 1 is a str"):
        bottleneck_features([wire, "x"])
    untagged = wire.copy()
    untagged.set_tags(1)
    with pytest.raises(InvalidStructureError, match=r"Structure 0 has tags \[1\]; bottleneck"):
        bottleneck_features([untagged])
    untagged.set_tags(0)  # no electrodes: not a junction (the headline model refuses it too)
    with pytest.raises(InvalidStructureError, match=r"Structure 1 has tags \[0\]; .* all three"):
        bottleneck_features([wire, untagged])
    with pytest.raises(InputError, match="'settings' parameter of bottleneck_features"):
        bottleneck_features([wire], settings={"cutoff": 5})
    with pytest.raises(InputError, match="Unknown BottleneckSettings keys \\['r_cut'\\]"):
        BottleneckSettings.from_dict({"r_cut": 5.0})


def test_model_errors_name_the_input(wires):
    y = np.linspace(0.1, 2.0, len(wires))
    with pytest.raises(InputError, match="'n_estimators' parameter of BottleneckSurrogate"):
        BottleneckSurrogate(n_estimators=0).fit(wires, y)
    with pytest.raises(InputError, match="'loss' parameter .* \\['absolute', 'squared'\\]"):
        BottleneckSurrogate(loss="huber").fit(wires, y)
    with pytest.raises(InputError, match="'learning_rate' parameter .* in \\(0, 1\\]. Got 2"):
        BottleneckSurrogate(learning_rate=2).fit(wires, y)
    with pytest.raises(InputError, match="one finite conductance per structure: got 3 values"):
        BottleneckSurrogate(min_samples_leaf=5).fit(wires, y[:3])
    with pytest.raises(InputError, match="needs at least 2 x min_samples_leaf = 40 structures"):
        BottleneckSurrogate().fit(wires[:10], y[:10])
    with pytest.raises(InputError, match="array of shape \\(n, 221\\). Got shape \\(4, 3\\)"):
        BottleneckSurrogate(min_samples_leaf=5).fit(np.zeros((4, 3)), y[:4])
    geometry = BottleneckSettings(neck_centres=0)
    with pytest.raises(InputError, match="array of shape \\(n, 11\\). Got shape \\(4, 3\\)"):
        BottleneckSurrogate(settings=geometry, min_samples_leaf=5).fit(np.zeros((4, 3)), y[:4])


def test_save_and_load_give_the_same_predictions(tmp_path, wires):
    x = bottleneck_features(wires)
    y = np.exp(x[:, 1])  # a smooth function of the features, as a target
    model = BottleneckSurrogate(n_estimators=3, max_iter=30, min_samples_leaf=5).fit(x, y)
    mean, std = model.predict(wires, return_std=True)
    assert mean.shape == (len(wires),) and np.all(std >= 0) and np.all(mean >= 0)
    assert np.corrcoef(mean, y)[0, 1] > 0.8  # learns the target it was fitted to
    path = model.save(tmp_path / "fast")
    again = load_model_file(path)
    assert isinstance(again, BottleneckSurrogate) and path.name == "fast.npz"
    np.testing.assert_array_equal(again.predict(wires), mean)
    np.testing.assert_array_equal(again.predict(wires, return_std=True)[1], std)
    assert again.n_train_ == len(wires) and again.settings_ == model.settings_
    with np.load(path) as data:  # an incomplete file is named, not a KeyError
        np.savez(tmp_path / "broken.npz", **{k: data[k] for k in data.files if k != "leaf"})
    with pytest.raises(DataFileError, match="broken.npz' is incomplete \\(missing \\['leaf'\\]"):
        load_model_file(tmp_path / "broken.npz")
    # a file that cannot hold the trees (they could not be read) holds the training data
    model._forest = None
    again = load_model_file(model.save(tmp_path / "refit"))
    np.testing.assert_allclose(again.predict(wires), mean, rtol=0, atol=1e-12)


def test_files_of_the_first_format_still_load(tmp_path, wires):
    """A version-1 file: the 11 geometric features, fitted again on load."""
    from vlab._utils import write_model_file

    geometry = BottleneckSettings(neck_centres=0)
    x = bottleneck_features(wires, geometry)
    model = BottleneckSurrogate(settings=geometry, n_estimators=2, max_iter=20,
                                min_samples_leaf=5).fit(x, x[:, 1])  # fmt: skip
    settings = {k: v for k, v in geometry.to_dict().items()
                if k in ("bond_length", "decays", "cutoff", "bond_cutoff", "grid_spacing",
                         "neck_half_width")}  # fmt: skip
    params = model.get_params(deep=False) | {"settings": settings}
    path = write_model_file(tmp_path / "v1", model_type="vlab-bottleneck-surrogate",
                            format_version=1, metadata={"params": params},
                            arrays={"train_features": x, "train_targets": x[:, 1]})  # fmt: skip
    old = load_model_file(path)
    assert old.settings_.neck_centres == 0
    np.testing.assert_allclose(old.predict(wires), model.predict(wires), rtol=0, atol=1e-12)


def test_the_flat_forest_gives_the_members_predictions(wires):
    x = bottleneck_features(wires)
    y = x[:, 0] ** 2
    model = BottleneckSurrogate(n_estimators=3, max_iter=40, min_samples_leaf=5).fit(x, y)
    assert model._forest is not None  # compiled with this scikit-learn
    fast = model.predict(x)
    model._forest = None  # the members' own predict (the fallback)
    np.testing.assert_allclose(model.predict(x), fast, rtol=0, atol=1e-12)


def test_model_files_of_both_kinds_and_other_files(tmp_path, wires):
    y = np.linspace(0.1, 2.0, len(wires))
    local = ConductanceSurrogate(n_estimators=1, hidden_layer_sizes=(4,), max_iter=5,
                                 random_state=0).fit(wires[:6], y[:6])  # fmt: skip
    assert isinstance(load_model_file(local.save(tmp_path / "local.npz")), ConductanceSurrogate)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.ones(3))
    with pytest.raises(DataFileError):
        load_model_file(other)
    with pytest.raises(DataFileError):
        load_model_file(tmp_path / "missing.npz")


def test_the_shipped_fast_model_predicts_held_out_traces():
    info = shipped_model_info("spd-bottleneck")
    assert file_sha256(MODEL_DIR / info["file"]) == info["sha256"]
    model = load_shipped_model("spd-bottleneck")
    assert isinstance(model, BottleneckSurrogate) and info["n_train"] == 6295
    # trace 20 of au-spd-2x2: a validation trace, not in the training set (traces 0-17)
    structures, y, traces, _ = labelled_structures("au-spd-2x2")
    rows = np.flatnonzero(traces == 20)
    pred = model.predict([structures[i] for i in rows])
    r2 = 1 - np.sum((pred - y[rows]) ** 2) / np.sum((y[rows] - y[rows].mean()) ** 2)
    assert r2 > 0.85


def test_the_shipped_fast_model_reproduces_its_recorded_blind_error():
    """Scored on the second blind set (chosen after the first had been read), with the MAE its
    manifest records."""
    info = shipped_model_info("spd-bottleneck")
    assert info["blind"]["store"].startswith("au-spd-2x2-test-c ")
    assert info["params"]["loss"] == "absolute"
    structures, y, _, _ = labelled_structures("au-spd-2x2-test-c")
    pred = load_shipped_model("spd-bottleneck").predict(structures)
    assert len(y) == info["blind"]["n"]
    assert np.mean(np.abs(pred - y)) == pytest.approx(info["blind"]["mae_G0"], abs=2e-3)


def test_predict_with_the_fast_model_warns_outside_its_range_of_use(tmp_path, capsys):
    """48-atom wires are outside the fast model's 112-160-atom training cells: the report
    and a UserWarning say so; the second blind set's 160-atom wires are inside."""
    from vlab.cli import main
    from vlab.workflows.conductance import predict_conductance

    assert shipped_model_info("spd-bottleneck")["range_of_use_atoms"] == [112, 160]
    with pytest.warns(UserWarning, match=r"training cells \(112-160 atoms\); 309 of the 309"):
        report = predict_conductance(["au-spd-small"], model="spd-bottleneck")
    assert "use the spd-headline model" in report["sources"]["au-spd-small"]["warning"]
    by_file = str(shipped_model_file("spd-bottleneck"))  # the same model by its file
    with pytest.warns(UserWarning, match=r"309 of the 309"):
        predict_conductance(["au-spd-small"], model=by_file)
    inside = predict_conductance(["au-spd-2x2-test-c"], model="spd-bottleneck")
    assert "warning" not in inside["sources"]["au-spd-2x2-test-c"]
    with pytest.warns(UserWarning):
        assert main(["conductance", "predict", "au-spd-small", "--model", "spd-bottleneck",
                     "--out", str(tmp_path / "p.json")]) == 0  # fmt: skip
    assert "48 atoms" in json.loads(capsys.readouterr().out)["sources"]["au-spd-small"]["warning"]


def test_train_and_validate_a_bottleneck_model_from_the_command_line(tmp_path, capsys):
    from vlab.cli import main

    model = tmp_path / "fast.npz"
    args = ["conductance", "train", "au-sband-small", "--estimator", "bottleneck"]
    assert main([*args, "--model", str(model), "--set", "min_samples_leaf=5"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["estimator"] == "bottleneck" and report["params"]["min_samples_leaf"] == 5
    assert report["held_out"]["n"] > 0 and report["held_out"]["r2"] > 0.5
    assert isinstance(load_model_file(model), BottleneckSurrogate)
    with pytest.warns(UserWarning, match="were training labels of the model fast.npz"):
        assert main(["conductance", "validate", str(model), "au-sband-small", "--out",
                     str(tmp_path / "v")]) == 0  # fmt: skip
    checked = json.loads(capsys.readouterr().out)["stores"]["au-sband-small"]
    # validated on its own training store: the training labels are counted, and said
    assert report["training_labels"] == report["n_train"] == checked["training_labels"]
    assert checked["n"] == report["n_train"] + report["held_out"]["n"]
    assert checked["warning"].startswith(
        f"{report['n_train']} of the {checked['n']} structures of 'au-sband-small' were "
        "training labels of the model fast.npz: R² and MAE against their reference measure "
        f"its fit, not its accuracy (on its held-out traces: R² {report['held_out']['r2']:.3f}"
    )
    twice = ["conductance", "validate", str(model), "au-sband-small", "au-sband-small"]
    assert main([*twice, "--out", str(tmp_path / "v2")]) == 2
    assert "The store 'au-sband-small' is given twice; give each once." in capsys.readouterr().err
    assert not (tmp_path / "v2").exists()
    assert main([*args, "--model", str(model), "--set", "depth=3"]) == 2
    assert "Unknown BottleneckSurrogate parameter(s) ['depth']" in capsys.readouterr().err
    assert main([*args, "--model", str(model), "--preset", "spd-headline"]) == 2
    assert "the bottleneck estimator takes parameters only" in capsys.readouterr().err
    assert main([*args, "--model", str(model), "--set", "settings.r_cut=5"]) == 2
    assert "Unknown BottleneckSettings keys ['r_cut']" in capsys.readouterr().err


def test_validate_shows_a_bar_over_the_structures_unless_told_not_to(tmp_path, monkeypatch, capsys):
    import vlab.workflows.conductance as workflow
    from vlab.cli import main

    args = ["conductance", "validate", str(shipped_model_file("spd-bottleneck")), "au-spd-small"]
    assert main([*args, "--out", str(tmp_path / "a"), "--no-progress"]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == ""
    whole = json.loads(quiet.out)["stores"]
    monkeypatch.setattr(workflow, "PREDICT_CHUNK", 100)  # a bar for more than that many
    args[2] = "spd-bottleneck"  # the shipped model by name, as for predict: the same model
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    shown = capsys.readouterr()
    assert json.loads(shown.out)["stores"] == whole
    n = whole["au-spd-small"]["n"]
    bar = shown.err.split("\r")[-1]
    assert "au-spd-small: 100%" in bar and f" {n}/{n} " in bar, bar


@pytest.mark.parametrize("name", ["spd-bottleneck", "spd-headline"])
def test_validation_predicts_in_one_call_what_it_featurised_in_chunks(name, monkeypatch):
    """Bit for bit the predictions of one call, of both kinds of model (in chunks of 7 of the
    309 structures, predicting chunk by chunk would change the local model's, from its
    single-precision products, and the fast model's of the last chunk's one structure)."""
    import vlab.workflows.conductance as workflow

    if name not in shipped_models():
        pytest.skip("the headline model file is made by benchmarks/train_headline.py")
    model = load_shipped_model(name)
    structures = labelled_structures("au-sband-small")[0]
    monkeypatch.setattr(workflow, "PREDICT_CHUNK", 7)
    got = workflow._featurise_in_chunks_then_predict(model, structures, "s", progress=False)
    np.testing.assert_array_equal(got, model.predict(structures))


def test_the_number_of_tree_nodes_is_that_of_the_members(wires):
    x = bottleneck_features(wires, BottleneckSettings(neck_centres=0))
    model = BottleneckSurrogate(settings=BottleneckSettings(neck_centres=0), n_estimators=2,
                                max_iter=10, min_samples_leaf=5).fit(x, x[:, 0])  # fmt: skip
    compiled = model.n_tree_nodes
    model._forest = None
    assert model.n_tree_nodes == compiled > 2 * 10


def test_the_absolute_loss_predicts_conditional_medians(tmp_path, wires):
    """Two groups of identical inputs with skewed labels: squared loss gives each group's mean,
    absolute loss its median (and the flat forest and a saved file agree)."""
    x = np.zeros((40, 11))
    x[20:, 0] = 1.0
    y = np.concatenate([[0.97] * 15 + [0.2] * 5, [2.0] * 15 + [3.0] * 5])
    geometry = BottleneckSettings(neck_centres=0)
    common = {"settings": geometry, "n_estimators": 1, "max_iter": 200, "learning_rate": 0.3,
              "min_samples_leaf": 5}  # fmt: skip
    mean = BottleneckSurrogate(**common).fit(x, y)
    median = BottleneckSurrogate(**common, loss="absolute").fit(x, y)
    np.testing.assert_allclose(mean.predict(x[[0, 20]]), [0.7775, 2.25], atol=1e-3)
    np.testing.assert_allclose(median.predict(x[[0, 20]]), [0.97, 2.0], atol=1e-3)
    assert median._forest is not None
    again = load_model_file(median.save(tmp_path / "median"))
    assert again.loss == "absolute"
    np.testing.assert_array_equal(again.predict(x), median.predict(x))


def test_labelled_temperatures_follow_the_labelled_structures(tmp_path):
    from vlab.workflows.conductance import labelled_temperatures

    _, y, traces, _ = labelled_structures("au-spd-2x2-test-c")
    temps = labelled_temperatures("au-spd-2x2-test-c")
    assert len(temps) == len(y) == 645 and set(temps) == {4.0, 300.0}
    for t in np.unique(traces):  # one temperature per trace
        assert len(set(temps[traces == t])) == 1
    with pytest.raises(InputError, match="records no temperature per snapshot"):
        labelled_temperatures("polymers-polymon_tg")


def test_training_on_stores_of_two_references_is_refused(tmp_path, capsys):
    """spd and s-band labels of the same snapshots: a model would learn a mix of the two."""
    from vlab.cli import main

    model = tmp_path / "mixed.npz"
    args = ["conductance", "train", "au-spd-small", "au-sband-small", "--model", str(model)]
    assert main([*args, "--estimator", "bottleneck"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert (
        "The training stores were labelled by different reference calculators ('au-spd-small': "
        "eht-spd v2 (au-tail); 'au-sband-small': sband-tb v1). A surrogate learns one "
        "reference" in err
    )
    assert not model.exists() and not list(tmp_path.iterdir())


def test_a_trained_model_records_its_reference_and_flags_other_stores(tmp_path, capsys):
    from vlab.cli import main
    from vlab.workflows.conductance import store_reference

    model = tmp_path / "spd.npz"
    args = ["conductance", "train", "au-spd-small", "--estimator", "bottleneck"]
    assert main([*args, "--model", str(model), "--set", "min_samples_leaf=5"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["reference"] == store_reference("au-spd-small")
    with pytest.warns(UserWarning, match="come from sband-tb v1, but the model spd.npz learned"):
        assert main(["conductance", "validate", str(model), "au-sband-small", "--out",
                     str(tmp_path / "v")]) == 0  # fmt: skip
    assert (
        "compare two references"
        in json.loads(capsys.readouterr().out)["stores"]["au-sband-small"]["warning"]
    )


def test_train_does_not_replace_a_model_file_without_force(tmp_path, capsys):
    from vlab.cli import main

    model = tmp_path / "fast.npz"
    args = ["conductance", "train", "au-sband-large", "--estimator", "bottleneck"]
    args += ["--model", str(tmp_path / "fast"), "--set", "min_samples_leaf=2"]  # .npz appended
    assert main(args) == 0
    capsys.readouterr()
    before = model.read_bytes()
    assert main(args) == 2
    assert capsys.readouterr().err == (
        f"vlab: error: The model file '{model}' exists; give another --model path, or --force "
        "to replace it (and its .report.json and .parity.png).\n"
    )
    assert model.read_bytes() == before
    assert main([*args, "--force", "--seed", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == str(model)
    assert model.read_bytes() != before


def test_a_holdout_that_leaves_nothing_to_train_on_or_little_to_score_is_said(tmp_path):
    from vlab.workflows.conductance import train_surrogate

    model = tmp_path / "fast.npz"
    params = {"min_samples_leaf": 5, "n_estimators": 2}
    with pytest.raises(InputError) as info:
        train_surrogate(["au-spd-small"], model, estimator="bottleneck", holdout=0.99)
    assert str(info.value) == (
        "The holdout fraction 0.99 holds out 24 of the 24 trace(s) of the training stores, "
        "leaving none to train on: give a fraction below 0.979."
    )
    assert not model.exists()
    with pytest.warns(UserWarning) as caught:
        report = train_surrogate(
            ["au-spd-small"], model, estimator="bottleneck", params=params, holdout=0.05
        )
    said = (
        f"The held-out scores rest on 1 trace(s) ({report['held_out']['n']} snapshots): "
        "snapshots of one trace are alike, so R² and MAE are rough estimates. Hold out more "
        "traces (--holdout) or train on stores of more traces."
    )
    assert said in [str(w.message) for w in caught]
    assert report["warning"] == said and report["held_out_traces"] == 1
    assert json.loads(model.with_suffix(".report.json").read_text())["warning"] == said


def _train_fast(tmp_path):
    """A small fast model of au-spd-small (its default held-out traces), its settings and
    training report."""
    from vlab.workflows.conductance import train_surrogate

    model = tmp_path / "fast.npz"
    params = {"min_samples_leaf": 5, "n_estimators": 2}
    return (
        model,
        params,
        train_surrogate(["au-spd-small"], model, estimator="bottleneck", params=params),
    )


def test_training_snapshots_labelled_by_another_reference_are_still_recognised(tmp_path):
    # au-sband-small holds the very snapshots of au-spd-small, labelled by the s-band model:
    # other input hashes, the same structures
    from vlab.workflows.conductance import (
        predict_conductance,
        structure_keys,
        validate_surrogate,
    )

    model, _, report = _train_fast(tmp_path)
    keys = structure_keys(labelled_structures("au-sband-small")[0])
    trained = sum(k in set(report["training_structure_keys"]) for k in keys)
    assert trained == report["n_train"] > 0
    with pytest.warns(UserWarning, match="were training labels of the model fast.npz"):
        checked = validate_surrogate(model, ["au-sband-small"], tmp_path / "v", progress=False)
    entry = checked["stores"]["au-sband-small"]
    assert entry["training_labels"] == trained
    assert (
        f"{trained} of the {len(keys)} structures of 'au-sband-small' were training"
        in (entry["warning"])
    )
    assert "whose residuals the predictive draws use" in entry["warning"]
    with pytest.warns(UserWarning, match="were training labels"):
        predicted = predict_conductance(["au-sband-small"], model=model, progress=False)
    assert predicted["sources"]["au-sband-small"]["training_labels"] == trained


def test_a_trained_model_keeps_its_held_out_residuals_for_predictive_draws(tmp_path, capsys):
    import shutil

    from vlab.cli import main
    from vlab.conductance import ConditionalResiduals, histogram_peak
    from vlab.workflows.conductance import (
        model_residuals,
        predict_conductance,
        structure_keys,
        train_surrogate,
        validate_surrogate,
    )

    model, params, report = _train_fast(tmp_path)
    held = report["held_out"]["n"]
    assert report["model_sha256"] == file_sha256(model)
    assert len(report["residuals"]["reference_G0"]) == held >= 30
    assert len(report["residual_structure_keys"]) == held
    residuals = model_residuals(model)
    assert isinstance(residuals, ConditionalResiduals) and residuals.reference.size == held
    # the residuals are those of the held-out snapshots: their reference and prediction
    structures, y, _, _ = labelled_structures("au-spd-small")
    pred = load_model_file(model).predict(structures)
    listed = set(report["residual_structure_keys"])
    rows = [i for i, k in enumerate(structure_keys(structures)) if k in listed]
    assert len(rows) == held and len(listed & set(report["training_structure_keys"])) == 0
    order = np.argsort(residuals.reference, kind="stable")
    np.testing.assert_allclose(np.sort(y[rows]), residuals.reference[order], atol=1e-4)
    np.testing.assert_allclose(
        np.sort(pred[rows] - y[rows]),
        np.sort(residuals.predicted - residuals.reference),
        atol=2e-4,
    )
    # predict and validate draw the predictive histogram, and say that this store holds the
    # snapshots the residuals came from
    with pytest.warns(UserWarning, match="whose residuals the predictive draws use"):
        predicted = predict_conductance(["au-spd-small"], model=model, progress=False)
    entry = predicted["sources"]["au-spd-small"]
    # so few residuals make a rough predictive histogram: said with the model
    assert predicted["model"]["residuals"] == held < 500
    assert predicted["model"]["warning"].startswith(
        f"The predictive draws of the model fast.npz rest on {held} held-out residuals; with "
        "fewer than 500 each bin"
    )
    draws = residuals.sample(np.array(entry["conductance_G0"]), draws=20, rng=0)
    assert entry["peak_predictive_G0"] == pytest.approx(histogram_peak(draws), abs=1e-3)
    assert (
        f"{held} of the {len(y)} structures of 'au-spd-small' are the held-out"
        in (entry["warning"])
    )
    with pytest.warns(UserWarning, match="whose residuals the predictive draws use"):
        checked = validate_surrogate(model, ["au-spd-small"], tmp_path / "v", progress=False)
    store = checked["stores"]["au-spd-small"]
    assert {"peak_surrogate_G0", "peak_predictive_G0", "peak_reference_G0"} <= store.keys()
    assert checked["predictive_warning"].startswith("The predictive draws of the model fast")
    # predict never writes its report over a file that is not one of its reports
    before = model.with_suffix(".report.json").read_text()
    with pytest.raises(InputError, match="exists and is not a report of vlab conductance pre"):
        predict_conductance(["au-spd-small"], model=model, out=model.with_suffix(".report.json"))
    assert model.with_suffix(".report.json").read_text() == before
    # the command line prints how many residuals, not each
    args = ["conductance", "train", "au-spd-small", "--estimator", "bottleneck", "--force"]
    assert main([*args, "--model", str(model), "--set", "min_samples_leaf=5"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["residuals"] == held and "residual_structure_keys" not in printed
    # a model file replaced without its report: the report's residuals are not used
    other = tmp_path / "other.npz"
    train_surrogate(["au-spd-small"], other, estimator="bottleneck", params=params, seed=1)
    shutil.copyfile(other, model)
    with pytest.warns(UserWarning, match="is of another model file"):
        assert model_residuals(model) is None
    with pytest.warns(UserWarning, match="is of another model file"):
        entry = predict_conductance(["au-spd-small"], model=model, progress=False)
    assert "peak_predictive_G0" not in entry["sources"]["au-spd-small"]


def test_no_histogram_peak_is_quoted_for_a_handful_of_structures(tmp_path):
    from ase.io import write

    from vlab.conductance import histogram_peak
    from vlab.workflows.conductance import peak_or_none, predict_conductance

    values = np.full(20, 0.98)
    assert peak_or_none(values, histogram_peak) == pytest.approx(0.98, abs=0.02)
    assert peak_or_none(values[:19], histogram_peak) is None
    assert peak_or_none(values, histogram_peak, structures=1) is None  # 20 draws of one
    structures = labelled_structures("au-spd-small")[0]
    write(tmp_path / "three.xyz", structures[:3])
    few = predict_conductance([str(tmp_path / "three.xyz")], model="spd-bottleneck")
    entry = few["sources"][str(tmp_path / "three.xyz")]
    assert entry["n"] == 3 and entry["peak_predictive_G0"] is None
    write(tmp_path / "many.xyz", structures[:40])
    many = predict_conductance([str(tmp_path / "many.xyz")], model="spd-bottleneck")
    assert isinstance(many["sources"][str(tmp_path / "many.xyz")]["peak_predictive_G0"], float)


def test_snapshots_in_two_training_stores_are_used_once_and_held_out_together(tmp_path):
    """au-spd-large's snapshots are a subset of au-spd-2x2's traces: a held-out score over
    copies of training snapshots would measure the fit."""
    from vlab.workflows.conductance import structure_keys, train_surrogate

    params = {"min_samples_leaf": 5, "n_estimators": 2}
    kw = {"estimator": "bottleneck", "params": params, "progress": False}
    with pytest.warns(UserWarning, match=r"^32 snapshot\(s\) are in more than one training"):
        report = train_surrogate(["au-spd-2x2", "au-spd-large"], tmp_path / "m.npz", **kw)
    trained = set(report["training_structure_keys"])
    held = set(report["residual_structure_keys"])
    assert trained.isdisjoint(held) and report["shared_snapshots"] == 32
    from vlab.workflows.conductance import labelled_structures

    everything = set(structure_keys(labelled_structures("au-spd-2x2")[0]))
    assert trained | held == everything  # au-spd-large adds nothing new
    assert report["n_train"] + report["held_out"]["n"] == len(everything)
    with pytest.raises(InputError, match="The training store 'au-spd-small' is given twice"):
        train_surrogate(["au-spd-small", "au-spd-small"], tmp_path / "n.npz", **kw)
    with pytest.raises(InputError) as info:
        train_surrogate(
            ["au-spd-small"], tmp_path / "n.npz", **kw | {"params": {"random_state": 7}}
        )
    assert str(info.value) == (
        "The estimator's random_state is the seed of the split and the ensemble: give seed 7 "
        "(--seed; model.train.seed in an experiment spec) instead of a random_state parameter."
    )
    assert not (tmp_path / "n.npz").exists()


def test_positions_that_are_not_finite_are_refused_before_the_spectra():
    """SOAP reads NaN positions with a segmentation fault: refused first, named."""
    from vlab.conductance import build_wire, load_shipped_model
    from vlab.errors import InvalidStructureError

    wire = build_wire(cross_section=(2, 2), length=2)
    wire.positions[3, 0] = np.nan
    with pytest.raises(InvalidStructureError, match=r"^Structure 1 has NaN or infinite .*\[3\]"):
        bottleneck_features([build_wire(cross_section=(2, 2), length=2), wire])
    with pytest.raises(InvalidStructureError, match="NaN or infinite positions"):
        load_shipped_model("spd-bottleneck").predict([wire])
