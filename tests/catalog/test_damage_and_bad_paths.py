"""Damaged stores, stores in stores, an unwritable catalog and bad selections: one clear line
each from the command line, nothing written where it should not be."""

from __future__ import annotations

import numpy as np
import pytest

from vlab import catalog
from vlab.catalog.items import encode_items
from vlab.cli import main
from vlab.errors import InputError

SPEC = (
    "name: {name}\nkind: engine-probe\nregister: {register}\nchunk_size: 2\n"
    "inputs: {{generator: range, n: 6}}\nstore: {store}\n"
)


def _spec(folder, store="p.zarr", name="p", register="false"):
    path = folder / f"{name}.yaml"
    path.write_text(SPEC.format(name=name, register=register, store=store))
    return path


@pytest.fixture
def done_store(tmp_path, capsys):
    assert main(["run", str(_spec(tmp_path)), "--synchronous", "--no-progress"]) == 0
    capsys.readouterr()
    return tmp_path / "p.zarr"


def _files(folder):
    return sorted((p.relative_to(folder), p.stat().st_mtime_ns) for p in folder.rglob("*"))


def test_a_damaged_root_metadata_file_is_named_not_a_traceback(done_store, tmp_path, capsys):
    (done_store / "zarr.json").write_text("{")
    spec = _spec(tmp_path)
    for argv in (
        ["status", str(done_store)],
        ["status", str(done_store), "--verify"],
        ["catalog", "show", str(done_store)],
        ["run", str(spec), "--synchronous", "--no-progress"],
    ):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith(
            f"vlab: error: The store {str(done_store)!r} is damaged: its metadata file zarr.json "
            "is not JSON: "
        ), (argv, err)
        assert "Traceback" not in err


def test_a_damaged_ledger_chunk_is_counted_and_the_repair_named(done_store, capsys):
    (done_store / "status" / "c" / "0").write_bytes(b"junk")
    assert main(["status", str(done_store)]) == 0
    out = capsys.readouterr().out
    assert "6 items; 6 pending, 0 done, 0 failed" in out
    assert (
        f"6 items are in ledger chunks that cannot be read (damaged; counted as pending): vlab "
        f"status {done_store} --verify --repair marks them to be computed again"
    ) in out


def test_a_failed_export_leaves_nothing_and_names_the_repair(done_store, tmp_path, capsys):
    (done_store / "value" / "c" / "0").write_bytes(b"junk")
    target = tmp_path / "copy.zarr"
    assert main(["catalog", "export", str(done_store), str(target)]) == 1
    err = capsys.readouterr().err
    assert f"vlab: error: Cannot export {str(done_store)!r}: reading it failed" in err
    assert "--verify --repair" in err and f"{str(target)!r} was not written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.yaml", "p.zarr", "p.zarr.lock"]


def test_export_takes_its_options_anywhere(done_store, tmp_path, capsys):
    assert main(["catalog", "export", "--all", str(done_store), str(tmp_path / "a.zarr")]) == 0
    assert main(["catalog", "export", str(done_store), "--all", str(tmp_path / "b.zarr")]) == 0
    assert catalog.open_store(tmp_path / "b.zarr").sizes["item"] == 6


def test_no_store_inside_another_store(done_store, tmp_path, capsys):
    before = _files(done_store)
    inner = _spec(tmp_path, store="p.zarr/inner.zarr", name="inner")
    assert main(["run", str(inner), "--synchronous", "--no-progress"]) == 2
    assert (
        f"the 'store' {str(done_store / 'inner.zarr')!r} is inside the store {str(done_store)!r}"
    ) in capsys.readouterr().err
    assert main(["catalog", "export", str(done_store), str(done_store / "copy.zarr")]) == 2
    assert "it is inside the store" in capsys.readouterr().err
    assert _files(done_store) == before


def test_an_unwritable_catalog_folder_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("VLAB_CATALOG__INDEX_DIR", str(blocker / "catalog"))
    spec = _spec(tmp_path, register="true")
    assert main(["run", str(spec), "--synchronous", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert (
        f"the catalog folder {str(blocker / 'catalog')!r} (configuration catalog.index_dir)" in err
    )
    assert "'register: false'" in err
    assert not (tmp_path / "p.zarr").exists()  # nothing computed


def test_more_local_workers_than_the_machine_can_use_are_refused(tmp_path, capsys):
    from vlab.campaign.cluster import max_local_workers

    spec = _spec(tmp_path)
    assert main(["run", str(spec), "--workers", str(max_local_workers() + 1)]) == 2
    assert f"must be at most {max_local_workers()} on this machine" in capsys.readouterr().err
    assert not (tmp_path / "p.zarr").exists()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([[1, 2]], r"item 0 holds a list \(\[1, 2\]\); items may hold numbers, strings"),
        ([1, "abc"], r"item 1 holds text \('abc'\), item 0 number; the items of one key need"),
        ([None], r"item 0 holds a NoneType \(None\)"),
        ([10**20], r"holds the number 100000000000000000000, beyond the range of 64-bit"),
        ([np.zeros(2), np.zeros(3)], r"item 1 holds an array of shape \(3,\), item 0 one of"),
    ],
)
def test_input_values_a_store_cannot_hold_are_named(values, message):
    with pytest.raises(InputError, match=rf"^Input key 'x': {message}|^Input key 'x' {message}"):
        encode_items([{"x": v} for v in values])


def test_select_names_bad_ranges_and_takes_lists_of_status():
    import xarray as xr

    ds = xr.Dataset({"status": ("item", np.array([1, 0, 2], "i1")), "G": ("item", [0.9, 2, 3])})
    assert select_values(ds, status=["done", "failed"]) == [0.9, 3.0]
    with pytest.raises(InputError, match=r"the range of 'G' must be \(low, high\).*Got 0\.8\.$"):
        catalog.select(ds, ranges={"G": 0.8})
    with pytest.raises(InputError, match=r"the range of 'G' is empty: low 1\.2 > high 0\.8"):
        catalog.select(ds, ranges={"G": (1.2, 0.8)})
    with pytest.raises(InputError, match=r"one of pending, done, failed, a list of them"):
        catalog.select(ds, status=["done", "finished"])
    with pytest.raises(InputError, match=r"got str: select\(vlab\.catalog\.open\('au-spd"):
        catalog.select("au-spd-small")
    ds["worker"] = ("item", np.array(["a", "b", "c"], dtype=object))
    with pytest.raises(InputError, match=r"'worker' holds .* values, not numbers"):
        catalog.select(ds, ranges={"worker": (0, 1)})


def test_open_reads_a_path_object_as_its_text_and_refuses_an_empty_name():
    from pathlib import Path

    assert catalog.open(Path("au-spd-small")).sizes["item"] == 309
    with pytest.raises(InputError, match=r"must be a non-empty text .* Got ''\."):
        catalog.open("")


def select_values(ds, **kw):
    return catalog.select(ds, **kw)["G"].values.tolist()


@pytest.mark.parametrize(
    ("select", "message"),
    [
        ("{status: finished}", "'inputs.select.status' must be one of pending, done, failed"),
        ("{value: [2, 1]}", "'inputs.select.value' is an empty range: low 2 > high 1."),
        ("{nope: [0, 1]}", "'inputs.select' of catalog store 'pp': no variable 'nope' in the"),
    ],
)
def test_a_bad_selection_of_a_catalog_store_names_the_spec_and_key(
    done_store, tmp_path, capsys, select, message
):
    catalog.register("pp", done_store, description="probe", kind="engine-probe")
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "name: s\nkind: engine-probe\nregister: false\nstore: s.zarr\n"
        f"inputs: {{catalog: pp, select: {select}}}\n"
    )
    assert main(["run", str(spec), "--synchronous", "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no header before the error
    assert captured.err.startswith(f"vlab: error: {spec}: ") and message in captured.err
    assert not (tmp_path / "s.zarr").exists()


def test_registering_a_place_without_a_store_warns(tmp_path, done_store):
    with pytest.warns(UserWarning, match=r"there is nothing at .*ghost\.zarr'; the entry is"):
        catalog.register("ghost", tmp_path / "ghost.zarr")
    with pytest.warns(UserWarning, match=r"there is no vlab store \(no zarr.json\) at"):
        catalog.register("folder", tmp_path)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        catalog.register("real", done_store)  # a store: no warning
