"""Featurisers of repeat units as scikit-learn transformers (SMILES in, float array out).

Treatment of the ``*`` ends
---------------------------
A repeat unit stands for an infinite chain. :class:`MorganCounts` therefore builds a linear
oligomer of ``2 m + 1`` units, with ``m`` large enough that atoms of the middle unit see
``radius`` bonds of real chain on both sides, and counts only the Morgan environments
centred on atoms of the middle unit (``fromAtoms``). The counts are those of one repeat unit
of the infinite chain: a cyclic shift of the cut (``*CCO*`` vs ``*COC*``) gives exactly the
same vector. With ``normalize=True`` (default) the unit is first reduced to its primitive
period (:func:`~vlab.polymers.smiles.normalize_repeat_unit`), so ``*CC*`` and ``*CCCC*``
also give the same vector (counts per primitive unit).

:class:`RDKitDescriptors` needs a finite molecule: it computes RDKit 2D descriptors of the
primitive repeat unit with both ``*`` replaced by hydrogen. Period multiples then look
identical; cyclic shifts differ only by where the two hydrogens sit.

Plain molecules (``kind="molecule"``)
-------------------------------------
Source data of small molecules (e.g. heat capacities,
:func:`~vlab.polymers.datasets.load_small_molecule_cp`) have no ``*`` ends. With
``kind="molecule"`` both featurisers take an ordinary SMILES (a ``*`` is an error) and
produce the same columns as for repeat units, so molecules and polymers can be rows of one
training set:

* :class:`MorganCounts` counts the environments centred on *all* atoms of the molecule,
  whose ends are real end groups (a CH3 of propane), where a repeat unit counts only the
  atoms of one unit inside an infinite chain (every CH2 of polyethylene sees chain on both
  sides). A molecule is thus featurised like a finite oligomer, counts per molecule;
  a repeat unit like a chain segment, counts per repeat unit. Both scale with size, so
  extensive properties (heat capacity per mole of molecules or of repeat units) map onto
  the same fingerprint scale.
* :class:`RDKitDescriptors` computes the descriptors of the molecule itself. That is the
  same treatment as a repeat unit, whose descriptors are those of the hydrogen-capped unit:
  the capped unit of ``*CC(*)C`` (polypropylene) *is* propane, so a molecule and the capped
  unit with the same graph get identical descriptors (their Morgan counts differ).

``normalize`` has no effect on molecules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from rdkit import Chem
from rdkit.Chem import Descriptors, rdFingerprintGenerator
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from vlab.errors import InputError, InvalidSMILESError
from vlab.polymers.smiles import _ends, _normalize_memo, _parse, oligomer, repeat_unit_mol, shorten

__all__ = ["DEFAULT_DESCRIPTORS", "MorganCounts", "RDKitDescriptors", "molecule_mol"]

#: All RDKit 2D descriptors except ``Ipc`` (values up to 1e30+, numerically useless).
DEFAULT_DESCRIPTORS: tuple[str, ...] = tuple(n for n, _ in Descriptors._descList if n != "Ipc")
_DESCRIPTOR_FUNCS = dict(Descriptors._descList)
# these four take RDKit's E-state indices of the molecule; with force=False they share one
# computation (kept on the molecule), where each would compute them again
_SHARED_ESTATE = frozenset(
    {"MaxEStateIndex", "MinEStateIndex", "MaxAbsEStateIndex", "MinAbsEStateIndex"}
)


def _as_smiles_list(X, caller: str) -> list[str]:
    arr = np.asarray(X, dtype=object)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InputError(
            f"The input of {caller} must be a 1-D sequence of repeat-unit SMILES (or one "
            f"column). Got an array of shape {arr.shape}."
        )
    return [str(s) if isinstance(s, str) else s for s in arr]


_KINDS = ("repeat_unit", "molecule")


def _check_kind(value: str, caller: str) -> None:
    if value not in _KINDS:
        raise InputError(
            f"The 'kind' parameter of {caller} must be 'repeat_unit' or 'molecule'. Got {value!r}."
        )


def molecule_mol(smiles: object) -> Chem.Mol:
    """Parse an ordinary molecule (no ``*`` end markers) for ``kind="molecule"``.

    Raises
    ------
    InvalidSMILESError
        Not a string, empty, not parseable by RDKit, or containing ``*`` (a repeat unit).

    Examples
    --------
    >>> molecule_mol("CCO").GetNumAtoms()
    3
    """
    mol, why = _parse(smiles)  # the limits of parse_smiles before RDKit sees it
    if mol is None or mol.GetNumAtoms() == 0:
        why = why or "it is empty"
    elif any(a.GetAtomicNum() == 0 for a in mol.GetAtoms()):
        why = "it has '*' end markers (featurise repeat units with kind='repeat_unit')"
    else:
        return mol
    raise InvalidSMILESError(
        f"The molecule {shorten(smiles)} is not a valid molecule SMILES for kind='molecule': {why}."
    )


def _check_on_error(value: str, caller: str) -> None:
    if value not in ("raise", "nan"):
        raise InputError(
            f"The 'on_error' parameter of {caller} must be 'raise' or 'nan'. Got {value!r}."
        )


class _SmilesTransformer(TransformerMixin, BaseEstimator):
    """Shared fit/transform plumbing: rows are featurised one by one."""

    def _row(self, smiles: str) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _names(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, X, y=None):
        """Validate the parameters (nothing is learned from ``X``); returns ``self``."""
        _check_on_error(self.on_error, type(self).__name__)
        _check_kind(self.kind, type(self).__name__)
        _as_smiles_list(X, type(self).__name__)
        self.n_features_out_ = len(self._names())
        return self

    def transform(self, X) -> np.ndarray:
        """Feature matrix of shape ``(n_samples, n_features_out_)``."""
        return self._matrix(X)

    def _matrix(self, X) -> np.ndarray:
        # not wrapped by scikit-learn's set_output, so subclasses get an array
        check_is_fitted(self, "n_features_out_")
        rows = _as_smiles_list(X, type(self).__name__)
        out = np.empty((len(rows), self.n_features_out_), dtype=float)
        for i, smi in enumerate(rows):
            try:
                out[i] = self._row(smi)
            except InvalidSMILESError:
                if self.on_error == "raise":
                    raise
                out[i] = np.nan
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output columns."""
        check_is_fitted(self, "n_features_out_")
        return np.asarray(self._names(), dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags


class MorganCounts(_SmilesTransformer):
    """Count Morgan fingerprints of a repeat unit in its infinite chain.

    Parameters
    ----------
    radius : int, default 2
        Morgan radius (bonds).
    n_bits : int, default 2048
        Length of the folded count vector.
    normalize : bool, default True
        Reduce each unit to its primitive period first (translation invariance).
    on_error : {"raise", "nan"}, default "raise"
        Invalid repeat units raise :class:`~vlab.errors.InvalidSMILESError`, or give a row
        of NaN.
    kind : {"repeat_unit", "molecule"}, default "repeat_unit"
        Inputs are repeat units with two ``*`` (environments of one unit in the infinite
        chain) or ordinary molecules (environments of all atoms; see the module notes).

    Examples
    --------
    >>> fp = MorganCounts(radius=2, n_bits=256).fit(["*CC*"])
    >>> X = fp.transform(["*CCO*", "*COC*", "*CCOCCO*", "*CC(*)C"])
    >>> X.shape, bool((X[0] == X[1]).all() and (X[0] == X[2]).all()), bool((X[0] == X[3]).all())
    ((4, 256), True, False)
    >>> MorganCounts(radius=1, n_bits=256, kind="molecule").fit_transform(["CCC"]).sum()
    np.float64(6.0)
    """

    def __init__(
        self,
        radius: int = 2,
        n_bits: int = 2048,
        *,
        normalize: bool = True,
        on_error="raise",
        kind: str = "repeat_unit",
    ):
        self.radius = radius
        self.n_bits = n_bits
        self.normalize = normalize
        self.on_error = on_error
        self.kind = kind

    def fit(self, X, y=None):
        """Validate the parameters; returns ``self``."""
        for name in ("radius", "n_bits"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < (0 if name == "radius" else 1):
                raise InputError(
                    f"The {name!r} parameter of MorganCounts must be a "
                    f"{'non-negative' if name == 'radius' else 'positive'} integer. Got {value!r}."
                )
        self.generator_ = rdFingerprintGenerator.GetMorganGenerator(
            radius=int(self.radius), fpSize=int(self.n_bits)
        )
        return super().fit(X, y)

    def _names(self) -> list[str]:
        return [f"morgan{self.radius}_{i}" for i in range(self.n_bits)]

    def _row(self, smiles: str) -> np.ndarray:
        if self.kind == "molecule":
            return self.generator_.GetCountFingerprintAsNumPy(molecule_mol(smiles)).astype(float)
        unit = _normalize_memo(smiles) if self.normalize else smiles
        mol = repeat_unit_mol(unit)
        _, a, b, _ = _ends(mol)
        step = len(Chem.GetShortestPath(mol, a, b)) if a != b else 1  # bonds per unit
        side = max(1, math.ceil(self.radius / step))
        chain = oligomer(unit, 2 * side + 1)
        middle = [x.GetIdx() for x in chain.GetAtoms() if x.GetIntProp("unit") == side]
        fp = self.generator_.GetCountFingerprintAsNumPy(chain, fromAtoms=middle)
        return fp.astype(float)


class RDKitDescriptors(_SmilesTransformer):
    """RDKit 2D descriptors of the hydrogen-capped (primitive) repeat unit.

    Parameters
    ----------
    names : sequence of str, optional
        Descriptor names of ``rdkit.Chem.Descriptors`` (default :data:`DEFAULT_DESCRIPTORS`).
    normalize : bool, default True
        Reduce each unit to its primitive period first.
    on_error : {"raise", "nan"}, default "raise"
        Behaviour on invalid repeat units.
    kind : {"repeat_unit", "molecule"}, default "repeat_unit"
        Inputs are repeat units (descriptors of the hydrogen-capped unit) or ordinary
        molecules (descriptors of the molecule; see the module notes).
    fill_values : array_like, optional
        Values for non-finite descriptors, one per descriptor, fixed ahead (e.g. the
        ``fill_values_`` of the training rows, so that a prediction does not depend on the
        other rows of its batch); default: learned by :meth:`fit`.

    Notes
    -----
    Non-finite descriptor values (RDKit returns NaN or inf for a few molecules) are
    replaced by the column median of the data seen in :meth:`fit` (0 if none is finite),
    or by ``fill_values``; they are the fitted attribute ``fill_values_``.

    Examples
    --------
    >>> d = RDKitDescriptors(names=["MolWt", "NumHDonors"]).fit(["*CC(*)O", "*CC*"])
    >>> d.transform(["*CC(*)O"]).round(2).tolist(), list(d.get_feature_names_out())
    ([[46.07, 1.0]], ['MolWt', 'NumHDonors'])
    >>> RDKitDescriptors(names=["MolWt"], kind="molecule").fit_transform(["CCO"]).round(2)
    array([[46.07]])
    """

    def __init__(
        self,
        names: Sequence[str] | None = None,
        *,
        normalize=True,
        on_error="raise",
        kind: str = "repeat_unit",
        fill_values=None,
    ):
        self.names = names
        self.normalize = normalize
        self.on_error = on_error
        self.kind = kind
        self.fill_values = fill_values

    def _names(self) -> list[str]:
        return list(DEFAULT_DESCRIPTORS if self.names is None else self.names)

    def fit(self, X, y=None):
        """Check the names and learn the fill values of non-finite descriptors."""
        self._learn_fill(self._check_and_raw(X, y))
        return self

    def fit_transform(self, X, y=None, **fit_params) -> np.ndarray:
        """``fit(X).transform(X)``, with the descriptors computed once."""
        raw = self._check_and_raw(X, y)
        self._learn_fill(raw)
        return self._fill(raw)

    def _check_and_raw(self, X, y) -> np.ndarray:
        unknown = [n for n in self._names() if n not in _DESCRIPTOR_FUNCS]
        if unknown:
            raise InputError(
                f"The 'names' parameter of RDKitDescriptors has unknown descriptors {unknown}; "
                "allowed: the names of rdkit.Chem.Descriptors._descList."
            )
        super().fit(X, y)
        return self._matrix(X)

    def _learn_fill(self, raw: np.ndarray) -> None:
        if self.fill_values is not None:
            fill = np.asarray(self.fill_values, dtype=float)
            if fill.shape != (len(self._names()),) or not np.isfinite(fill).all():
                raise InputError(
                    f"The 'fill_values' of RDKitDescriptors must be {len(self._names())} finite "
                    f"numbers, one per descriptor. Got shape {fill.shape}."
                )
            self.fill_values_ = fill
            return
        with np.errstate(all="ignore"):
            med = np.nanmedian(np.where(np.isfinite(raw), raw, np.nan), axis=0) if len(raw) else 0
        self.fill_values_ = np.where(np.isfinite(med), med, 0.0)

    def transform(self, X) -> np.ndarray:
        """Descriptor matrix; non-finite values replaced by ``fill_values_``."""
        check_is_fitted(self, "fill_values_")
        return self._fill(self._matrix(X))

    def _fill(self, raw: np.ndarray) -> np.ndarray:
        bad = ~np.isfinite(raw) & ~np.all(np.isnan(raw), axis=1)[:, None]  # invalid rows stay NaN
        raw[bad] = np.broadcast_to(self.fill_values_, raw.shape)[bad]
        return raw

    def _row(self, smiles: str) -> np.ndarray:
        if self.kind == "molecule":
            mol = molecule_mol(smiles)
        else:
            unit = _normalize_memo(smiles) if self.normalize else smiles
            mol = oligomer(unit, 1, cap="H")
        out = np.empty(len(self._names()))
        for j, name in enumerate(self._names()):
            try:
                func = _DESCRIPTOR_FUNCS[name]
                out[j] = float(func(mol, force=False) if name in _SHARED_ESTATE else func(mol))
            except (ValueError, ZeroDivisionError, OverflowError, RuntimeError):
                out[j] = np.nan
        return out
