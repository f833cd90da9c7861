import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlab.campaign import load_spec, parse_spec
from vlab.errors import SpecError

GOOD = {
    "name": "p",
    "kind": "engine-probe",
    "store": "p.zarr",
    "inputs": {"generator": "range", "n": 10},
}


def test_a_good_spec_becomes_a_frozen_dataclass(tmp_path):
    spec = parse_spec(GOOD, base=tmp_path)
    assert spec.store == (tmp_path / "p.zarr").resolve()
    with pytest.raises(AttributeError):
        spec.name = "q"
    assert spec.spec_hash == parse_spec(GOOD, base=tmp_path / "elsewhere").spec_hash


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"chunk_size": 0}, r"'chunk_size' key must be > 0\. Got 0"),
        ({"chunk_size": "big"}, r"'chunk_size' key must be an integer from 1 to 1,000,000"),
        ({"retries": -1}, r"'retries' key must be >= 0"),
        ({"stores": "x"}, r"unknown key 'stores'"),
        ({"name": "a b"}, r"'name' key must be a campaign name of letters"),
        ({"register": "yes"}, r"'register' key must be true or false"),
        ({"inputs": {"generator": "range"}}, r"required key 'inputs.n' is missing"),
        ({"inputs": {"generator": "range", "n": 0}}, r"'inputs.n' key must be > 0\. Got 0"),
        ({"inputs": {"generator": "range", "n": 3, "file": "x"}}, r"exactly one of 'generator'"),
        ({"inputs": {"generato": "range", "n": 3}}, r"unknown key inputs\.'generato'"),
        ({"inputs": {"file": "missing.csv"}}, r"inputs file .*missing.csv' does not exist"),
        ({"params": [1, 2]}, r"'params' key must be a mapping"),
    ],
)
def test_bad_specs_name_the_key(change, message, tmp_path):
    with pytest.raises(SpecError, match=message):
        parse_spec({**GOOD, **change}, base=tmp_path)


def test_missing_required_keys(tmp_path):
    for key in ("name", "kind", "store", "inputs"):
        data = {k: v for k, v in GOOD.items() if k != key}
        with pytest.raises(SpecError, match=f"required key '{key}' is missing"):
            parse_spec(data, base=tmp_path)


def test_load_spec_errors_name_the_file(tmp_path):
    with pytest.raises(SpecError, match="'nope.yaml' not found"):
        load_spec("nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [x\n")
    with pytest.raises(SpecError, match="bad.yaml: not valid YAML"):
        load_spec(bad)
    evil = tmp_path / "evil.yaml"
    evil.write_text("!!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(evil)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["name", "kind", "store", "inputs", "chunk_size", "x"]),
        st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=5),
            st.lists(st.integers(), max_size=2),
            st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        ),
    )
)
def test_the_parser_only_ever_raises_spec_errors(data):
    with contextlib.suppress(SpecError):
        parse_spec(data)


def test_a_spec_written_in_python_may_hold_numpy_numbers_tuples_and_paths(tmp_path):
    import numpy as np

    spec = parse_spec(
        {
            "name": "py",
            "kind": "engine-probe",
            "store": tmp_path / "py.zarr",
            "chunk_size": np.int32(2),
            "inputs": {"generator": "range", "n": np.int64(5), "seed": np.uint8(3)},
            "params": {"pair": (1, np.float64(2.5))},
        }
    )
    assert spec.store == tmp_path / "py.zarr" and spec.chunk_size == 2
    assert spec.inputs.n == 5 and spec.inputs.seed == 3
    assert spec.params == {"pair": [1, 2.5]}
    assert type(spec.params["pair"][1]) is float  # hashed as YAML would give it
