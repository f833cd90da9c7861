"""Fixtures of the design tests: real data, a small real language model, a real predictor."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator
from sklearn.linear_model import BayesianRidge

from vlab.polymers.design import NGramModel

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
_N_BITS = 256


def _rows(name: str) -> list[dict[str, str]]:
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"needs the public data file {path} (../shared/data is absent)")
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def pi1070() -> list[dict[str, str]]:
    """RadonPy PI1070 rows (SMILES and MD thermal conductivity)."""
    return _rows("RadonPy_PI1070.csv")


@pytest.fixture(scope="session")
def design_seeds() -> list[str]:
    """The seed repeat units of Wu et al. 2019 (first 150)."""
    return [r["smiles"] for r in _rows("HighTCond_initial_SMILES.csv")][:150]


@pytest.fixture(scope="session")
def train_smiles(pi1070, design_seeds) -> list[str]:
    """A few hundred real repeat units: PI1070 rows, Tg rows and the design seeds."""
    tg = [r["Smiles"] for r in _rows("polymon_Tg.csv")][:300]
    return [r["smiles"] for r in pi1070[:400]] + tg + design_seeds


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

    def __init__(self, rows: list[dict[str, str]]) -> None:
        rows = [r for r in rows if r["thermal_conductivity"]]
        x = _features([r["smiles"] for r in rows])
        y = np.array([float(r["thermal_conductivity"]) for r in rows])
        self.model = BayesianRidge().fit(x, y)
        self.n_calls = 0

    def __call__(self, smiles: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        self.n_calls += 1
        mean, std = self.model.predict(_features(smiles), return_std=True)
        return {"thermal_conductivity": (mean, std)}


@pytest.fixture(scope="session")
def design_predictor(pi1070) -> RidgePredictor:
    return RidgePredictor(pi1070)
