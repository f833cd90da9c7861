"""The kinds' parameter classes: parsing, messages, and content hashes that never change."""

import dataclasses
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vlab._utils import content_hash
from vlab.campaign import get_kind, kind_names, parse_spec, plan_campaign
from vlab.campaign.kinds.base import KindParams
from vlab.errors import SpecError

STRUCTURE = {
    "builder": "contact",
    "neck_cross_section": [1, 1],
    "electrode_cross_section": [2, 2],
    "length": 2,
    "electrode_layers": 3,
}
PROTOCOL = {
    "speed": 1.0,
    "equilibration": 0.2,
    "max_elongation": 3.0,
    "snapshot_every": 0.25,
    "post_rupture": 0.5,
}
SPECS = {
    "engine-probe": {
        "params": {"seconds": 0, "fail_every": 3},
        "inputs": {"generator": "range", "n": 3},
    },
    "break-junction-md": {
        "params": {"structure": STRUCTURE, "protocol": PROTOCOL},
        "inputs": {"generator": "traces", "n": 2, "seed": 1, "params": {"temperatures": [4, 300]}},
    },
    "polymer-predict": {"params": {}, "inputs": {"generator": "dataset", "n": 2}},
    "polymer-design": {
        "params": {"n_particles": 20, "n_steps": 5, "keep": 10},
        "inputs": {"generator": "chains", "n": 2, "seed": 3},
    },
}
# Item content hashes of SPECS as computed before the parameters became dataclasses: stores
# written since then (and resume, and deduplication across campaigns) depend on them.
HASHES = {
    "engine-probe": [
        "0872c5f14160acfd7b1264f1b043a7981de12e08b242c01c4e83850deebc6ec2",
        "0ddc84ceaa538d39f736957bf7317973a7a36676350884978d318e873b68361b",
        "9c32b86dc508ebbb694e974d64ec6adbf5e0e969274b626c371b4b1ccd5ad5ef",
    ],
    "break-junction-md": [
        "73f7eba751b83e0645f1443d8ae8ad92ca0b4ae0d9cb44431c3187103167af6b",
        "3d4dfdbafe05105dea96ba437895e9f3288ed6a56bc7b77b17795ba700d443a9",
    ],
    # version 3: the measured-λ model, morphology; the built-in model named with the key of
    # its table and procedure (these change when the embedded table does)
    "polymer-predict": [
        "39718a7dcaf15da25e79a4b1720a2c7924948a6831f5afdd7bef827f91b588fc",
        "887a52bea8a20340f91cdf5bc594a6fe18de6023576ef903bf234b4a1d5f7e3b",
    ],
    "polymer-design": [  # version 3 with margin (default 2.5: the sampler aims past the target)
        "45e3a107103070e424bedfa5767c8a26c79f5dc5eda349f9f0bc24c24d462426",
        "afc3eba9ef4d1f6706cbf84e8d41ce9d905bd3ff81d8be972b2bf07baf0d302e",
    ],
}
REFERENCE_HASHES = {  # content_hash(kind, version, identity, {"x": 1}) of these parameters
    "898a58e4f4b31cebd32be32a90e46c8698e0524d240dae03eeeb7236cf3465e8": {},
    "6bb6ec0f37c2a56253b5d838d9a7b8eef803fc3339e49bedc71535df62d53fb3": {
        "fidelity": "spd",
        "energies": [-0.5, 0.5],
        "snapshot_stride": 2,
    },
    "dc2b11164260b3d506a8eaafa6102f45abd1c9298d657f74f85bb4b76289d38b": {
        "calculator": {"t0": -0.5}
    },
}
SURROGATE_HASH = "72ff4333ebd202b4f827434d7f531fba52ec8d6153f2bd8b31c5ecb10a075e31"


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_item_hashes_are_unchanged(tmp_path, kind):
    spec = parse_spec({"name": "h", "kind": kind, "store": str(tmp_path / "h.zarr"), **SPECS[kind]})
    assert plan_campaign(spec).hashes == HASHES[kind]


def _hash(kind_name: str, params: dict) -> str:
    kind = get_kind(kind_name)
    identity = kind.identify(kind.check_params(params))
    return content_hash(kind_name, kind.version, identity, {"x": 1})


@pytest.mark.parametrize(("digest", "params"), list(REFERENCE_HASHES.items()))
def test_reference_hashes_are_unchanged(digest, params):
    assert _hash("conductance-reference", params) == digest


def test_surrogate_hash_is_unchanged(tmp_path):
    from vlab.campaign.kinds.conductance import SurrogateParams

    (tmp_path / "m.npz").write_bytes(b"model")  # the identity reads the file's bytes only
    params = SurrogateParams(model=str(tmp_path / "m.npz"), snapshot_stride=2)  # (unchecked)
    kind = get_kind("conductance-surrogate")
    digest = content_hash(kind.name, kind.version, kind.identify(params), {"x": 1})
    assert digest == SURROGATE_HASH


def test_parameters_are_frozen_mappings_that_pickle():
    kind = get_kind("break-junction-md")
    params = kind.check_params({"structure": STRUCTURE, "protocol": PROTOCOL})
    assert isinstance(params, KindParams) and params["structure"]["length"] == 2
    assert dict(params).keys() == {"structure", "protocol", "calculator", "max_snapshots"}
    assert params.to_dict()["structure"]["neck_cross_section"] == [1, 1]
    assert pickle.loads(pickle.dumps(params)) == params
    assert content_hash(params) == content_hash(params.to_dict())
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.calculator = "ase"


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("engine-probe", {"fail_every": 1.5}, "'fail_every' must be an integer >= 0. Got 1.5."),
        ("engine-probe", {"busy": 1}, "'busy' must be true or false. Got 1."),
        ("polymer-design", {"n_particles": True}, "'n_particles' must be an integer >= 1"),
        ("polymer-design", {"keep": 10**9}, "'keep' must be an integer >= 1 and <= 100,000."),
        ("break-junction-md", {"structure": {"length": 10**6}}, "'structure.length' must be"),
        ("break-junction-md", {"structure": {"cross_section": [2]}}, "a list of 2 integers"),
        ("break-junction-md", {"structure": {"element": "Xx"}}, "'element'"),
        ("break-junction-md", {"structure": {"colour": 1}}, "unknown structure key(s)"),
        (
            "break-junction-md",
            {"protocol": {"snapshot_every": 1e-4, "speed": 1e-3}},
            "snapshots per",
        ),
        ("break-junction-md", {"max_snapshots": 10**7}, "'max_snapshots' must be"),
        ("conductance-reference", {"energies": "x" * 500}, "Got 'xxxxx"),
        ("conductance-reference", {"energies": [0.0] * 20_000}, "(at most 10,000 of them)"),
        ("polymer-predict", {"units": 3}, "'units' must be a string. Got 3."),
    ],
)
def test_bad_values_name_kind_key_value_and_range(kind, params, message):
    with pytest.raises(SpecError) as err:
        get_kind(kind).check_params(params)
    text = str(err.value)
    assert text.startswith(f"{kind}: ") and message in text and "\n" not in text
    assert len(text) < 400


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
_KNOWN_KEYS = [
    "seconds",
    "fail_every",
    "busy",
    "structure",
    "protocol",
    "calculator",
    "max_snapshots",
    "fidelity",
    "energies",
    "snapshot_stride",
    "model",
    "property",
    "units",
    "target",
    "n_particles",
    "n_steps",
    "likelihood",
    "keep",
    "order",
    "n_augment",
    "builder",
    "element",
    "cross_section",
    "length",
    "electrode_layers",
    "perturbation",
    "speed",
    "snapshot_every",
    "max_elongation",
    "cycles",
]
_KEYS = st.sampled_from(_KNOWN_KEYS) | st.text(max_size=6)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=6,
)


@settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    kind_name=st.sampled_from(kind_names()),
    params=st.dictionaries(_KEYS, _VALUES, max_size=3),
)
def test_any_parameters_give_params_or_a_one_line_spec_error(kind_name, params):
    kind = get_kind(kind_name)
    try:
        checked = kind.check_params(params)
    except SpecError as err:
        assert "\n" not in str(err) and str(err).startswith(f"{kind_name}: ")
    else:
        assert isinstance(checked, KindParams)


def test_md_traces_of_several_cycles_have_the_revised_compression_in_their_identity():
    """The compression legs changed (they stop before atoms flow around an electrode, and a
    trace ends when compression does not re-form contact): traces of several cycles get new
    hashes, single-stretch traces (above) keep theirs."""
    kind = get_kind("break-junction-md")
    one = kind.identify(kind.check_params({"protocol": PROTOCOL}))
    two = kind.identify(kind.check_params({"protocol": {**PROTOCOL, "cycles": 2}}))
    assert "compression_revision" not in one and two["compression_revision"] == 2
