"""The conductance kinds through the engine: tiny break-junction traces, then s-band labels."""

import numpy as np
import pytest
import yaml

from vlab.campaign import load_spec, run_campaign
from vlab.catalog import decode_structures, open_store
from vlab.errors import SpecError

REF = {
    "name": "ref",
    "kind": "conductance-reference",
    "params": {"fidelity": "sband", "energies": [-0.5, 0.5]},
    "inputs": {"catalog": "bj"},
    "chunk_size": 10,
    "store": "ref.zarr",
}


@pytest.fixture
def md(tiny_md_spec):
    """Two tiny traces at 4 K and 300 K."""
    return tiny_md_spec(temperatures=[4, 300])


def _write(tmp_path, data):
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_spec(path)


def test_traces_then_reference_labels_through_the_catalog(tmp_path, client_or_none, md):
    md = run_campaign(_write(tmp_path, md), client=client_or_none, progress=False)
    assert md.done == 2
    traces = open_store(md.store)
    n_snap = traces["n_snapshots"].values
    assert (n_snap >= 2).all() and traces["temperature"].values.tolist() == [4.0, 300.0]
    assert traces["positions"].attrs["units"] == "angstrom"
    ref = run_campaign(_write(tmp_path, REF), client=client_or_none, progress=False)
    assert ref.n_items == int(n_snap.sum()) and ref.failed == 0
    ds = open_store(ref.store)
    g = ds["conductance"].values
    assert np.all((g >= 0) & (g < 2.0))
    assert 0.5 < g[0] < 1.2  # a one-atom neck at rest conducts about 1 G0
    assert ds["transmission"].shape == (ref.n_items, 2)
    first = decode_structures(ds.isel(item=[0]), prefix="structure_")[0]
    assert len(first) == traces.sizes["atom"] and first.info["lead_period"] > 0
    assert "sband-tb" in ds.attrs["calculator"]


def test_reference_reuses_labels_across_campaigns(tmp_path, md):
    run_campaign(_write(tmp_path, md), progress=False)
    run_campaign(_write(tmp_path, REF), progress=False)
    again = run_campaign(
        _write(tmp_path, {**REF, "name": "ref2", "store": "ref2.zarr"}), progress=False
    )
    assert again.computed == 0 and again.copied == again.n_items


def test_spd_reference_labels_every_kth_snapshot(tmp_path, md):
    run_campaign(_write(tmp_path, md), progress=False)
    spd = {**REF, "name": "spd", "store": "spd.zarr"}
    spd["params"] = {"fidelity": "spd", "snapshot_stride": 6}
    ref = run_campaign(_write(tmp_path, spd), progress=False)
    assert ref.failed == 0 and ref.n_items >= 2
    ds = open_store(ref.store)
    g = ds["conductance"].values
    assert np.all((g >= 0) & (g < 3.0))
    assert '"eht-spd"' in ds.attrs["calculator"] and "au-tail" in ds.attrs["calculator"]


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"fidelity": "dft"}, SpecError, "'fidelity' must be one of"),
        ({"fidelity": "spd", "calculator": {"assembly": "pairs"}}, SpecError, "assembly"),
        ({"fidelity": "spd", "calculator": {"engine": "gpu"}}, Exception, "'engine' parameter"),
        ({"fidelity": "sband", "calculator": {"t0": 1.0}}, Exception, "t0"),
        ({"fidelity": "sband", "snapshot_stride": 0}, SpecError, "'snapshot_stride' must be"),
    ],
)
def test_bad_reference_parameters_are_named(tmp_path, params, error, message):
    with pytest.raises(error, match=message):
        run_campaign(_write(tmp_path, {**REF, "params": params}), progress=False)


def test_bad_structure_requests_fail_at_planning_time(tmp_path, md):
    bad = {**md, "params": {**md["params"], "structure": {"element": "Xx"}}}
    with pytest.raises(SpecError, match="'element'.*Xx"):
        run_campaign(_write(tmp_path, bad), progress=False)
    assert not (tmp_path / "bj.zarr").exists()
    with pytest.raises(SpecError, match="unknown protocol key"):
        run_campaign(_write(tmp_path, {**md, "params": {"protocol": {"sped": 1}}}), progress=False)
    # a temperature out of the protocol's range: refused with the spec, not item by item
    hot = {**md, "inputs": {**md["inputs"], "params": {"temperatures": [4.0, -3]}}}
    with pytest.raises(SpecError, match=r"temperatures between 0 and 1000 K. Got \[4.0, -3\]"):
        run_campaign(_write(tmp_path, hot), progress=False)
    assert not (tmp_path / "bj.zarr").exists()


def test_labelled_inputs_honour_the_stride_and_picks_that_match_nothing_are_named(tmp_path, md):
    run_campaign(_write(tmp_path, md), progress=False)
    every = run_campaign(_write(tmp_path, REF), progress=False)
    snaps = open_store(every.store)["snapshot"].values
    relabel = {**REF, "name": "re", "store": "re.zarr", "inputs": {"catalog": "ref"}}
    relabel["params"] = {"fidelity": "sband", "snapshot_stride": 2}
    again = run_campaign(_write(tmp_path, relabel), progress=False)
    assert again.n_items == int((snaps % 2 == 0).sum()) < every.n_items  # was every item
    assert (open_store(again.store)["snapshot"].values % 2 == 0).all()
    picked = {**REF, "name": "pick", "store": "pick.zarr"}
    picked["params"] = {"fidelity": "sband", "snapshots": ["0:0", "0:1", "9:0"]}
    with pytest.warns(UserWarning, match=r"1 of the 3 'snapshots' picks name no done snapshot"):
        report = run_campaign(_write(tmp_path, picked), progress=False)
    assert report.n_items == 2


def test_a_file_of_items_is_refused_for_kinds_that_read_stores(tmp_path):
    (tmp_path / "rows.csv").write_text("smiles\n*CC*\n")
    spec = {**REF, "inputs": {"file": "rows.csv"}}
    with pytest.raises(SpecError, match=r"takes its items from a catalog store \(inputs.catalog"):
        run_campaign(_write(tmp_path, spec), progress=False)
    assert not (tmp_path / "ref.zarr").exists()


def test_max_snapshots_below_what_a_trace_can_make_is_refused(tmp_path, md):
    bad = {**md, "params": {**md["params"], "max_snapshots": 1}}
    with pytest.raises(SpecError, match=r"max_snapshots 1 is below the \d+ snapshots a trace"):
        run_campaign(_write(tmp_path, bad), progress=False)
