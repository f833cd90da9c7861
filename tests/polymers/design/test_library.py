from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vlab.errors import InputError, InvalidSMILESError
from vlab.polymers.design import draw_grid, mean_pairwise_tanimoto, nearest_neighbours, novel_mask


def test_nearest_neighbour_of_a_training_unit_is_itself(train_smiles):
    train = train_smiles[:200]
    nn, sim = nearest_neighbours([train[5], "*CC(*)c1ccc(C(F)(F)F)cc1"], train)
    assert nn[0] == train[5] and sim[0] == pytest.approx(1.0)
    assert 0 < sim[1] < 1


def test_mean_pairwise_tanimoto_orders_diversity():
    similar = ["*CC(*)c1ccccc1", "*CC(*)c1ccc(C)cc1", "*CC(*)c1ccc(CC)cc1"]
    diverse = ["*CC(*)c1ccccc1", "*OC(=O)CCCCC(=O)N*", "*[Si](C)(C)O*"]
    assert mean_pairwise_tanimoto(similar) > mean_pairwise_tanimoto(diverse)
    assert 0 < mean_pairwise_tanimoto(diverse) < 0.3
    with pytest.raises(InputError, match="needs at least two SMILES. Got 1"):
        mean_pairwise_tanimoto(["*CC*"])


def test_novelty_with_and_without_normalisation():
    train = ["*CCO*", "*CC(*)C"]
    cands = ["*COC*", "*C(C)C*", "*CC(*)CC"]
    assert novel_mask(cands, train).tolist() == [False, False, True]
    assert novel_mask(cands, train, normalize=False).tolist() == [True, False, True]


def test_draw_grid(tmp_path):
    path = draw_grid(
        ["*CC(*)c1ccccc1", "*Nc1ccc(NC(=O)c2ccc(*)cc2)cc1"],
        tmp_path / "top.png",
        legends=["PS", "aramid"],
        mols_per_row=2,
    )
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size == (520, 220 + 52)  # + a caption band
        assert np.asarray(img.convert("L")).std() > 0  # something was drawn
    titled = draw_grid(
        ["*CC(*)c1ccccc1"] * 3,
        tmp_path / "titled.png",
        legends=["#1 λ 0.34 ± 0.05 W/(m K)\nSA 1.0"] * 3,
        title="Top 3 by likelihood",
        mols_per_row=2,
    )
    with Image.open(titled) as img:
        assert img.size == (520, 2 * (220 + 52) + 70)  # two rows and a title band
    with pytest.raises(InvalidSMILESError, match="cannot parse"):
        draw_grid(["C1CC"], tmp_path / "bad.png")
    with pytest.raises(InputError, match="one legend per SMILES. Got 1 legends for 2 SMILES"):
        draw_grid(["*CC*", "*CCO*"], tmp_path / "x.png", legends=["a"])


def test_fast_novelty_agrees_with_brute_force(train_smiles):
    from vlab.polymers.smiles import normalize_repeat_unit

    train, cands = train_smiles[:250], [*train_smiles[400:460], "*CCCC*", "*OCC*"]
    known = {normalize_repeat_unit(s) for s in train}
    brute = [normalize_repeat_unit(s) not in known for s in cands]
    assert novel_mask(cands, train).tolist() == brute
    assert not all(brute)  # the check covers both outcomes
