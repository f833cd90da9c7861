"""Tests of vlab.polymers.features: translation invariance, sklearn API."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline, make_union

from vlab.errors import InputError, InvalidSMILESError
from vlab.polymers.features import MorganCounts, RDKitDescriptors


@pytest.mark.parametrize(
    ("a", "b"),
    [("*CCO*", "*COC*"), ("*CC*", "*CCCC*"), ("*NCCCCCC(=O)*", "*CCCCCC(=O)N*")],
)
def test_morgan_translation_invariant(a, b):
    X = MorganCounts(n_bits=512).fit_transform([a, b])
    np.testing.assert_array_equal(X[0], X[1])


def test_morgan_shift_invariant_without_normalize_but_not_period():
    fp = MorganCounts(n_bits=512, normalize=False).fit([])
    X = fp.transform(["*CCO*", "*COC*", "*CCOCCO*"])
    np.testing.assert_array_equal(X[0], X[1])
    np.testing.assert_array_equal(2 * X[0], X[2])  # counts per written unit


def test_morgan_counts_are_chain_environments():
    # polyethylene: one CH2 environment per unit at each radius 0..2
    X = MorganCounts(radius=2, n_bits=2048).fit_transform(["*C*"])
    assert X.sum() == 3 and X.max() == 1
    Y = MorganCounts(radius=1, n_bits=2048).fit_transform(["*CC(*)C"])
    assert Y.sum() == 6  # 3 atoms x radii 0, 1
    assert not np.array_equal(*MorganCounts(n_bits=2048).fit_transform(["*CC(*)C", "*CC(*)CC"]))


def test_morgan_errors():
    fp = MorganCounts(n_bits=64).fit(["*CC*"])
    with pytest.raises(InvalidSMILESError, match="'C1CC1'"):
        fp.transform(["C1CC1"])
    out = MorganCounts(n_bits=64, on_error="nan").fit_transform(["*CC*", "bad"])
    assert np.isnan(out[1]).all() and np.isfinite(out[0]).all()
    with pytest.raises(InputError, match="'n_bits' parameter of MorganCounts"):
        MorganCounts(n_bits=0).fit(["*CC*"])
    with pytest.raises(InputError, match="'on_error' parameter of MorganCounts"):
        MorganCounts(on_error="skip").fit(["*CC*"])
    with pytest.raises(InputError, match="1-D sequence"):
        MorganCounts().fit(np.array([["*CC*", "*CC*"]]))


def test_descriptors():
    d = RDKitDescriptors().fit(["*CC*", "*CC(*)c1ccccc1"])
    X = d.transform(["*CC*", "*CCCC*", "*CC(*)c1ccccc1"])
    assert np.isfinite(X).all()
    np.testing.assert_array_equal(X[0], X[1])
    names = list(d.get_feature_names_out())
    assert "MolWt" in names and "Ipc" not in names
    assert X[2, names.index("NumAromaticRings")] == 1
    with pytest.raises(InputError, match="unknown descriptors \\['Nope'\\]"):
        RDKitDescriptors(names=["Nope"]).fit(["*CC*"])


def test_descriptors_are_rdkits_values_of_the_capped_unit():
    from rdkit.Chem import Descriptors

    from vlab.polymers.smiles import normalize_repeat_unit, oligomer

    units = ["*CC(*)c1ccccc1", "*Oc1ccc(cc1)C(C)(C)c1ccc(cc1)OC(=O)*", "*C(F)(F)C(F)(F)*"]
    d = RDKitDescriptors().fit(units)
    X = d.transform(units)
    funcs = dict(Descriptors._descList)
    for row, unit in zip(X, units):
        for name, value in zip(d.get_feature_names_out(), row):
            # the four E-state descriptors share one computation of the indices
            expected = float(funcs[name](oligomer(normalize_repeat_unit(unit), 1, cap="H")))
            assert value == expected or (np.isnan(value) and np.isnan(expected)), (unit, name)


def test_descriptors_fit_transform_is_fit_then_transform_with_the_fill_values():
    smiles = ["*CC*", "*CC(*)[Sn](C)(C)C", "*C(*)[Te]C", "*CC(*)c1ccccc1", "not a unit"]
    once = RDKitDescriptors(on_error="nan")
    X = once.fit_transform(smiles)
    twice = RDKitDescriptors(on_error="nan").fit(smiles)
    np.testing.assert_array_equal(X, twice.transform(smiles))
    np.testing.assert_array_equal(once.fill_values_, twice.fill_values_)
    names = list(once.get_feature_names_out())
    tin = X[1, names.index("MaxPartialCharge")]  # no Gasteiger charge for Sn: the median
    assert tin == once.fill_values_[names.index("MaxPartialCharge")] and np.isfinite(tin)
    assert np.isnan(X[4]).all() and np.isfinite(X[:4]).all()


def test_transformers_give_data_frames_with_set_output():
    d = RDKitDescriptors(names=["MolWt", "NumHDonors"]).set_output(transform="pandas")
    frame = d.fit_transform(["*CC(*)O", "*CC*"])
    assert list(frame.columns) == ["MolWt", "NumHDonors"]
    assert frame["NumHDonors"].tolist() == [1.0, 0.0]
    assert list(d.transform(["*CC(*)O"]).columns) == ["MolWt", "NumHDonors"]
    fp = MorganCounts(n_bits=8).set_output(transform="pandas").fit_transform(["*CC*"])
    assert fp.shape == (1, 8)


def test_pipeline_and_clone():
    union = make_union(MorganCounts(n_bits=32), RDKitDescriptors(names=["MolWt", "TPSA"]))
    pipe = make_pipeline(union, Ridge())
    smiles = ["*CC*", "*CC(*)C", "*CCO*", "*CC(*)Cl"]
    pipe.fit(smiles, [1.0, 2.0, 3.0, 4.0])
    assert pipe.predict(["*CC(*)CC"]).shape == (1,)
    twin = clone(pipe)
    assert twin.get_params()["featureunion__morgancounts__n_bits"] == 32
    assert len(pipe[:-1].get_feature_names_out()) == 34
    # 2-D single-column input (ColumnTransformer style) is accepted
    assert MorganCounts(n_bits=8).fit_transform(np.array([["*CC*"]])).shape == (1, 8)


def test_molecule_kind_matches_capped_unit_descriptors():
    names = ["MolWt", "NumHDonors", "TPSA", "NumRotatableBonds"]
    mol = RDKitDescriptors(names=names, kind="molecule").fit_transform(["CCC", "CCO"])
    unit = RDKitDescriptors(names=names).fit_transform(["*CC(*)C", "*CC(*)O"])
    np.testing.assert_allclose(mol, unit)  # capped *CC(*)C is propane, *CC(*)O ethanol


def test_molecule_kind_morgan_counts_all_atoms():
    # propane: 3 atoms at radius 0 and 3 at radius 1, ends are CH3 end groups
    X = MorganCounts(radius=1, n_bits=2048, kind="molecule").fit_transform(["CCC", "CCCC"])
    assert X[0].sum() == 6 and X[1].sum() == 8
    chain = MorganCounts(radius=1, n_bits=2048).fit_transform(["*CC(*)C"])
    assert not np.array_equal(X[0], chain[0])  # a chain unit has no CH3-CH2 end environments


def test_molecule_kind_errors():
    with pytest.raises(InvalidSMILESError, match=r"'\*CC\*' .* has '\*' end markers"):
        MorganCounts(kind="molecule").fit_transform(["*CC*"])
    with pytest.raises(InvalidSMILESError, match="'C1CC' is not a valid molecule"):
        RDKitDescriptors(names=["MolWt"], kind="molecule").fit_transform(["C1CC"])
    out = MorganCounts(n_bits=16, kind="molecule", on_error="nan").fit_transform(["CC", "*C*"])
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all()
    with pytest.raises(InputError, match="'kind' parameter of MorganCounts must be"):
        MorganCounts(kind="polymer").fit(["CC"])


def test_molecule_and_design_parsers_keep_the_smiles_limits():
    from vlab.errors import InvalidSMILESError
    from vlab.polymers.design.library import nearest_neighbours
    from vlab.polymers.features import molecule_mol

    with pytest.raises(InvalidSMILESError, match="MAX_SMILES_LENGTH"):
        molecule_mol("C" * 20000)
    with pytest.raises(InvalidSMILESError, match="MAX_HEAVY_ATOMS"):
        molecule_mol("C" * 1500)
    with pytest.raises(InvalidSMILESError):
        nearest_neighbours(["*" + "C" * 1500 + "*"], ["*CC*"])


def test_fixed_fill_values_replace_non_finite_descriptors_whatever_the_batch():
    from vlab.polymers.transfer.features import descriptor_fill, featurize

    germanium = "*C1CCC(CC1)[Ge](C)(C)*"
    fill = descriptor_fill(["*CC*", "*CC(*)c1ccccc1", "*CC(*)O"])
    alone = featurize([germanium], fill=fill)[0]
    among = featurize(["*CC*", "*CC(*)C", germanium], fill=fill)[2]
    assert np.isfinite(alone).all() and np.array_equal(alone, among)
    # without them each batch fills with its own medians
    assert not np.array_equal(featurize([germanium])[0], featurize(["*CC*", germanium])[1])
    with pytest.raises(InputError, match="'fill_values' of RDKitDescriptors must be"):
        featurize([germanium], fill=fill[:3])
