"""Tests of vlab.polymers.smiles: parsing, canonical forms, normalisation, oligomers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rdkit import Chem

from vlab.errors import InputError, InvalidSMILESError
from vlab.polymers.smiles import (
    BadRows,
    canonical_repeat_unit,
    canonicalize_many,
    is_valid_repeat_unit,
    normalize_repeat_unit,
    oligomer,
    repeat_unit_mol,
)

UNITS = [
    "*CC*",
    "*CC(*)C",
    "*CC(*)c1ccccc1",
    "*CC(C)(*)C(=O)OC",
    "*Oc1ccc(cc1)C(C)(C)c1ccc(cc1)OC(=O)*",
    "*NCCCCCC(=O)*",
    "*C(F)(F)C(F)(F)*",
    "*CCO*",
    "*c1ccc(*)cc1",
    "*C=CC=C*",
]


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ("[*]CC[*]", "*CC*"),
        ("C([*])C([*])C", "*CC(*)C"),
        ("*C(C)C*", "*CC(*)C"),
        ("  *CC(*)c1ccccc1 ", "*CC(*)c1ccccc1"),
        ("[1*]CC[2*]", "*CC*"),
    ],
)
def test_canonical_forms(given_, expected):
    assert canonical_repeat_unit(given_) == expected


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("*CC", r"wrong number of '\*' end markers: got 1, need 2"),
        ("CCC", "got 0, need 2"),
        ("*C(*)C*", "got 3, need 2"),
        ("*C1CC1(*", "RDKit cannot parse"),
        ("*c1cccc1*", "RDKit cannot parse"),
        ("*CC*.CC", "disconnected"),
        ("**", "no atom besides"),
        ("C1CC*1*", r"a '\*' has 3 neighbours, need exactly 1"),
        ("*C*C", r"a '\*' has 2 neighbours"),
    ],
)
def test_bad_units_raise_with_reason(bad, match):
    with pytest.raises(InvalidSMILESError, match=match) as info:
        canonical_repeat_unit(bad)
    assert repr(bad) in str(info.value)  # the message names the entry
    assert isinstance(info.value, InputError) and isinstance(info.value, ValueError)
    assert not is_valid_repeat_unit(bad)


def test_non_string_is_rejected():
    with pytest.raises(InvalidSMILESError, match="expected a string, got int"):
        canonical_repeat_unit(12)  # type: ignore[arg-type]
    assert not is_valid_repeat_unit(None)


@pytest.mark.parametrize("unit", UNITS)
def test_canonical_is_idempotent_and_valid(unit):
    can = canonical_repeat_unit(unit)
    assert canonical_repeat_unit(can) == can
    assert is_valid_repeat_unit(can)
    assert can.count("*") == 2


def test_canonicalize_many_reports_bad_rows():
    rows = ["*CC*", "nonsense(", "*C", "[*]CC([*])C", None, "*CCO*", "", "*C(*)*"]
    good, bad = canonicalize_many(rows)
    assert good == ["*CC*", "*CC(*)C", "*CCO*"]
    assert isinstance(bad, BadRows)
    assert bad.count == 5
    assert bad.indices == (1, 2, 4, 6, 7)
    assert len(bad.examples) == 5
    assert bad.examples[0][:2] == (1, "nonsense(")
    assert "5 bad rows skipped" in str(bad)


def test_canonicalize_many_normalize():
    good, bad = canonicalize_many(["*OCC*", "*CCOCCO*", "*COC*"], normalize=True)
    assert bad.count == 0
    assert len(set(good)) == 1


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("*CC*", "*CCCC*"),
        ("*CCO*", "*COC*"),
        ("*CCO*", "*OCCOCC*"),
        ("*NC(=O)CCCCC*", "*NCCCCCC(=O)*"),  # nylon-6 cut at different bonds
        ("*CC(*)c1ccccc1", "*CC(c1ccccc1)CC(*)c1ccccc1"),
        ("*c1ccc(*)cc1", "*c1ccc(cc1)c1ccc(*)cc1"),
        ("*C(F)(F)*", "*C(F)(F)C(F)(F)*"),
    ],
)
def test_normalize_merges_translations(a, b):
    assert normalize_repeat_unit(a) == normalize_repeat_unit(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("*CC*", "*CC(*)C"),
        ("*CCO*", "*CCCO*"),
        ("*CC(*)C", "*CC(C)CC(*)CC"),  # not a period multiple
        ("*C=C*", "*CC*"),
    ],
)
def test_normalize_keeps_different_chains_apart(a, b):
    assert normalize_repeat_unit(a) != normalize_repeat_unit(b)


@pytest.mark.parametrize("unit", UNITS)
def test_normalize_is_idempotent_and_preserves_composition(unit):
    norm = normalize_repeat_unit(unit)
    assert normalize_repeat_unit(norm) == norm
    # The normalised unit repeated k times has the composition of the original.
    ratio = repeat_unit_mol(unit).GetNumAtoms() - 2, repeat_unit_mol(norm).GetNumAtoms() - 2
    assert ratio[0] % ratio[1] == 0


def test_oligomer():
    tri = oligomer("*CC(*)C", 3)
    assert Chem.MolToSmiles(tri) == Chem.CanonSmiles("CC(C)CC(C)CC(C)")
    assert Chem.MolToSmiles(oligomer("[*]CC[*]", 2, cap="*")) == "*CCCC*"
    assert oligomer("*c1ccc(*)cc1", 4).GetNumAtoms() == 24
    with pytest.raises(InvalidSMILESError, match="'n_units' parameter of oligomer must be >= 1"):
        oligomer("*CC*", 0)
    with pytest.raises(InvalidSMILESError, match="'cap' parameter of oligomer must be"):
        oligomer("*CC*", 2, cap="F")


_ATOMS = st.sampled_from(["C", "O", "N", "S", "F", "Cl", "c1ccccc1", "C(=O)", "[Si](C)(C)"])


@settings(max_examples=60, deadline=None)
@given(st.lists(_ATOMS, min_size=1, max_size=6), st.integers(0, 5))
def test_hypothesis_generated_units_roundtrip(parts, cut):
    """Any chain of fragments between two stars is valid, canonical and shift-invariant."""
    parts = [p if p not in ("F", "Cl") else f"C({p})" for p in parts]
    unit = "*" + "".join(parts) + "*"
    can = canonical_repeat_unit(unit)
    assert canonical_repeat_unit(can) == can
    k = cut % len(parts)
    shifted = "*" + "".join(parts[k:] + parts[:k]) + "*"
    assert normalize_repeat_unit(shifted) == normalize_repeat_unit(unit)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="*[]()=#CcNnOo1234.@+-H", max_size=14))
def test_hypothesis_random_text_never_crashes(text):
    """Random strings are either valid repeat units or raise InvalidSMILESError."""
    valid = is_valid_repeat_unit(text)
    if valid:
        assert canonical_repeat_unit(text).count("*") == 2
    else:
        with pytest.raises(InvalidSMILESError):
            canonical_repeat_unit(text)
