"""``conductance-reference`` on a store of labelled snapshots, and picked snapshots."""

from __future__ import annotations

import numpy as np
import pytest

from vlab import catalog
from vlab.campaign import parse_spec, plan_campaign, run_campaign
from vlab.errors import SpecError


def spec(tmp_path, **params):
    return parse_spec(
        {
            "name": "picked",
            "kind": "conductance-reference",
            "inputs": {"catalog": "au-sband-small"},
            "params": {"fidelity": "sband", **params},
            "store": str(tmp_path / "picked.zarr"),
        }
    )


def test_same_calculation_keeps_the_source_hash_and_is_copied(tmp_path):
    source = catalog.open("au-sband-small")
    picks = [f"{t}:{s}" for t, s in zip(source["trace"].values[:5], source["snapshot"].values[:5])]
    plan = plan_campaign(spec(tmp_path, snapshots=picks))
    assert plan.hashes == [str(h) for h in source["input_hash"].values[:5]]
    report = run_campaign(spec(tmp_path, snapshots=picks), progress=False)
    assert (report.computed, report.copied) == (0, 5)
    got = catalog.open_store(tmp_path / "picked.zarr")["conductance"].values
    np.testing.assert_allclose(got, source["conductance"].values[:5], rtol=1e-6)


def test_another_calculator_computes_with_fresh_hashes(tmp_path):
    source = catalog.open("au-sband-small")
    picks = [f"{source['trace'].values[0]}:{source['snapshot'].values[0]}"]
    s = spec(tmp_path, snapshots=picks, calculator={"eta": 2.0e-6})
    assert plan_campaign(s).hashes[0] != str(source["input_hash"].values[0])
    report = run_campaign(s, progress=False)
    assert (report.computed, report.copied) == (1, 0)


@pytest.mark.parametrize("bad", ["3", "a:1", "1:-2", ""])
def test_bad_snapshot_picks_are_named(tmp_path, bad):
    with pytest.raises(SpecError, match="'snapshots' holds texts TRACE:SNAPSHOT") as err:
        plan_campaign(spec(tmp_path, snapshots=[bad]))
    assert "\n" not in str(err.value)


def test_a_random_sample_is_seeded_and_drawn_from_the_snapshots(tmp_path):
    every = plan_campaign(spec(tmp_path)).hashes
    first = plan_campaign(spec(tmp_path, sample=7, sample_seed=3)).hashes
    assert len(first) == 7 and len(set(first)) == 7
    assert set(first) <= set(every)
    assert first == sorted(first, key=every.index)  # store order kept
    assert plan_campaign(spec(tmp_path, sample=7, sample_seed=3)).hashes == first
    assert plan_campaign(spec(tmp_path, sample=7, sample_seed=4)).hashes != first
    assert plan_campaign(spec(tmp_path, sample=len(every) + 5)).hashes == every


@pytest.mark.parametrize(
    ("params", "match"),
    [({"sample": -1}, "'sample' must be"), ({"sample": 2.5}, "'sample' must be"),
     ({"sample_seed": -3}, "'sample_seed' must be")],
)  # fmt: skip
def test_bad_sample_parameters_are_named(tmp_path, params, match):
    with pytest.raises(SpecError, match=match):
        plan_campaign(spec(tmp_path, **params))
