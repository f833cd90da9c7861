"""Tests of vlab.polymers.datasets: registry, fetching from a read-only cache, loaders."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from vlab import config
from vlab.errors import DataFileError, InputError
from vlab.polymers import datasets
from vlab.polymers.datasets import (
    SOURCES,
    fetch,
    load_experimental_tc,
    load_smiles_list,
    load_source,
    merge_tables,
    pi1070_source_columns,
)
from vlab.polymers.smiles import canonicalize_many, normalize_many

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared data folder absent")


@pytest.fixture
def shared_cache():
    with config.override({"data.cache_dir": str(SHARED), "data.offline": True}):
        yield SHARED


def test_registry_has_manifest_files():
    files = {s.filename for s in SOURCES.values()}
    assert {"RadonPy_PI1070.csv", "polymon_Tg.csv", "polymon_tg_raw.csv"} <= files
    for src in SOURCES.values():
        assert src.license and src.citation
        if not src.embedded:
            assert src.url.startswith("https://raw.githubusercontent.com/")
            assert len(src.sha256) == 64


@needs_shared
def test_fetch_uses_read_only_cache_without_writing(shared_cache):
    before = sorted(p.name for p in shared_cache.iterdir())
    path = fetch("polymon_tg_raw")
    assert path == shared_cache / "polymon_tg_raw.csv"
    assert sorted(p.name for p in shared_cache.iterdir()) == before


def test_offline_missing_file_says_where_and_how(tmp_path):
    with (
        config.override({"data.cache_dir": str(tmp_path), "data.offline": True}),
        pytest.raises(DataFileError, match=r"polymon_Tg.csv .* not in the data cache") as info,
    ):
        fetch("polymon_tg")
    assert str(tmp_path) in str(info.value) and "VLAB_DATA__CACHE_DIR" in str(info.value)
    assert not any(tmp_path.iterdir())


def test_checksum_mismatch(tmp_path):
    (tmp_path / "polymon_Tg.csv").write_text("Smiles,Tg\n*CC*,1\n")
    with (
        config.override({"data.cache_dir": str(tmp_path), "data.offline": True}),
        pytest.raises(DataFileError, match="has sha256 .* expected 95ade9f7"),
    ):
        fetch("polymon_tg")


def test_env_variable_sets_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("VLAB_DATA__CACHE_DIR", str(tmp_path))
    assert datasets.cache_dir() == tmp_path


def test_unknown_source():
    with pytest.raises(InputError, match="'nope' is not registered; registered sources: "):
        fetch("nope")


@needs_shared
def test_tg_loader_converts_to_kelvin_and_merges(shared_cache, tmp_path):
    # a 200-row subset keeps the test fast; same header as the real file
    lines = (shared_cache / "polymon_tg_raw.csv").read_text().splitlines()[:201]
    lines += ["*C*,-54", "not a smiles,3", "*CC*,-50"]  # duplicate of PE, a bad row
    sub = tmp_path / "polymon_tg_raw.csv"
    sub.write_text("\n".join(lines) + "\n")
    src = SOURCES["polymon_tg_raw"]
    fake = datasets.Source(**{**src.__dict__, "name": "tg_subset", "sha256": ""})
    with config.override({"data.cache_dir": str(tmp_path), "data.offline": True}):
        SOURCES["tg_subset"] = fake
        try:
            table = load_source("tg_subset")
        finally:
            del SOURCES["tg_subset"]
    assert table.units == {"Tg": "K"}
    assert table.bad_rows.count == 1 and "not a smiles" in str(table.bad_rows)
    assert table.n_raw == 203
    pe = table.smiles.index("*C*")
    assert table.counts[pe] == 3  # *C* twice and *CC* (same chain) once
    assert table.values["Tg"][pe] == pytest.approx(np.mean([-54, -54, -50]) + 273.15)
    assert len(table) + table.n_merged + table.bad_rows.count == table.n_raw
    assert np.all(table.values["Tg"] > 100)


def test_experimental_table():
    t = load_experimental_tc()
    assert 30 <= len(t) <= 40
    k = t.column("thermal_conductivity")
    assert np.all((k >= 0.1) & (k <= 0.5))
    assert np.all(np.abs(t.values["T"] - 298) < 5)
    assert all(s.strip() for s in t.text["source"])
    assert len(set(t.text["name"])) == len(t)
    with pytest.raises(InputError, match="'lambda' is not in the table"):
        t.column("lambda")


def test_embedded_hightcond():
    frags = load_smiles_list("hightcond_lc_frags")
    assert len(frags) >= 20 and all(s.count("*") == 2 for s in frags)


def test_merge_tables_means_overlap():
    t = load_experimental_tc()
    m = merge_tables([t, t], columns=["thermal_conductivity"])
    assert len(m) == len(t) and m.n_merged == len(t)
    np.testing.assert_allclose(m.values["thermal_conductivity"], t.values["thermal_conductivity"])


def test_pi1070_leakage_guard():
    cols = pi1070_source_columns()
    assert {"density", "Cp", "bulk_modulus", "Rg", "refractive_index"} <= set(cols)
    assert not any(c.startswith(("thermal_", "TC_")) for c in cols)
    assert not any(c.endswith(("_std", "_count", "_min", "_max")) for c in cols)
    raw = ["thermal_conductivity", "TC_bond", "TC_ke_std", "thermal_diffusivity_max", "Cv"]
    assert pi1070_source_columns(raw) == ("Cv",)


@needs_shared
@pytest.mark.slow
def test_full_pi1070_and_small_molecules(shared_cache):
    t = load_source("radonpy_pi1070")
    assert len(t) > 1000 and t.units["thermal_conductivity"] == "W/(m K)"
    cp = datasets.load_small_molecule_cp()
    assert len(cp) > 1500 and cp.units["Cp"] == "J/(mol K)"
    methane = cp.smiles.index("C")
    assert cp.values["Cp"][methane] == pytest.approx(35.7, abs=0.5)


def test_download_failure_is_data_file_error(tmp_path, monkeypatch):
    import pooch

    def boom(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(pooch, "retrieve", boom)
    with (
        config.override({"data.cache_dir": str(tmp_path), "data.offline": False}),
        pytest.raises(DataFileError, match="Could not download polymon_Tg.csv"),
    ):
        fetch("polymon_tg")


def test_copy_in_writable_cache_is_used(tmp_path):
    if not SHARED.is_dir():
        pytest.skip("shared data folder absent")
    shutil.copy(SHARED / "xenonpy_tests_polymer_test_data.csv", tmp_path)
    with config.override({"data.cache_dir": str(tmp_path), "data.offline": True}):
        t = load_source("xenonpy_polymer_genome")
    assert t.units["Tg"] == "K" and t.bad_rows.count > 0 and len(t) > 200


def test_normalize_many_equals_reference_path_on_crafted_units():
    units = [
        "*CCCC*", "*COC*", "*OCC*", "[*]CCOCCO[*]", "*NCCCCCC(=O)*", "*CCCCCC(=O)N*",
        "*CC(*)c1ccccc1", "*c1ccc(Oc2ccc(C(=O)*)cc2)cc1", "*C[C@H](*)C", "*C/C=C/C*",
        "*CC(C)(C)C(=O)OCC*", "*Oc1ccc(cc1)C(C)(C)c1ccc(cc1)OC(=O)*", "not a smiles", "*CC",
    ]  # fmt: skip
    fast, bad = normalize_many(units)
    reference, ref_bad = canonicalize_many(units, normalize=True)
    assert fast == reference and bad == ref_bad and bad.count == 2


@needs_shared
def test_normalize_many_equals_reference_path_on_tg_sample(shared_cache):
    rows = (shared_cache / "polymon_Tg.csv").read_text().splitlines()[1:]
    sample = [r.split(",")[0] for r in np.random.default_rng(0).choice(rows, 100)]
    assert normalize_many(sample) == canonicalize_many(sample, normalize=True)


def test_small_molecule_cp_plausibility_filter():
    assert datasets._cp_problem("CCCC", 98.0) == ""
    assert "below the plausible floor" in datasets._cp_problem("CCCCc1ccc2ccccc2c1", -49.6)
    assert "several fragments" in datasets._cp_problem("[Na+].[Cl-]", 50.0)
    assert "no parseable SMILES" in datasets._cp_problem("", 50.0)
    assert datasets._cp_problem("[Ar]", 20.79) == ""  # 5/2 R, monatomic ideal gas
