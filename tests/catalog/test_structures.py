import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from hypothesis import given, settings
from hypothesis import strategies as st

from vlab.catalog import create_store, decode_structures, encode_structures, open_store
from vlab.catalog.items import encode_items
from vlab.errors import InputError, InvalidStructureError


def _atoms(n, seed):
    rng = np.random.default_rng(seed)
    a = Atoms(
        numbers=rng.integers(1, 90, n),
        positions=rng.normal(size=(n, 3)) * 7,
        cell=np.diag(rng.uniform(5, 20, 3)),
        pbc=[False, False, bool(seed % 2)],
        tags=rng.integers(0, 3, n),
    )
    a.info["lead_period"] = float(rng.uniform(2, 5))
    return a


def _identical(a, b):
    return (
        np.array_equal(a.numbers, b.numbers)
        and np.array_equal(a.positions, b.positions)
        and np.array_equal(a.cell.array, b.cell.array)
        and np.array_equal(a.pbc, b.pbc)
        and np.array_equal(a.get_tags(), b.get_tags())
        and a.info == b.info
    )


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=6), st.integers(0, 1000))
def test_encoding_round_trips_exactly_for_any_sizes(sizes, seed):
    structures = [_atoms(n, seed + i) for i, n in enumerate(sizes)]
    back = decode_structures(encode_structures(structures))
    assert all(_identical(a, b) for a, b in zip(structures, back))


def test_round_trip_through_a_zarr_store_is_exact(tmp_path):
    structures = [bulk("Au", "fcc", a=4.08, cubic=True).repeat((2, 2, 1)), _atoms(3, 1)]
    structures[0].rattle(0.01, seed=3)
    structures[0].info = {"lead_period": 4.08, "note": "rattled"}
    inputs = encode_items([{"s": s} for s in structures])
    create_store(
        tmp_path / "s.zarr",
        chunk_size=1,
        inputs=inputs,
        outputs={},
        input_hashes=["a", "b"],
        attrs={},
    )
    back = decode_structures(open_store(tmp_path / "s.zarr").load(), prefix="s_")
    assert all(_identical(a, b) for a, b in zip(structures, back))


def test_too_many_atoms_and_unserialisable_info_are_clear_errors():
    with pytest.raises(InvalidStructureError, match="has 5 atoms but max_atoms is 2"):
        encode_structures([_atoms(5, 0)], max_atoms=2)
    a = _atoms(2, 0)
    a.info["calc"] = object()
    with pytest.raises(InvalidStructureError, match="not JSON-serialisable"):
        encode_structures([a])


def test_decode_finds_the_prefix_of_a_campaign_store(tmp_path):
    a, b = _atoms(3, 1), _atoms(5, 2)
    arrays = {f"structure_{k}": v for k, v in encode_structures([a, b]).items()}
    arrays["conductance"] = np.array([1.0, 2.0])
    back = decode_structures(arrays)
    assert _identical(back[0], a) and _identical(back[1], b)
    assert _identical(decode_structures(arrays, prefix="structure_")[1], b)


def test_decode_names_what_is_missing_or_ambiguous():
    arrays = encode_structures([_atoms(2, 0)])
    with pytest.raises(InputError, match="found no encoded structures: it needs the variables"):
        decode_structures({"conductance": np.zeros(1)})
    with pytest.raises(InputError, match=r"prefix='x_' needs the variables \['x_n_atoms'"):
        decode_structures(arrays, prefix="x_")
    both = {**{f"a_{k}": v for k, v in arrays.items()}, **{f"b_{k}": v for k, v in arrays.items()}}
    with pytest.raises(InputError, match=r"several encoded structures \(prefixes \['a_', 'b_'\]\)"):
        decode_structures(both)
