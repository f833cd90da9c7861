import numpy as np
import pytest

import vlab.catalog
from vlab.catalog import Variable, create_store, get_entry, list_entries, register, select
from vlab.errors import CatalogError, InputError


def test_register_list_show_and_open_lazily(tmp_path, _private_catalog):
    path = tmp_path / "s.zarr"
    create_store(
        path,
        chunk_size=2,
        inputs={"x": (Variable(long_name="x"), np.arange(4.0))},
        outputs={},
        input_hashes=list("abcd"),
        attrs={},
    )
    register("my-store", path, description="four numbers", kind="engine-probe")
    assert [e.name for e in list_entries()] == ["my-store"]
    entry = get_entry("my-store")
    assert entry.location == path.resolve() and entry.kind == "engine-probe"
    ds = vlab.catalog.open("my-store")
    assert ds["x"].chunks is not None  # lazy: dask-backed
    assert (_private_catalog / "local" / "my-store.yaml").is_file()


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
def test_malformed_index_files_are_refused_safely(_private_catalog, text, message):
    (_private_catalog / "bad.yaml").write_text(text)
    with pytest.raises(CatalogError, match=message):
        list_entries()


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


def test_local_registrations_shadow_shipped_entries(tmp_path, _private_catalog):
    (_private_catalog / "x.yaml").write_text("name: x\nlocation: shipped.zarr\n")
    assert get_entry("x").location.name == "shipped.zarr"
    register("x", tmp_path / "mine.zarr")
    assert [e.location.name for e in list_entries()] == ["mine.zarr"]
