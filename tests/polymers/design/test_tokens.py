from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vlab.errors import InvalidSMILESError
from vlab.polymers.design import normalize_end_markers, tokenize


@pytest.mark.parametrize(
    ("smiles", "tokens"),
    [
        ("*CC(*)Cl", ["*", "C", "C", "(", "*", ")", "Cl"]),
        ("[*]c1ccc[nH]1", ["*", "c", "1", "c", "c", "c", "[nH]", "1"]),
        ("*C%12CC%12Br*", ["*", "C", "%12", "C", "C", "%12", "Br", "*"]),
        (
            "*/C=C\\[Si](C)(C)O*",
            ["*", "/", "C", "=", "C", "\\", "[Si]", "(", "C", ")", "(", "C", ")", "O", "*"],
        ),
        ("*C#N.[Na+]", ["*", "C", "#", "N", ".", "[Na+]"]),
        ("[1*]CC[*:2]", ["*", "C", "C", "*"]),
    ],
)
def test_tokens(smiles, tokens):
    assert tokenize(smiles) == tokens


def test_round_trip_on_real_data(train_smiles):
    for smi in train_smiles:
        assert "".join(tokenize(smi)) == normalize_end_markers(smi)
    assert all("[*]" not in t for smi in train_smiles for t in tokenize(smi))


@pytest.mark.parametrize("bad", ["*CC *", "*CC(*)Ë", "*C[C*"])
def test_untokenizable_raise(bad):
    with pytest.raises(InvalidSMILESError, match="Cannot tokenise the SMILES"):
        tokenize(bad)


def test_non_string_raises():
    with pytest.raises(InvalidSMILESError, match="expects a SMILES string"):
        tokenize(None)


_ALPHABET = [
    "C",
    "c",
    "N",
    "n",
    "O",
    "Cl",
    "Br",
    "(",
    ")",
    "=",
    "#",
    "1",
    "2",
    "%10",
    "*",
    "[nH]",
    "[Si]",
]


@given(st.lists(st.sampled_from(_ALPHABET), max_size=40))
def test_hypothesis_tokens_round_trip(parts):
    text = "".join(parts)
    assert "".join(tokenize(text)) == text
