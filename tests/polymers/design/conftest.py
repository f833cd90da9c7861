"""Fixtures of the design tests: real data, a small real language model, a real predictor.

The data come from :func:`vlab.polymers.datasets.source_rows`, as in the product: the CSV files
in the configured data cache if they are there, else the catalog stores shipped with vlab.
"""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator
from sklearn.linear_model import BayesianRidge

from vlab.polymers.datasets import SourceRows, source_rows
from vlab.polymers.design import NGramModel

_N_BITS = 256


@pytest.fixture(scope="session")
def pi1070() -> SourceRows:
    """RadonPy PI1070 rows (SMILES as written and MD thermal conductivity)."""
    return source_rows("radonpy_pi1070")


@pytest.fixture(scope="session")
def design_seeds() -> list[str]:
    """The seed repeat units of Wu et al. 2019 (first 150)."""
    return list(source_rows("hightcond_initial_smiles").smiles[:150])


@pytest.fixture(scope="session")
def train_smiles(pi1070, design_seeds) -> list[str]:
    """A few hundred real repeat units: PI1070 rows, Tg rows and the design seeds."""
    tg = list(source_rows("polymon_tg").smiles[:300])
    return list(pi1070.smiles[:400]) + tg + design_seeds


@pytest.fixture(scope="session")
def design_lm(train_smiles) -> NGramModel:
    """An order-10 model with two reordered SMILES per training molecule."""
    return NGramModel(order=10, n_augment=2, random_state=0).fit(train_smiles)


def _features(smiles: list[str]) -> np.ndarray:
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=_N_BITS)
    return np.log1p(
        np.array([gen.GetCountFingerprintAsNumPy(Chem.MolFromSmiles(s)) for s in smiles])
    )


class RidgePredictor:
    """Bayesian ridge on Morgan counts, fitted to PI1070 thermal conductivity (W/(m K))."""

    def __init__(self, rows: SourceRows) -> None:
        y = rows.values["thermal_conductivity"]
        known = np.isfinite(y)
        x = _features([s for s, k in zip(rows.smiles, known, strict=True) if k])
        y = y[known]
        self.model = BayesianRidge().fit(x, y)
        self.n_calls = 0

    def __call__(self, smiles: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        self.n_calls += 1
        mean, std = self.model.predict(_features(smiles), return_std=True)
        return {"thermal_conductivity": (mean, std)}


@pytest.fixture(scope="session")
def design_predictor(pi1070) -> RidgePredictor:
    return RidgePredictor(pi1070)
