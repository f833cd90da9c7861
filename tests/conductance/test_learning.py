"""The active-learning loop (``vlab conductance learn``): spec checks, selection, rounds that
label through the engine, resume after a SIGKILL without computing anything twice."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from vlab import catalog
from vlab.errors import InputError, SpecError
from vlab.workflows.learning import (
    _check_label_references,
    choose_batch,
    load_learning,
    parse_learning,
    plot_learning_curve,
    relative_spread,
    run_learning,
    select_batch,
)

ROOT = Path(__file__).resolve().parents[2]

# a pool of 309 48-atom snapshots (shipped), labelled again by s-band TB with another broadening
# (another calculation: every label is computed), and a small validation store
BASE = {
    "name": "tiny-learn",
    "pool": ["au-sband-small"],
    "validation": ["au-sband-large"],
    "reference": {"fidelity": "sband", "calculator": {"eta": 2.0e-6}},
    "model": {"params": {"n_estimators": 2, "hidden_layer_sizes": [8], "max_iter": 15}},
    "initial": 8,
    "batch": 6,
    "budget": 20,
    "out": "out",
}


def write_spec(folder: Path, **changes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "learn.yaml"
    path.write_text(yaml.safe_dump({**BASE, **changes}))
    return path


def records(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("round-???.json"))]


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("learn")
    index = tmp_path_factory.mktemp("index")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VLAB_CATALOG__INDEX_DIR", str(index))
        mp.setenv("VLAB_CAMPAIGN__PERFORMANCE_REPORT", "false")
        lines: list[str] = []
        summary = run_learning(write_spec(folder), synchronous=True, echo=lines.append)
        again: list[str] = []
        rerun = run_learning(write_spec(folder), synchronous=True, echo=again.append)
    return folder / "out", summary, lines, rerun, again


def test_rounds_grow_the_labels_to_the_budget(loop):
    out, summary, lines, _, _ = loop
    assert summary["n_labels"] == [8, 14, 20]
    assert summary["stopped"] == "label budget reached (20 labels; budget 20)"
    rec = records(out)
    chosen = [tuple(s) for r in rec for s in r["snapshots"]]
    assert len(chosen) == len(set(chosen)) == 20  # never the same snapshot twice
    assert rec[0]["spread_G0"] is None and rec[0]["strategy"] == "random"
    assert rec[1]["strategy"] == "uncertainty" and len(rec[1]["spread_G0"]) == 6
    assert [r["computed"] for r in rec] == [8, 6, 6]
    for r in rec:
        assert {"predict_s", "select_s", "label_s", "retrain_s"} <= set(r["timings_s"])
        assert {"r2", "mae_G0", "r2_0_3G0", "peak_surrogate_G0"} <= set(r["validation"])
    assert sum("round" in line and "validation R²" in line for line in lines) == 3
    figure = Path(summary["figure"])
    assert figure == out / "learning-curve.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 10_000
    assert any("learning curve" in line and str(figure) in line for line in lines)


def test_learning_curve_needs_rounds(tmp_path):
    with pytest.raises(InputError, match="needs at least one round record"):
        plot_learning_curve([], tmp_path / "x.png")


def test_labels_are_the_reference_of_the_chosen_snapshots(loop):
    from vlab.campaign.kinds.conductance import snapshot_items
    from vlab.conductance.transport import SBandTightBinding

    out, *_ = loop
    r = records(out)[1]
    items = {
        (it["trace"], it["snapshot"]): it["structure"]
        for it in snapshot_items(catalog.open("au-sband-small"))
    }
    calc = SBandTightBinding(eta=2.0e-6)
    for (_, trace, snap), g in list(zip(r["snapshots"], r["labels_G0"], strict=True))[:3]:
        assert g == pytest.approx(calc.conductance(items[(trace, snap)]), rel=1e-9)


def test_round_models_know_their_training_labels(loop, tmp_path):
    """A round's model lists the structure keys of the labels it learnt from, so that validate
    (and predict) say when a store holds some of them, and the stores they are in."""
    from vlab.workflows.conductance import validate_surrogate

    out, *_ = loop
    reports = [json.loads(p.read_text()) for p in sorted(out.glob("round-???.report.json"))]
    assert [len(r["training_structure_keys"]) for r in reports] == [8, 14, 20]
    assert [r["training_stores"] for r in reports] == [
        [f"tiny-learn-r{j:03d}-au-sband-small" for j in range(k + 1)] for k in range(3)
    ]
    assert reports[1]["held_out"] == records(out)[1]["validation"]
    first = out / "round-000" / "au-sband-small.zarr"
    said = "training labels of the model round-002.npz: .*\\(on the loop's validation stores "
    with pytest.warns(UserWarning, match=said + r"\(au-sband-large\): R²"):
        checked = validate_surrogate(out / "round-002.npz", [str(first)], tmp_path, progress=False)
    assert checked["stores"][str(first)]["training_labels"] == 8
    with pytest.warns(UserWarning, match="whose residuals the predictive draws use"):
        checked = validate_surrogate(out / "round-000.npz", ["au-sband-large"], tmp_path / "v")
    assert checked["stores"]["au-sband-large"]["training_labels"] == 0  # validation: never chosen
    # each round's model keeps its validation residuals, for predictive draws
    from vlab.conductance.shipped import file_sha256
    from vlab.workflows.conductance import model_residuals

    last = reports[-1]
    assert last["model_sha256"] == file_sha256(out / "round-002.npz")
    assert len(last["residuals"]["reference_G0"]) == last["held_out"]["n"] >= 30
    assert model_residuals(out / "round-002.npz").reference.size == last["held_out"]["n"]
    assert "peak_predictive_G0" in checked["stores"]["au-sband-large"]
    assert len(last["residual_structure_keys"]) == last["held_out"]["n"]
    assert (
        "whose residuals the predictive draws use" in checked["stores"]["au-sband-large"]["warning"]
    )  # the residuals are of this store's snapshots


def test_rerun_after_the_end_computes_nothing(loop):
    _, summary, _, rerun, again = loop
    assert rerun["n_labels"] == summary["n_labels"]
    assert not any("round" in line and "labels (+" in line for line in again)


def test_a_folder_of_rounds_continues_only_with_the_same_settings(loop):
    out = loop[0]
    recorded = json.loads((out / "learning-spec.json").read_text())
    assert recorded["seed"] == 0 and recorded["pool"] == ["au-sband-small"]
    changed = parse_learning({**BASE, "out": str(out), "seed": 3, "initial": 6})
    with pytest.raises(SpecError) as info:
        run_learning(changed, synchronous=True)
    message = str(info.value)
    assert "holds the rounds of a loop with other settings (initial: 8 -> 6; seed: 0 -> 3)" in (
        message
    )
    assert "budget, max_rounds and stop may change between runs" in message


def test_labels_done_elsewhere_are_copied_not_computed(tmp_path, capsys):
    """With the shipped store's own calculator, every label is copied from it. The round shows
    progress bars over the labels and the members, unless told not to."""
    data = {**BASE, "reference": {"fidelity": "sband"}, "budget": 8}
    spec = parse_learning(data | {"out": str(tmp_path / "o")})
    capsys.readouterr()
    with pytest.warns(UserWarning) as caught:
        summary = run_learning(spec, synchronous=True, echo=None)
    other_kind = (
        "tiny-learn: the validation stores hold junctions of a kind the pool and train stores "
        "do not have (160 atoms (16 per electrode layer); the pool and train stores: 48 atoms "
        "(4 per electrode layer)). The validation scores, and the stopping rule that follows "
        "them, measure transfer to that kind"
    )
    assert any(str(w.message).startswith(other_kind) for w in caught)
    bars = [line.strip() for line in capsys.readouterr().err.replace("\r", "\n").splitlines()]
    assert any(b.startswith("tiny-learn-r000-au-sband-small: 100%") and " 8/8 " in b for b in bars)
    assert any(b.startswith("training members: 100%") and " 2/2 " in b for b in bars), bars
    # a loop of the same name elsewhere would take the catalog names of these rounds' stores
    entry = catalog.get_entry("tiny-learn-r000-au-sband-small")
    assert Path(entry.location).parent.parent == (tmp_path / "o").resolve()
    elsewhere = parse_learning(data | {"out": str(tmp_path / "q")})
    with pytest.raises(SpecError) as info:
        run_learning(elsewhere, synchronous=True)
    assert str(info.value) == (
        "tiny-learn: the catalog entry 'tiny-learn-r000-au-sband-small' names a round store of "
        f"another loop called 'tiny-learn' ({str(entry.location)!r}, outside 'out' "
        f"{str((tmp_path / 'q').resolve())!r}); this loop's rounds would take its name and "
        "that store would drop out of the catalog. Give this loop another 'name', or run it "
        "with that loop's 'out'."
    )
    assert not (tmp_path / "q").exists()  # refused before any work
    quiet = parse_learning(data | {"name": "tiny-learn-q", "out": str(tmp_path / "q")})
    run_learning(quiet, synchronous=True, echo=None, progress=False)
    assert capsys.readouterr().err == ""
    (rec,) = records(tmp_path / "o")
    assert (rec["computed"], rec["copied"]) == (0, 8)
    shipped = catalog.open("au-sband-small")
    table = {
        (int(t), int(s)): float(g)
        for t, s, g in zip(
            shipped["trace"].values, shipped["snapshot"].values, shipped["conductance"].values
        )
    }
    for (_, t, s), g in zip(rec["snapshots"], rec["labels_G0"], strict=True):
        assert g == pytest.approx(table[(t, s)], rel=1e-6)
    assert summary["rounds"] == 1
    # once that loop's stores are deleted, their names are free again
    shutil.rmtree(tmp_path / "o")
    again = parse_learning(data | {"out": str(tmp_path / "again")})
    run_learning(again, synchronous=True, echo=None, progress=False)
    assert Path(catalog.locate("tiny-learn-r000-au-sband-small")).parent.parent == (
        (tmp_path / "again").resolve()
    )


@pytest.mark.parametrize("warm", [False, True])
def test_retrain_is_afresh_unless_warm_start(tmp_path, warm):
    """Fresh (default): the round's model is the seed's model fitted on all labels at once."""
    from vlab.campaign.kinds.conductance import snapshot_items
    from vlab.conductance import ConductanceSurrogate

    params = {**BASE["model"]["params"], "warm_start": warm}
    spec = parse_learning(
        {**BASE, "reference": {"fidelity": "sband"}, "budget": 14, "seed": 3}
        | {"model": {"params": params}, "out": str(tmp_path / "o")}
    )
    run_learning(spec, synchronous=True, echo=None)
    rec = records(tmp_path / "o")
    items = {
        (it["trace"], it["snapshot"]): it["structure"]
        for it in snapshot_items(catalog.open("au-sband-small"))
    }
    keys = [(t, s) for r in rec for _, t, s in r["snapshots"]]
    labels = [g for r in rec for g in r["labels_G0"]]
    structures = [items[k] for k in keys]
    scratch = ConductanceSurrogate(random_state=3, **BASE["model"]["params"])
    scratch.fit(structures, np.array(labels))
    final = ConductanceSurrogate.load(tmp_path / "o" / "round-001.npz")
    same = np.allclose(final.predict(structures), scratch.predict(structures), atol=1e-10)
    assert same is not warm


def test_the_fast_estimator_runs_the_loop_and_resumes(tmp_path):
    """model.estimator: bottleneck; round k's model is the seed's model fitted on its labels."""
    from vlab.campaign.kinds.conductance import snapshot_items
    from vlab.conductance import BottleneckSurrogate, load_model_file

    params = {"n_estimators": 2, "max_iter": 20, "min_samples_leaf": 2}
    model = {"estimator": "bottleneck", "params": params}
    spec = {**BASE, "reference": {"fidelity": "sband"}, "budget": 14, "seed": 2, "model": model}
    summary = run_learning(parse_learning(spec | {"out": str(tmp_path / "o")}), synchronous=True,
                           echo=None)  # fmt: skip
    assert summary["n_labels"] == [8, 14]
    rec = records(tmp_path / "o")
    assert rec[1]["strategy"] == "uncertainty" and len(rec[1]["spread_G0"]) == 6
    final = load_model_file(tmp_path / "o" / "round-001.npz")
    assert isinstance(final, BottleneckSurrogate)
    items = {
        (it["trace"], it["snapshot"]): it["structure"]
        for it in snapshot_items(catalog.open("au-sband-small"))
    }
    structures = [items[(t, s)] for r in rec for _, t, s in r["snapshots"]]
    labels = np.array([g for r in rec for g in r["labels_G0"]])
    scratch = BottleneckSurrogate(random_state=2, **params).fit(structures, labels)
    np.testing.assert_allclose(final.predict(structures), scratch.predict(structures), atol=1e-12)
    # a larger budget continues from the saved rounds (the round model is read back)
    more = run_learning(parse_learning(spec | {"budget": 20, "out": str(tmp_path / "o")}),
                        synchronous=True, echo=None)  # fmt: skip
    assert more["n_labels"] == [8, 14, 20] and records(tmp_path / "o")[2]["computed"] == 0


def test_loop_on_a_dask_cluster(tmp_path, dask_client):
    spec = parse_learning({**BASE, "budget": 14, "out": str(tmp_path / "o")})
    lines: list[str] = []
    summary = run_learning(spec, scheduler=dask_client.scheduler.address, echo=lines.append)
    assert summary["n_labels"] == [8, 14]
    assert lines[0].startswith("Dask dashboard: http")


def test_sigkill_then_rerun_continues_and_computes_nothing_twice(tmp_path):
    """A real SIGKILL of ``vlab conductance learn`` after round 0; the rerun goes on from
    there: finished rounds untouched, a label store's done items not computed again."""
    spec = write_spec(tmp_path, budget=26)
    out = tmp_path / "out"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "VLAB_CAMPAIGN__PERFORMANCE_REPORT": "false",
    }
    cmd = [sys.executable, "-m", "vlab.cli", "conductance", "learn", str(spec), "--synchronous"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not (out / "round-000.json").is_file() and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode()
        time.sleep(0.05)
    time.sleep(0.3)  # somewhere in round 1
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {p.name: p.read_bytes() for p in out.glob("round-*.json")}
    done_before = {}
    for store in out.glob("round-*/*.zarr"):
        status = catalog.read_ledger(store, ("status",))["status"]
        done_before[store.parent.name] = int((status == catalog.Status.DONE).sum())
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    rec = records(out)
    assert [r["n_labels"] for r in rec] == [8, 14, 20, 26]
    for name, data in before.items():  # complete rounds (and chosen batches) are kept
        assert (out / name).read_bytes() == data
    for r in rec:
        if f"round-{r['round']:03d}.json" in before:
            continue
        chosen = len(r["snapshots"])
        assert r["computed"] + done_before.get(f"round-{r['round']:03d}", 0) == chosen
        assert r["labelled_before"] == done_before.get(f"round-{r['round']:03d}", 0)
        assert r["copied"] == 0


def test_train_stores_are_fitted_in_every_round(tmp_path, monkeypatch):
    from vlab.campaign.kinds.conductance import snapshot_items
    from vlab.conductance import ConductanceSurrogate
    from vlab.workflows.conductance import labelled_structures

    monkeypatch.setenv("VLAB_CATALOG__INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("VLAB_CAMPAIGN__PERFORMANCE_REPORT", "false")
    path = write_spec(
        tmp_path, train=["au-sband-large"], validation=["au-sband-contact"], budget=14
    )
    summary = run_learning(path, synchronous=True, echo=None)
    rec = records(tmp_path / "out")
    assert [r["n_labels"] for r in rec] == [8, 14]
    assert [r["n_train"] for r in rec] == [32 + 8, 32 + 14]
    assert summary["train"] == ["au-sband-large"]
    # round 0's model is the spec's model fitted on the train store and round 0's labels
    base, y_base, _, _ = labelled_structures("au-sband-large")
    items = {
        (it["trace"], it["snapshot"]): it["structure"]
        for it in snapshot_items(catalog.open("au-sband-small"))
    }
    chosen = [items[(t, s)] for _, t, s in rec[0]["snapshots"]]
    params = {**BASE["model"]["params"], "random_state": 0}
    direct = ConductanceSurrogate(**params).fit(
        [*base, *chosen], np.concatenate([y_base, rec[0]["labels_G0"]])
    )
    looped = ConductanceSurrogate.load(rec[0]["model"])
    np.testing.assert_allclose(looped.predict(base[:5]), direct.predict(base[:5]), rtol=1e-9)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"batch": 0}, "'batch' must be an integer >= 1. Got 0."),
        ({"name": "a/b c"}, "'name' must be letters, digits, '.', '_', '-' that start"),
        ({"initial": 20, "budget": 10}, "'budget' (10) must be at least 'initial' (20)"),
        ({"train": ["au-sband-small"]}, "'train' must not share stores with 'pool'"),
        ({"train": ["au-sband-large"]}, "'train' must not share stores with 'validation'"),
        ({"train": []}, "'train' must be a catalog name or a list of them"),
        ({"strategy": "greedy"}, "'strategy' must be one of ('uncertainty', 'random')"),
        ({"pool": []}, "'pool' must be a catalog name or a list of them"),
        ({"colour": 1}, "unknown key(s) ['colour']"),
        ({"stop": {"r2": 0.1}}, "'stop' must be a mapping with keys"),
        ({"stop": {"patience": 0}}, "'patience' must be an integer >= 1"),
        ({"model": {"params": {"n_layers": 3}}}, "'model': Unknown ConductanceSurrogate"),
        ({"model": {"estimator": "forest"}}, "'model.estimator' must be one of ('local', 'bot"),
        (
            {"model": {"estimator": "bottleneck", "preset": "spd-headline"}},
            "the bottleneck estimator takes 'model.params' only. Got preset 'spd-headline'.",
        ),
        (
            {"model": {"estimator": "bottleneck", "params": {"warm_start": True}}},
            "'model.params.warm_start' is a parameter of the local estimator",
        ),
        (
            {"model": {"estimator": "bottleneck", "params": {"depth": 3}}},
            "'model': Unknown BottleneckSurrogate parameter(s) ['depth']",
        ),
        ({"model": {"kind": "x"}}, "'model' has the keys ['estimator', 'params', 'preset']"),
        ({"reference": {"fidelity": "dft"}}, "'reference': conductance-reference: 'fidelity'"),
        ({"reference": {"energy": 1}}, "'reference' has the keys"),
        ({"validation": ["au-sband-small"]}, "'validation' must not share stores with 'pool'"),
        ({"explore": 1.5}, "'explore' must be a number from 0 to 1. Got 1.5."),
        ({"scan": 0}, "'scan' must be an integer >= 1. Got 0."),
        ({"strata": 0}, "'strata' must be an integer >= 1. Got 0."),
        ({"spread": "log"}, "'spread' must be one of ('absolute', 'relative'). Got 'log'."),
        (
            {"model": {"params": {"warm_start": "yes"}}},
            "'model.params.warm_start' must be true (start each round from the last round's "
            "members) or false (fit afresh). Got 'yes'.",
        ),
    ],
)
def test_bad_specs_name_the_key_in_one_line(tmp_path, change, message):
    with pytest.raises(SpecError) as err:
        load_learning(write_spec(tmp_path, **change))
    text = str(err.value)
    assert message in text and "\n" not in text and str(tmp_path / "learn.yaml") in text


def test_missing_keys_and_files(tmp_path):
    with pytest.raises(SpecError, match=r"missing key\(s\) \['budget'\]"):
        parse_learning({k: v for k, v in BASE.items() if k != "budget"})
    with pytest.raises(SpecError, match="no such learning spec file"):
        load_learning(tmp_path / "nope.yaml")


def test_select_batch_spreads_over_the_uncertain_candidates():
    rng = np.random.default_rng(0)
    std = rng.random(200)
    fp = rng.normal(size=(200, 3))
    fp[:20] = fp[0]  # twenty identical fingerprints
    std[:20] += 1.0  # ... that are the most uncertain
    pick = select_batch(std, fp, 10, candidates=4)
    assert len(set(pick.tolist())) == 10
    top = set(np.argsort(-std)[:40].tolist())
    assert set(pick.tolist()) <= top
    assert sum(p < 20 for p in pick) == 1  # one of the duplicates, not ten
    assert select_batch(std, fp, 10, candidates=1).tolist() == np.argsort(-std)[:10].tolist()


def test_strata_share_the_batch_by_predicted_conductance():
    rng = np.random.default_rng(1)
    mean = np.concatenate([rng.uniform(0.0, 1.0, 150), rng.uniform(5.0, 6.0, 50)])
    std = np.where(mean > 4.0, 1.0, 0.1) + 0.01 * rng.random(200)  # the high ones are uncertain
    fp = rng.normal(size=(200, 2))
    plain = select_batch(std, fp, 8, candidates=1)
    assert all(mean[plain] > 4.0)  # spread alone picks only the uncertain group
    pick = select_batch(std, fp, 8, candidates=1, mean=mean, strata=4)
    assert len(set(pick.tolist())) == 8
    assert sum(mean[pick] > 4.0) == 2  # one quarter of the rows, one quarter of the batch
    low = np.flatnonzero(mean < 4.0)  # inside a stratum: the most uncertain rows
    group = low[np.argsort(mean[low])][:50]
    assert set(pick.tolist()) & set(group.tolist()) == set(group[np.argsort(-std[group])][:2])
    with pytest.raises(InputError, match="needs 'mean', one predicted value per row"):
        select_batch(std, fp, 8, strata=2)
    with pytest.raises(InputError, match="'strata' of select_batch must be an integer >= 1"):
        select_batch(std, fp, 8, mean=mean, strata=0)


def test_choose_batch_scores_by_the_spread_rule():
    rng = np.random.default_rng(2)
    mean = np.concatenate([rng.uniform(0.05, 0.5, 100), rng.uniform(4.0, 6.0, 100)])
    std = 0.1 * mean + 0.01 * rng.random(200)  # absolute spread grows with G
    fp = rng.normal(size=(200, 2))
    absolute = choose_batch(mean, std, fp, 6, candidates=1)
    assert absolute.tolist() == select_batch(std, fp, 6, candidates=1).tolist()
    assert all(mean[absolute] > 4.0)
    relative = choose_batch(mean, std, fp, 6, spread="relative", candidates=1)
    assert (
        relative.tolist() == select_batch(relative_spread(mean, std), fp, 6, candidates=1).tolist()
    )
    assert all(mean[relative] < 0.5)  # below the floor the relative spread is largest
    strata = choose_batch(mean, std, fp, 6, candidates=1, strata=2)
    assert sum(mean[strata] > 4.0) == 3
    with pytest.raises(InputError, match=r"'spread' of choose_batch must be one of \['absolute'"):
        choose_batch(mean, std, fp, 6, spread="ratio")


def test_explore_mixes_random_snapshots_into_the_batch(tmp_path):
    spec = parse_learning(
        {**BASE, "reference": {"fidelity": "sband"}, "budget": 14, "explore": 0.5, "scan": 100}
        | {"strata": 2, "spread": "relative"}
        | {"out": str(tmp_path / "o")}
    )
    summary = run_learning(spec, synchronous=True, echo=None)
    assert summary["n_labels"] == [8, 14]
    assert len(records(tmp_path / "o")[1]["snapshots"]) == 6


def test_example_spec_is_valid():
    spec = load_learning(ROOT / "examples" / "au-spd-learn.yaml")
    assert spec.pool and spec.validation and spec.strategy == "uncertainty"


def test_cli_errors_are_one_line(tmp_path, capsys):
    from vlab.cli import main

    assert main(["conductance", "learn", str(tmp_path / "none.yaml"), "--synchronous"]) == 2
    err = capsys.readouterr().err
    assert "no such learning spec file" in err and err.strip().count("\n") == 0
    assert main(["conductance", "learn", str(write_spec(tmp_path, batch=-1))]) == 2
    assert "'batch' must be an integer >= 1. Got -1." in capsys.readouterr().err


def test_describe_gives_what_each_model_reads_so_rounds_can_share_it():
    """Fast model: rows of its bottleneck features; headline: its LocalDescriptors; both
    predict from them what they predict from the structures."""
    from vlab.conductance import bottleneck_features, load_shipped_model, shipped_models
    from vlab.workflows.conductance import labelled_structures
    from vlab.workflows.learning import describe

    structures = labelled_structures("au-spd-2x2-test-c")[0][:6]
    fast = load_shipped_model("spd-bottleneck")
    rows = describe(structures, fast)
    assert np.array_equal(np.vstack(rows), bottleneck_features(structures, fast.settings_))
    assert np.allclose(fast.predict(rows), fast.predict(structures))
    if "spd-headline" in shipped_models():
        headline = load_shipped_model("spd-headline")
        assert np.allclose(headline.predict(describe(structures, headline)),
                           headline.predict(structures))  # fmt: skip


def test_stores_of_another_reference_are_refused_before_any_work(tmp_path):
    """The loop labels with s-band TB: a validation (or train) store of spd labels would
    score (or train) the model against another reference; the same calculator with another
    broadening is accepted with a warning that names the difference."""
    spec = write_spec(tmp_path, validation=["au-spd-large"])
    with pytest.raises(InputError) as err:
        run_learning(spec, synchronous=True, echo=None)
    assert str(err.value) == (
        "tiny-learn: the validation store 'au-spd-large' was labelled by eht-spd v2 (au-tail), "
        "but the loop labels with sband-tb v1 (its 'reference'): the model would be scored "
        "against a mix of two references. Give validation stores labelled like the loop's, or "
        "set 'reference' to theirs."
    )
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="the train store 'au-spd-large' was labelled by eht"):
        run_learning(write_spec(tmp_path, train=["au-spd-large"]), synchronous=True, echo=None)
    with pytest.warns(UserWarning) as caught:
        _check_label_references(load_learning(write_spec(tmp_path)))
    assert [str(w.message) for w in caught] == [
        "tiny-learn: the validation store 'au-sband-large' was labelled by sband-tb v1 with "
        "other parameters than the loop's 'reference' (eta 2e-06 against 1e-06); the loop "
        "scores against them as they are."
    ]


def test_round_models_record_the_reference_they_learned(loop):
    from vlab.workflows.conductance import campaign_reference

    out = loop[0]
    report = json.loads((out / "round-000.report.json").read_text())
    assert report["reference"] == campaign_reference(BASE["reference"])
    assert report["reference"]["params"]["eta"] == 2.0e-6


def test_a_missing_pool_store_leaves_no_output_folder(tmp_path):
    from vlab.errors import CatalogError

    with pytest.raises(CatalogError, match="No catalog entry named 'au-sband-smal'"):
        run_learning(write_spec(tmp_path, pool=["au-sband-smal"]), synchronous=True, echo=None)
    assert not (tmp_path / "out").exists()


def test_the_pool_leaves_out_validation_snapshots_and_repeats():
    """au-spd-large's snapshots are all in au-spd-2x2: as validation, none may be chosen."""
    from types import SimpleNamespace

    from vlab.conductance import BottleneckSettings
    from vlab.workflows.conductance import labelled_structures, structure_keys
    from vlab.workflows.learning import _load_pool

    held = frozenset(structure_keys(labelled_structures("au-spd-large")[0]))
    spec = SimpleNamespace(name="loop", pool=("au-spd-2x2", "au-spd-large"), snapshot_stride=1)
    with pytest.warns(UserWarning) as caught:
        pool = _load_pool(spec, BottleneckSettings(), None, held)
    everything = len(structure_keys(labelled_structures("au-spd-2x2")[0]))
    assert [str(w.message) for w in caught] == [
        f"loop: of the pool's {everything + len(held)} snapshots, {len(held)} are validation "
        f"or train snapshots too (never chosen); {len(held)} repeat a snapshot of another pool "
        "store (chosen once at most)."
    ]
    assert len(pool.keys) == everything - len(held) == len(set(pool.structure_keys))
    assert held.isdisjoint(pool.structure_keys)
