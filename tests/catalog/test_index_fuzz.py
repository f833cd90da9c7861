"""Fuzzing the parsers of user files: a valid result or a one-line vlab error, nothing else.

Reproducible in CI (``derandomize=True``) and fast (a few seconds).
"""

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vlab._yaml import load_yaml_text
from vlab.campaign import parse_spec
from vlab.catalog.index import CatalogEntry, _parse
from vlab.errors import VlabError

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FOLDER = Path(tempfile.mkdtemp(prefix="vlab-fuzz-"))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "/", ".", "..", "~", "a\x00b", "p.zarr", "range", "engine-probe"]),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers()), inner, max_size=3),
    ),
    max_leaves=12,
)
TOP = ["name", "kind", "description", "params", "inputs", "chunk_size", "store", "register"]
INPUTS = ["generator", "n", "seed", "params", "file", "catalog", "select"]
inputs = st.dictionaries(st.sampled_from(INPUTS), values, max_size=4)
specs = st.dictionaries(
    st.sampled_from([*TOP, "retries", "x"]),
    st.one_of(values, inputs),
    max_size=9,
)


def _one_line_vlab_error(err: BaseException) -> None:
    assert isinstance(err, VlabError), f"{type(err).__name__}: {err}"
    assert len(str(err).splitlines()) == 1, str(err)
    assert len(str(err)) < 2000


@FUZZ
@given(specs)
def test_parse_spec_gives_a_spec_or_a_one_line_vlab_error(data):
    try:
        spec = parse_spec(data, source="fuzz.yaml", base=FOLDER)
    except Exception as err:  # which exceptions occur is the point
        _one_line_vlab_error(err)
    else:
        assert len(spec.spec_hash) == 64  # a valid spec can always be hashed


@FUZZ
@given(
    st.fixed_dictionaries(
        {"name": st.just("p"), "kind": st.just("engine-probe"), "store": st.just("p.zarr")},
        optional={
            k: values
            for k in ("description", "params", "inputs", "chunk_size", "register", "retries")
        },
    ).map(lambda d: {**d, "inputs": d.get("inputs", {"generator": "range", "n": 3})})
)
def test_nearly_good_specs_give_a_spec_or_a_one_line_vlab_error(data):
    try:
        spec = parse_spec(data, source="fuzz.yaml", base=FOLDER)
    except Exception as err:
        _one_line_vlab_error(err)
    else:
        assert len(spec.spec_hash) == 64


yaml_texts = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.sampled_from(
            [
                "name: a\n",
                "location: x.zarr\n",
                "schema_version: 1\n",
                "kind: k\n",
                "description: d\n",
                "license: ",
                "&a [1, 2]\n",
                "*a\n",
                "- ",
                "{",
                "}",
                "[",
                "]",
                ": ",
                "!!python/object:os.system\n",
                "!!binary aGk=\n",
                "2001-13-45\n",
                "1" + "0" * 5000,
                "\x00",
                "\t",
                "? ",
                "<<: *a\n",
                "'",
                '"',
                "---\n",
            ]
        ),
        max_size=15,
    ).map("".join),
)


@FUZZ
@given(st.one_of(yaml_texts.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary()))
def test_the_catalog_parser_gives_an_entry_or_a_one_line_vlab_error(raw):
    path = FOLDER / "entry.yaml"
    path.write_bytes(raw)
    try:
        entry = _parse(path)
    except Exception as err:
        _one_line_vlab_error(err)
    else:
        assert isinstance(entry, CatalogEntry) and entry.name


@FUZZ
@given(yaml_texts)
def test_the_yaml_loader_gives_data_or_a_one_line_vlab_error(text):
    try:
        load_yaml_text(text, source="fuzz.yaml")
    except Exception as err:
        _one_line_vlab_error(err)
