import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vlab.catalog
from vlab import config
from vlab.catalog import (
    Variable,
    create_store,
    get_entry,
    index_dir,
    list_entries,
    register,
    select,
    shipped_dir,
)
from vlab.errors import CatalogError, InputError


def _four_numbers(path):
    create_store(
        path,
        chunk_size=2,
        inputs={"x": (Variable(long_name="x"), np.arange(4.0))},
        outputs={},
        input_hashes=list("abcd"),
        attrs={},
    )
    return path


def test_a_bad_registration_keeps_the_entry_it_would_replace(tmp_path, _private_catalog):
    path = _four_numbers(tmp_path / "s.zarr")
    register("mine", path, description="my good store")
    for bad in ({"description": "line1\x07"}, {"description": "x" * 5000}, {"kind": 5}):
        with pytest.raises(CatalogError):
            register("mine", path, **bad)
        assert get_entry("mine").description == "my good store"
    assert sorted(p.name for p in _private_catalog.iterdir()) == ["mine.yaml"]
    for nowhere in ("", None):
        with pytest.raises(CatalogError, match="must be the path or URL of a store"):
            register("other", nowhere)


def test_register_list_show_and_open_lazily(tmp_path, _private_catalog):
    path = _four_numbers(tmp_path / "s.zarr")
    register("my-store", path, description="four numbers", kind="engine-probe")
    assert "my-store" in [e.name for e in list_entries()]
    entry = get_entry("my-store")
    assert entry.location == path.resolve() and entry.kind == "engine-probe"
    ds = vlab.catalog.open("my-store")
    assert ds["x"].chunks is not None  # lazy: dask-backed
    assert (_private_catalog / "my-store.yaml").is_file()


def test_relative_locations_are_relative_to_the_index_file(tmp_path, _private_catalog):
    (_private_catalog / "rel.yaml").write_text("name: rel\nlocation: data/x.zarr\n")
    assert get_entry("rel").location == (_private_catalog / "data" / "x.zarr").resolve()


def test_unknown_entry_lists_known_ones(_private_catalog):
    (_private_catalog / "a.yaml").write_text("name: a\nlocation: a.zarr\n")
    with pytest.raises(CatalogError, match="No catalog entry named 'b'.*Known entries: a"):
        get_entry("b")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: a\nlocation: x\nowner: me\n", "unknown keys \\['owner'\\]"),
        ("- a\n", "must hold a mapping"),
        ("name: [a\n", "not valid YAML"),
        ("!!python/object/apply:os.system ['true']\n", "not valid YAML"),
    ],
)
def test_malformed_index_files_are_skipped_with_a_warning(_private_catalog, text, message):
    (_private_catalog / "bad.yaml").write_text(text)
    (_private_catalog / "good.yaml").write_text("name: good\nlocation: good.zarr\n")
    with pytest.warns(UserWarning, match=f"Skipping the catalog entry .*bad.yaml.*{message}"):
        names = [e.name for e in list_entries()]
    assert "good" in names and "au-sband-small" in names and "a" not in names


def test_bad_names_are_refused():
    with pytest.raises(CatalogError, match="must start with a letter or digit"):
        register("../evil", "/tmp/x.zarr")


def test_select_by_status_and_ranges_reads_only_what_it_needs():
    import xarray as xr

    ds = xr.Dataset(
        {"status": ("item", np.array([1, 1, 2, 1], "i1")), "g": ("item", [0.5, 1.0, np.nan, 2.0])}
    ).chunk({"item": 2})
    out = select(ds, status="done", ranges={"g": (0.9, None)})
    assert out["g"].values.tolist() == [1.0, 2.0]
    assert select(ds, status=None).sizes["item"] == 4
    with pytest.raises(InputError, match="'status' of select must be one of pending, done"):
        select(ds, status="finished")
    with pytest.raises(InputError, match="no variable 'h'"):
        select(ds, ranges={"h": (0, 1)})


def test_user_registrations_shadow_shipped_entries(tmp_path, _private_catalog):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "x.yaml").write_text("name: x\nlocation: shipped.zarr\n")
    with config.override({"catalog.shipped_dir": str(shipped)}):
        assert get_entry("x").location.name == "shipped.zarr"
        register("x", tmp_path / "mine.zarr")
        assert [e.location.name for e in list_entries()] == ["mine.zarr"]


def test_shipped_entries_come_with_the_package(_private_catalog):
    entries = {e.name: e for e in list_entries()}
    assert shipped_dir() == Path(vlab.catalog.__file__).resolve().parent / "shipped"
    assert "au-sband-small" in entries
    assert entries["au-sband-small"].location.is_dir()
    assert "my-store" not in entries  # the user's folder is the test's own, empty one
    assert index_dir() == _private_catalog


def test_default_user_folder_is_under_the_data_home(monkeypatch, tmp_path):
    monkeypatch.delenv("VLAB_CATALOG__INDEX_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert index_dir() == tmp_path / "vlab" / "catalogs"


def test_cli_finds_the_shipped_catalog_from_any_folder(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("VLAB_CATALOG__INDEX_DIR", None)
    vlab_cli = Path(sys.executable).parent / "vlab"
    listed = subprocess.run(
        [str(vlab_cli), "catalog", "list"], cwd=outside, env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    assert "au-sband-small" in listed.stdout and "au-spd-2x2-train" in listed.stdout
    shown = subprocess.run(
        [str(vlab_cli), "catalog", "open", "au-sband-subset"],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr
    assert "conductance" in shown.stdout


def test_the_catalog_package_imports_its_names_on_first_use():
    import vlab.catalog as package

    assert sorted(package.__all__) == sorted(package._MODULE_OF)
    for name in package.__all__:
        assert getattr(package, name) is not None
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        package.nope  # noqa: B018


def test_checking_a_spec_does_not_import_the_storage_stack(tmp_path):
    """`vlab run` refuses a bad spec before importing xarray, zarr or Dask arrays (fast)."""
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: x\nkind: nope\ninputs: {generator: range, n: 3}\nstore: x.zarr\n")
    code = (
        "import sys\nfrom vlab.cli import main\n"
        f"status = main(['run', {str(spec)!r}])\n"
        "heavy = sorted(m for m in ('xarray', 'zarr', 'dask.array', 'distributed') "
        "if m in sys.modules)\n"
        "print(status, heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip().splitlines()[-1] == "2 []", done.stdout + done.stderr
    assert "Unknown campaign kind 'nope'" in done.stderr


def test_unknown_entry_among_many_names_the_closest_and_counts(_private_catalog):
    for k in range(30):
        name = f"loop-r{k:03d}"
        (_private_catalog / f"{name}.yaml").write_text(f"name: {name}\nlocation: x.zarr\n")
    with pytest.raises(CatalogError) as err:
        get_entry("loop-r0100")
    message = str(err.value)
    assert "Closest: loop-r010, " in message
    total = len(list_entries())  # the shipped entries and these 30
    assert f"{total} entries are known: " in message and "loop-r029" not in message
    assert "vlab catalog list" in message


def test_a_missing_path_is_said_to_be_missing_not_an_unknown_entry():
    from vlab.catalog import get_entry
    from vlab.errors import CatalogError

    with pytest.raises(CatalogError) as err:
        get_entry("au-spd-2x2.zarr")
    assert str(err.value) == (
        "No store at 'au-spd-2x2.zarr' (no such folder) and no catalog entry of that name. "
        "Give the path of a store written by vlab, or a catalog entry name (vlab catalog "
        "list). Did you mean 'au-spd-2x2'?"
    )
    with pytest.raises(CatalogError, match="No store at 'runs/x' "):
        get_entry("runs/x")


def test_locate_takes_a_store_path_or_a_catalog_name(tmp_path):
    from vlab import catalog
    from vlab.errors import CatalogError

    by_name = catalog.locate("au-sband-small")
    assert by_name == catalog.get_entry("au-sband-small").location
    assert catalog.locate(str(by_name)) == by_name  # a path is taken as it is
    with pytest.raises(CatalogError, match="No catalog entry named 'au-sband-smal'") as err:
        catalog.locate("au-sband-smal")
    assert "Did you mean 'au-sband-small'?" in str(err.value)
    (tmp_path / "plain").mkdir()
    with pytest.raises(CatalogError, match="is a folder but not a vlab store"):
        catalog.locate(str(tmp_path / "plain"))
