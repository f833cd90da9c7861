"""Plausibility of designed repeat units: SA score and ring-strain rules."""

from __future__ import annotations

import pytest

from vlab.errors import InputError, InvalidSMILESError
from vlab.polymers.design import MAX_SA_SCORE, STRAIN_FLAGS, assess, sa_score, strain_flags

PLAUSIBLE = {
    "benzene ring (polystyrene)": "*CC(*)c1ccccc1",
    "aromatic polyamide (PPTA-like)": "*c1ccc(C(=O)Nc2ccc(N*)cc2)cc1",
    "nylon 6": "*NCCCCCC(=O)*",
    "PMMA": "*CC(*)(C)C(=O)OC",
    "norbornene, double bond away from the bridgeheads": "*C1CC2CC1C=C2*",
    "adamantane (bridged, unstrained)": "*C1C2CC3CC1CC(C2)C3*",
    "perylene diimide (fused aromatics)": (
        "*N1C(=O)c2ccc3c4ccc5C(=O)N(*)C(=O)c6ccc(c7ccc(C1=O)c2c37)c4c56"
    ),
    "pyromellitic diimide": "*c1ccc(-n2c(=O)c3cc4c(=O)n(*)c(=O)c4cc3c2=O)cc1",
    "cyclooctyl methacrylate (a pendant medium ring)": "*CC(*)(C)C(=O)OC1CCCCCCC1",
}


@pytest.mark.parametrize("smiles", PLAUSIBLE.values(), ids=PLAUSIBLE.keys())
def test_common_polymers_pass(smiles):
    p = assess(smiles)
    assert p.strain_flags == () and p.plausible and p.reason == ""
    assert 1.0 <= p.sa_score <= 5.0


@pytest.mark.parametrize(
    ("smiles", "flags"),
    [
        ("*C12C3C4C1C5C2C3C45*", ("ring4", "fused_small")),  # cubane cage
        ("*CC12CC(C1)C2*", ("ring4", "fused_small", "bridged_small")),  # bicyclo[1.1.1]pentane
        ("*C12CC1C2*", ("ring3", "fused_small")),  # bicyclo[1.1.0]butane
        ("*C1CC2(CC2)C1*", ("ring3", "ring4", "spiro_small")),  # spiro[2.3]hexane
        ("*C1=C2CCC1CC2*", ("anti_bredt",)),  # bridgehead double bond in norbornene
        ("*C1C#CCCC1*", ("strained_pi",)),  # cyclohexyne
        ("*CC(*)C1CC1", ("ring3",)),  # a pendant cyclopropane
        ("*C1Cc2ccc(cc2)CC(*)c2ccc1cc2", ("bridged_arene",)),  # [2.2]paracyclophane
        # found by the sampler: bridges of 3-7 atoms across a benzene ring (meta, para)
        ("*c1ccc2c(=O)c(c1)C(=O)N(*)C2=O", ("bridged_arene",)),
        ("*N1C(=O)c2ccc3cc(c4ccc-3cc4c(=O)n(*)c2=O)C1=O", ("bridged_arene", "fused_medium")),
        # ... and an 8-membered ring fused between a benzene ring and an imide
        ("*c1ccc2c(=O)cc3c(cc(=O)c2c1)C(=O)N(*)C3=O", ("fused_medium",)),
        # found by the sampler: a cyclobutadiene that RDKit perceives as part of an aromatic
        # annulene, and a 4-membered ring in a fused aromatic system
        ("*NC(=O)C(=O)Nc1ccc2ncc3ccc3ccc3c(=O)n(*)c(=O)c3ccc2c1", ("ring4", "fused_small")),
        (
            "*C(=O)Nc1ccc(C(=O)c2cccc3ccn-3c(=O)c3cc(-c4ccc(NC(=O)C(*)=O)cc4)ccc3c(C(=O)O)cc2)cc1",
            ("ring4", "fused_small"),
        ),
    ],
)
def test_strained_units_are_flagged(smiles, flags):
    assert strain_flags(smiles) == flags
    p = assess(smiles)
    assert not p.plausible and p.reason.startswith(flags[0])
    assert set(flags) <= set(STRAIN_FLAGS)


def test_sa_score_scale_and_threshold():
    easy, hard = sa_score("*CC(*)c1ccccc1"), sa_score("*C1(C2CC3(C)OC(C)(C2)C3)C(*)(C#N)C1(F)Cl")
    assert easy == 1.0 and 4.0 < hard <= 10.0
    assert not assess("*C1(C2CC3(C)OC(C)(C2)C3)C(*)(C#N)CC1", max_sa=1.5).plausible
    p = assess("*CC(*)C(=O)OC", max_sa=1.5)
    assert not p.plausible and p.reason == f"SA {p.sa_score:.1f} > 1.5"
    assert MAX_SA_SCORE == 6.0


def test_bad_inputs_are_clear_errors():
    with pytest.raises(
        InputError, match=r"'max_sa' parameter of assess must be a number in \[1, 10\]"
    ):
        assess("*CC*", max_sa=0)
    with pytest.raises(InvalidSMILESError, match="'CC' is not a valid polymer SMILES"):
        sa_score("CC")
    with pytest.raises(InvalidSMILESError, match="not a valid polymer SMILES"):
        strain_flags("*C1CC*")


def test_no_public_polymer_has_a_bridged_arene_or_a_fused_medium_ring():
    """The two rules flag what the sampler invents, not what chemists make: none of the repeat
    units of the shipped PI1070 and PoLyInfo Tg tables has a bridge across an aromatic ring or
    a fused carbon-rich ring of 8-11 atoms."""
    from vlab.polymers import load_source

    for source in ("radonpy_pi1070", "polymon_tg"):
        units = list(load_source(source, normalize=False).smiles)
        flagged = [s for s in units if {"bridged_arene", "fused_medium"} & set(strain_flags(s))]
        assert len(units) > 1000 and flagged == [], (source, flagged[:3])
