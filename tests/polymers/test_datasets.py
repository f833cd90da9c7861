"""Tests of vlab.polymers.datasets: registry, fetching from a read-only cache, shipped stores.

The polymer data come from where the product finds them: the CSV files in the configured data
cache (``VLAB_DATA__CACHE_DIR``) if they are there, else the catalog stores shipped with vlab.
Only the tests that compare a published CSV file with its store need the file itself.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import vlab.catalog
from vlab import config
from vlab.errors import DataFileError, InputError, InvalidSMILESError
from vlab.polymers import datasets
from vlab.polymers.datasets import (
    SOURCES,
    fetch,
    load_experimental_tc,
    load_smiles_list,
    load_source,
    merge_tables,
    pi1070_source_columns,
    source_rows,
)
from vlab.polymers.smiles import (
    _normalize_memo,
    canonicalize_many,
    normalize_many,
    normalize_repeat_unit,
)

SHIPPED = ("radonpy_pi1070", "polymon_tg", "polymon_tg_raw")


def cached_csv(*names: str) -> Path:
    """The configured data cache if it holds the published files of ``names``, else skip."""
    folder = datasets.cache_dir()
    missing = [SOURCES[n].filename for n in names if not (folder / SOURCES[n].filename).is_file()]
    if missing:
        pytest.skip(
            f"compares with the published files {missing}: put them in the data cache "
            f"(config data.cache_dir, env VLAB_DATA__CACHE_DIR; now {folder})"
        )
    return folder


@pytest.fixture
def empty_offline_cache(tmp_path):
    """A fresh machine: an empty data cache and no network."""
    with config.override({"data.cache_dir": str(tmp_path / "cache"), "data.offline": True}):
        yield tmp_path / "cache"


def assert_same_table(a, b):
    assert (a.source, a.license, a.citation, a.units) == (b.source, b.license, b.citation, b.units)
    assert a.smiles == b.smiles and (a.n_raw, a.n_merged) == (b.n_raw, b.n_merged)
    assert a.bad_rows == b.bad_rows and a.text == b.text
    assert np.array_equal(a.counts, b.counts)
    assert list(a.values) == list(b.values)
    for name, column in a.values.items():
        assert column.dtype == b.values[name].dtype == np.float64, name
        assert np.array_equal(column, b.values[name], equal_nan=True), name


def test_registry_has_manifest_files():
    files = {s.filename for s in SOURCES.values()}
    assert {"RadonPy_PI1070.csv", "polymon_Tg.csv", "polymon_tg_raw.csv"} <= files
    for src in SOURCES.values():
        assert src.license and src.citation
        if not src.embedded:
            assert src.url.startswith("https://raw.githubusercontent.com/")
            assert len(src.sha256) == 64


def test_csv_in_the_cache_and_shipped_store_give_identical_tables(tmp_path):
    folder = cached_csv(*SHIPPED)
    before = sorted(p.name for p in folder.iterdir())
    with config.override({"data.cache_dir": str(folder), "data.offline": True}):
        # with the store in the catalog, the catalog is read even though the CSV is cached
        entry = vlab.catalog.get_entry("polymers-polymon_tg")
        assert source_rows("polymon_tg").origin == str(entry.location)
    no_stores = {"catalog.shipped_dir": str(tmp_path / "no-shipped-entries")}
    with config.override({"data.cache_dir": str(folder), "data.offline": True, **no_stores}):
        assert fetch("polymon_tg_raw") == folder / "polymon_tg_raw.csv"
        from_csv = {n: load_source(n, normalize=False) for n in SHIPPED}
        from_csv["pi1070_normalized"] = load_source("radonpy_pi1070")
        assert source_rows("polymon_tg").origin == str(folder / "polymon_Tg.csv")
    assert sorted(p.name for p in folder.iterdir()) == before  # a read-only cache is fine
    with config.override({"data.cache_dir": str(tmp_path), "data.offline": True}):
        from_store = {n: load_source(n, normalize=False) for n in SHIPPED}
        from_store["pi1070_normalized"] = load_source("radonpy_pi1070")
    for name, table in from_csv.items():
        assert_same_table(table, from_store[name])
    assert from_store["polymon_tg_raw"].bad_rows.count == 4


@pytest.mark.slow
def test_csv_and_shipped_store_give_identical_normalized_tg_tables(tmp_path):
    folder = cached_csv("polymon_tg", "polymon_tg_raw")
    no_stores = {"catalog.shipped_dir": str(tmp_path / "no-shipped-entries")}
    with config.override({"data.cache_dir": str(folder), "data.offline": True, **no_stores}):
        from_csv, report_csv = datasets.load_tg()
    with config.override({"data.cache_dir": str(tmp_path), "data.offline": True}):
        from_store, report_store = datasets.load_tg()
    assert_same_table(from_csv, from_store)
    assert report_csv == report_store


def test_empty_offline_cache_loads_the_shipped_stores(empty_offline_cache):
    for name in SHIPPED:
        rows = source_rows(name)
        entry = vlab.catalog.get_entry(f"polymers-{name}")
        assert rows.origin == str(entry.location) and entry.kind == "polymer-source"
        ds = entry.open()
        assert ds.attrs["license"] == SOURCES[name].license and ds.attrs["citation"]
        assert ds.attrs["source_sha256"] == SOURCES[name].sha256
    pi = load_source("radonpy_pi1070")
    assert (pi.n_raw, len(pi), pi.bad_rows.count) == (1077, 1073, 0)
    assert np.isfinite(pi.column("thermal_conductivity")).sum() == 1066  # merged duplicates
    tg = load_source("polymon_tg", normalize=False)
    assert tg.n_raw == 6907 and tg.units == {"Tg": "K"}
    pe = tg.smiles.index("*C*")  # first row of the file: *C*,-63.48 (degC)
    assert tg.counts[pe] == 1
    assert tg.values["Tg"][pe] == pytest.approx(-63.48 + 273.15)
    assert not any(empty_offline_cache.glob("*")), "nothing is written into the cache"


def test_store_is_read_before_any_download(empty_offline_cache, monkeypatch):
    import pooch

    def boom(*args, **kwargs):
        raise AssertionError("no download when the catalog has the store")

    monkeypatch.setattr(pooch, "retrieve", boom)
    with config.override({"data.offline": False}):
        assert len(load_source("polymon_tg_raw", normalize=False)) == 7170


def test_offline_without_file_or_store_says_where_it_looked(empty_offline_cache):
    with pytest.raises(DataFileError) as info:
        load_source("xenonpy_polymer_genome")
    message = str(info.value)
    assert "xenonpy_tests_polymer_test_data.csv of source 'xenonpy_polymer_genome'" in message
    assert str(empty_offline_cache) in message and "VLAB_DATA__CACHE_DIR" in message
    assert "no store 'polymers-xenonpy_polymer_genome' either" in message
    assert "`vlab polymers ingest xenonpy_polymer_genome` writes one" in message


def test_a_store_of_other_rows_is_refused_with_the_fix(empty_offline_cache):
    shipped = vlab.catalog.get_entry("polymers-radonpy_pi1070")
    vlab.catalog.register("polymers-polymon_tg", shipped.location, kind="polymer-source")
    with pytest.raises(DataFileError) as info:
        load_source("polymon_tg")
    message = str(info.value)
    assert "The catalog entry 'polymers-polymon_tg'" in message
    assert f"points at {shipped.location}, which does not hold the rows of polymon_Tg" in message
    assert "`vlab polymers ingest polymon_tg --replace`" in message


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


def test_tg_loader_converts_to_kelvin_and_merges(tmp_path):
    # a 200-row subset of the real rows keeps the test fast; same header as the real file
    rows = source_rows("polymon_tg_raw")
    degc = rows.values["Tg"][:200] - 273.15
    lines = ["SMILES,tg", *(f"{s},{t:.6g}" for s, t in zip(rows.smiles[:200], degc, strict=True))]
    assert lines[1] == "*C*,-54"
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
    assert len(t) == 46
    k = t.column("thermal_conductivity")
    assert np.all((k >= 0.1) & (k <= 0.5))
    assert np.all(np.abs(t.values["T"] - 298) <= 5)  # room temperature: 20-25 degC
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


@pytest.mark.slow
def test_full_pi1070_and_small_molecules():
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
    folder = cached_csv("xenonpy_polymer_genome")
    shutil.copy(folder / "xenonpy_tests_polymer_test_data.csv", tmp_path)
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
    for unit in units:  # one at a time, memoised (twice: computed, then kept)
        try:
            expected = normalize_repeat_unit(unit)
        except InvalidSMILESError as err:
            for _ in range(2):
                with pytest.raises(InvalidSMILESError, match=re.escape(str(err))):
                    _normalize_memo(unit)
        else:
            assert _normalize_memo(unit) == _normalize_memo(unit) == expected


def test_normalize_many_equals_reference_path_on_tg_sample():
    rows = list(source_rows("polymon_tg").smiles)
    sample = [str(r) for r in np.random.default_rng(0).choice(rows, 100)]
    assert normalize_many(sample) == canonicalize_many(sample, normalize=True)


def test_small_molecule_cp_plausibility_filter():
    assert datasets._cp_problem("CCCC", 98.0) == ""
    assert "below the plausible floor" in datasets._cp_problem("CCCCc1ccc2ccccc2c1", -49.6)
    assert "several fragments" in datasets._cp_problem("[Na+].[Cl-]", 50.0)
    assert "no parseable SMILES" in datasets._cp_problem("", 50.0)
    assert datasets._cp_problem("[Ar]", 20.79) == ""  # 5/2 R, monatomic ideal gas


def test_a_missing_chemicals_package_is_one_clear_error(monkeypatch):
    import sys

    from vlab.errors import MissingDependencyError
    from vlab.polymers import load_small_molecule_cp

    monkeypatch.setitem(sys.modules, "chemicals", None)  # as if not installed
    expected = r"^The Python package 'chemicals', needed for the small-molecule heat capacities, "
    with pytest.raises(MissingDependencyError, match=expected + r".*'vlab\[polymers\]'\.$"):
        load_small_molecule_cp()
