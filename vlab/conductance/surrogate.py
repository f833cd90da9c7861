"""Conductance surrogate: local SOAP descriptors, slab sums, soft minimum, ensemble of networks.

:class:`ConductanceSurrogate` is a scikit-learn regressor whose samples are junctions
(``X``: a list of :class:`ase.Atoms` obeying the geometry contract, or of precomputed
:class:`~vlab.conductance.descriptors.LocalDescriptors`) and whose targets are conductances
G/G0. Each ensemble member is a small numpy network trained end to end (the pooling sits
*after* the network, so it must be learned through it; scikit-learn's MLP cannot do that):

1. per-atom SOAP vectors of the device and the first electrode layers, standardised;
2. a tanh network maps each to a contribution a_i >= 0 (G0, softplus output);
3. contributions are summed over slabs of one atomic layer along z (transport axis);
4. a soft minimum over the slabs gives G (the narrowest cross-section limits conductance);
   with ``electrode_coupling=True`` it is combined with the soft minima of the outermost
   electrode layers, so that a neck between wider electrodes conducts more.

See :mod:`vlab.conductance.pooling` for why this is size-independent. The members differ
by initial weights (and, with ``bootstrap=True``, resamples of the training structures);
``predict(X, return_std=True)`` returns the ensemble mean and standard deviation.

Accuracy and cost
-----------------
``benchmarks/surrogate.py`` and ``benchmarks/surrogate_spd.py`` measure R² on held-out traces
(same size, the same necks between wider electrodes, wider wires) and the speed-up over the
references; docs/conductance.md gives the numbers and what they depend on. Train on cells whose
atoms cover the environments of the structures to predict (e.g. add small contacts with a
narrow neck on wider electrodes): a cell with no bulk-like atoms (a 1x1 wire) does not transfer
to wider ones. The cost is about linear in the number of atoms.

Saved-model format (:meth:`ConductanceSurrogate.save`, format version 2)
---------------------------------------------------------------------------
One NumPy ``.npz`` file read with ``allow_pickle=False`` (no code is ever unpickled):

* ``metadata``: a 0-d unicode array holding JSON: ``format`` ("vlab-conductance-surrogate"),
  ``format_version`` (2), ``vlab_version``, ``params`` (the estimator parameters, the
  descriptor settings as a dict), ``descriptor_settings``, ``n_members``, ``n_layers``;
* ``feature_mean``, ``feature_scale``: the standardisation of the per-atom descriptors;
* ``m{k}_w{j}``, ``m{k}_b{j}``: weights and biases of layer j of ensemble member k;
* ``m{k}_head``: the electrode coupling (θ_κ, θ_q) of member k, only with
  ``electrode_coupling=True`` (new in version 2).

:meth:`ConductanceSurrogate.load` reads versions 1 and 2 (a version-1 file is a model without
electrode coupling) and refuses any other with :class:`~vlab.errors.IncompatibleVersionError`.

Examples
--------
>>> from vlab.conductance.structures import build_wire, perturb
>>> from vlab.conductance.transport import SBandTightBinding
>>> wire = build_wire("Au", cross_section=(1, 1), length=2)
>>> X = [perturb(wire, amplitude=0.1 * k, rng=k) for k in range(6)]
>>> y = [SBandTightBinding().conductance(atoms) for atoms in X]
>>> model = ConductanceSurrogate(n_estimators=2, hidden_layer_sizes=(8,), max_iter=30,
...                              random_state=0).fit(X, y)
>>> mean, std = model.predict(X[:2], return_std=True)
>>> mean.shape, bool((std >= 0).all())
((2,), True)
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from ase import Atoms
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from vlab._utils import read_model_file, write_model_file
from vlab.conductance import _slabnet
from vlab.conductance.descriptors import DescriptorSettings, LocalDescriptors, compute_descriptors
from vlab.errors import InputError, reject_unknown

__all__ = ["FORMAT_VERSION", "SURROGATE_PRESETS", "ConductanceSurrogate", "DescriptorTransformer"]

#: Version of the saved-model format written by :meth:`ConductanceSurrogate.save`.
FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)
_FORMAT = "vlab-conductance-surrogate"
# electrode coupling (θ_κ, θ_q) at the start of training: κ = 0.13, q = 1.7 (a weak coupling)
_INITIAL_HEAD = np.array([-2.0, 0.0])


# --------------------------------------------------------------------------- input checks
def _check_settings(settings: object, caller: str) -> DescriptorSettings | None:
    if settings is not None and not isinstance(settings, DescriptorSettings):
        raise InputError(
            f"The 'descriptor_settings' parameter of {caller} must be a DescriptorSettings or "
            f"None. Got {type(settings).__name__}."
        )
    return settings


def _as_descriptors(X, settings, caller: str) -> list[LocalDescriptors]:
    """Turn ``X`` (Atoms or LocalDescriptors) into descriptors computed with ``settings``."""
    if isinstance(X, (Atoms, str)) or not isinstance(X, (Sequence, np.ndarray)) or len(X) == 0:
        raise InputError(
            f"The 'X' parameter of {caller} must be a non-empty list of ase.Atoms or of "
            f"LocalDescriptors. Got {type(X).__name__}"
            f"{' of length 0' if hasattr(X, '__len__') and len(X) == 0 else ''}."
        )
    items = list(X)
    if all(isinstance(item, Atoms) for item in items):
        return compute_descriptors(items, settings or DescriptorSettings())
    if all(isinstance(item, LocalDescriptors) for item in items):
        wanted = settings or items[0].settings
        if any(item.settings != wanted for item in items):
            raise InputError(
                f"The LocalDescriptors given to {caller} were computed with other settings "
                f"than {wanted}. Recompute them with these settings, or pass ase.Atoms."
            )
        return items
    kinds = sorted({type(item).__name__ for item in items})
    raise InputError(
        f"The 'X' parameter of {caller} must hold only ase.Atoms or only LocalDescriptors. "
        f"Got items of types {kinds}."
    )


def _as_floats(values) -> np.ndarray:
    """``values`` as a float array, or ``[nan]`` if it cannot be one (then reported as bad)."""
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return np.array([np.nan])


def _got(arr: np.ndarray) -> str:
    """The 'Got ...' end of a message about a bad per-structure vector."""
    finite = arr.size == 0 or bool(np.all(np.isfinite(arr)))
    return f"Got shape {np.shape(arr)}{'' if finite else ' with NaN or inf'}."


def _check_targets(y, n: int, caller: str) -> np.ndarray:
    arr = _as_floats(y)
    if arr.ndim != 1 or len(arr) != n or not np.all(np.isfinite(arr)):
        raise InputError(
            f"The 'y' parameter of {caller} must be a 1-D array of {n} finite conductances "
            f"(G/G0), one per structure. {_got(arr)}"
        )
    return arr


def _check_weights(weights, n: int, caller: str) -> np.ndarray:
    """Validated per-structure loss weights (all ones when ``weights`` is None)."""
    if weights is None:
        return np.ones(n)
    arr = _as_floats(weights)
    finite = arr.ndim == 1 and len(arr) == n and np.all(np.isfinite(arr))
    if not finite or np.any(arr < 0) or not arr.sum() > 0:
        raise InputError(
            f"The 'sample_weight' parameter of {caller} must be a 1-D array of {n} finite "
            f"weights >= 0 (one per structure, not all 0). {_got(arr)}"
        )
    return arr


def _check_param(name: str, value: object, ok: bool, rule: str) -> None:
    if not ok:
        raise InputError(
            f"The {name!r} parameter of ConductanceSurrogate must be {rule}. Got {value!r}."
        )


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_pos(value: object) -> bool:
    return (
        isinstance(value, (int, float, np.number))
        and not isinstance(value, bool)
        and (np.isfinite(value) and value > 0)
    )


# --------------------------------------------------------------------------- transformer
class DescriptorTransformer(TransformerMixin, BaseEstimator):
    """Pipeline step that turns ase.Atoms into :class:`LocalDescriptors` (stateless).

    Parameters
    ----------
    settings : DescriptorSettings, optional
        Descriptor settings; default ``DescriptorSettings()``.
    batch_size : int
        Structures per SOAP batch.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> pipe = make_pipeline(DescriptorTransformer(), ConductanceSurrogate(n_estimators=1))
    >>> [name for name, _ in pipe.steps]
    ['descriptortransformer', 'conductancesurrogate']
    """

    def __init__(self, settings: DescriptorSettings | None = None, *, batch_size: int = 64):
        self.settings = settings
        self.batch_size = batch_size

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # X is a list of ase.Atoms
        return tags

    def fit(self, X, y=None):
        """Check the parameters (nothing is learned); return self."""
        self.settings_ = _check_settings(self.settings, "DescriptorTransformer") or (
            DescriptorSettings()
        )
        return self

    def transform(self, X) -> list[LocalDescriptors]:
        """Descriptors of each structure of ``X`` (a list of ase.Atoms)."""
        check_is_fitted(self, "settings_")
        return compute_descriptors(X, self.settings_, batch_size=self.batch_size)


#: Named estimator configurations: ``ConductanceSurrogate.from_preset(NAME)``,
#: ``vlab conductance train --preset NAME`` and ``preset:`` in experiment files. Each has the
#: parameters (by their names; nested descriptor settings as a mapping) and what it is for.
SURROGATE_PRESETS: dict[str, dict[str, Any]] = {
    "default": {
        "params": {},
        "description": "the library defaults: 8 bootstrapped members, default SOAP settings",
    },
    "spd-headline": {
        "params": {
            "n_estimators": 16,
            "bootstrap": False,
            "electrode_coupling": True,
            "descriptor_settings": {"sigma": 0.3, "n_max": 8},
        },
        "description": "the model of the spd benchmark: 16 members each trained on all cells, "
        "finer SOAP (sigma 0.3 Å, n_max 8), learned electrode coupling; train it on cells "
        "with electrodes of several widths",
    },
}


# --------------------------------------------------------------------------- the estimator
class ConductanceSurrogate(RegressorMixin, BaseEstimator):
    """Neural-network ensemble predicting G/G0 of junctions from local descriptors.

    Parameters
    ----------
    descriptor_settings : DescriptorSettings, optional
        Per-atom SOAP and slab settings; default ``DescriptorSettings()`` (or, when fitted on
        precomputed LocalDescriptors, their settings).
    hidden_layer_sizes : tuple of int
        Hidden layer widths of the per-atom network (tanh units).
    n_estimators : int
        Ensemble members (>= 1); their spread is the predictive uncertainty.
    alpha : float
        L2 penalty on the weights (>= 0), per training structure.
    softmin_temperature : float
        τ of the soft minimum over slabs, G0 (> 0); small τ: closer to the hard minimum.
    max_iter : int
        L-BFGS iterations per member. Stopping early regularises (docs/conductance.md compares
        iteration counts on held-out traces).
    tol : float
        Relative loss-change tolerance of L-BFGS.
    bootstrap : bool
        Train each member on a bootstrap resample of the structures. With False, every member
        sees all of them and the members differ by their initial weights only (the
        ``spd-headline`` preset; docs/conductance.md compares both on held-out traces).
    electrode_coupling : bool
        Let the electrodes' width enter the prediction: with m the soft minimum of the slab
        sums and E_L, E_R those of the outermost electrode layers on each side,
        G = m (1 + κ) / (1 + κ/2 · ((m/E_L)^q + (m/E_R)^q)), with κ >= 0 and q >= 1 learned per
        member. G = m for a uniform wire; a neck between wider electrodes conducts more
        (up to (1 + κ) m), as in the spd reference, where thick necks conduct ~25 % more
        between 3x3-cell than between 2x2-cell electrodes. Beyond r_cut of the neck, a purely
        local model cannot see this.
    random_state : int, numpy.random.Generator or None
        Seed of the initial weights and resamples.
    n_jobs : int or None
        Processes that train the members at once (None: 1; -1: one per CPU). The members are
        the same for any ``n_jobs`` (their initial weights and resamples are drawn first).
        Extra processes are forked (Linux); where forking is unavailable, or inside a daemonic
        process such as a Dask worker, the members are trained one after the other. Not saved.
    loss : {"squared", "absolute"}
        Training error per structure: squared (the ensemble predicts the conditional mean of
        G) or a smooth absolute error sqrt(δ² + r²) - δ with δ = 0.02 G0 (close to the
        conditional median, which sits nearer the most common value where the spread of G
        given the structure is skewed, as on the single-atom plateau).
    warm_start : bool
        When the model is already fitted with the same network shape and ensemble size, start
        each member from its fitted weights and keep the fitted standardisation of the
        descriptors (as in scikit-learn's MLP); otherwise start afresh. Used when a model is
        retrained on a growing set of labels (active learning).
    verbose : int
        0: silent; 1 or more: a progress bar (tqdm, on stderr) over the members as they finish
        training. Not saved.

    Attributes
    ----------
    coefs_ : list of list of ndarray
        Weights and biases (W1, b1, W2, b2, ...) of each member.
    feature_mean_, feature_scale_ : ndarray, shape (n_features,)
        Standardisation of the per-atom descriptors.
    descriptor_settings_ : DescriptorSettings
        Settings the model was trained with.
    heads_ : list of (ndarray or None)
        Electrode coupling (θ_κ, θ_q) of each member (None without ``electrode_coupling``).
    n_iter_ : list of int
        L-BFGS iterations used by each member.
    loss_ : list of float
        Final training loss of each member.
    """

    def __init__(
        self,
        *,
        descriptor_settings: DescriptorSettings | None = None,
        hidden_layer_sizes: tuple[int, ...] = (32, 32),
        n_estimators: int = 8,
        alpha: float = 1e-2,
        softmin_temperature: float = 0.1,
        max_iter: int = 200,
        tol: float = 1e-9,
        bootstrap: bool = True,
        electrode_coupling: bool = False,
        random_state: int | np.random.Generator | None = None,
        n_jobs: int | None = None,
        warm_start: bool = False,
        loss: str = "squared",
        verbose: int = 0,
    ):
        self.descriptor_settings = descriptor_settings
        self.hidden_layer_sizes = hidden_layer_sizes
        self.n_estimators = n_estimators
        self.alpha = alpha
        self.softmin_temperature = softmin_temperature
        self.max_iter = max_iter
        self.tol = tol
        self.bootstrap = bootstrap
        self.electrode_coupling = electrode_coupling
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.warm_start = warm_start
        self.loss = loss
        self.verbose = verbose

    # ------------------------------------------------------------------- configuration
    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None = None) -> ConductanceSurrogate:
        """An estimator from a mapping of its parameters by name, as in a YAML file.

        ``descriptor_settings`` may be a mapping of :class:`DescriptorSettings` fields;
        ``hidden_layer_sizes`` a list. Values are checked when the model is fitted.

        Raises
        ------
        InputError
            If a name is not a parameter (the message lists the allowed ones) or the
            descriptor settings are malformed.

        Examples
        --------
        >>> m = ConductanceSurrogate.from_params({"n_estimators": 4,
        ...                                       "descriptor_settings": {"n_max": 8}})
        >>> m.n_estimators, m.descriptor_settings.n_max
        (4, 8)
        """
        params = dict(params or {})
        reject_unknown(params, cls._get_param_names(), "ConductanceSurrogate parameter(s)")
        settings = params.get("descriptor_settings")
        if isinstance(settings, Mapping):
            fields, owner = DescriptorSettings.__dataclass_fields__, "ConductanceSurrogate"
            reject_unknown(settings, fields, "descriptor_settings field(s)", of=owner)
            params["descriptor_settings"] = DescriptorSettings.from_dict(settings)
        if isinstance(params.get("hidden_layer_sizes"), list):
            params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        return cls(**params)

    @classmethod
    def from_preset(cls, name: str, **params: Any) -> ConductanceSurrogate:
        """An estimator with the settings of a named preset (:data:`SURROGATE_PRESETS`).

        Keyword arguments override the preset's parameters (e.g. ``random_state``, ``n_jobs``).

        Raises
        ------
        InputError
            If there is no preset ``name`` (the message lists them).

        Examples
        --------
        >>> m = ConductanceSurrogate.from_preset("spd-headline", random_state=0)
        >>> m.n_estimators, m.bootstrap, m.electrode_coupling, m.descriptor_settings.sigma
        (16, False, True, 0.3)
        """
        if name not in SURROGATE_PRESETS:
            raise InputError(
                f"Unknown ConductanceSurrogate preset {name!r}; presets: "
                f"{', '.join(sorted(SURROGATE_PRESETS))}."
            )
        return cls.from_params({**SURROGATE_PRESETS[name]["params"], **params})

    def non_default_params(self) -> dict[str, Any]:
        """The parameters that differ from the constructor's defaults, as plain data.

        Sorted by name; ``descriptor_settings`` (when set) as the dict of all its fields,
        ``hidden_layer_sizes`` as a list, so the result is JSON-able (unless ``random_state``
        is a Generator) and :meth:`from_params` rebuilds an equal estimator from it.

        Examples
        --------
        >>> m = ConductanceSurrogate.from_preset("spd-headline", random_state=0)
        >>> sorted(m.non_default_params())
        ['bootstrap', 'descriptor_settings', 'electrode_coupling', 'n_estimators', 'random_state']
        >>> m2 = ConductanceSurrogate.from_params(m.non_default_params())
        >>> m2.get_params() == m.get_params()
        True
        """
        defaults = type(self)().get_params(deep=False)
        out: dict[str, Any] = {}
        for key, value in sorted(self.get_params(deep=False).items()):
            default = defaults[key]
            if isinstance(value, tuple | list):
                value = list(value)
                default = list(default) if isinstance(default, tuple | list) else default
            if value is default or value == default:
                continue
            out[key] = value.to_dict() if isinstance(value, DescriptorSettings) else value
        return out

    # ----------------------------------------------------------------------- fit / predict
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # X is a list of ase.Atoms or LocalDescriptors
        return tags

    def _check_params(self) -> tuple[int, ...]:
        _check_settings(self.descriptor_settings, "ConductanceSurrogate")
        hidden = self.hidden_layer_sizes
        ok = isinstance(hidden, (tuple, list)) and all(_is_int(h) and h > 0 for h in hidden)
        _check_param("hidden_layer_sizes", hidden, ok, "a tuple of positive integers")
        for name in ("n_estimators", "max_iter"):
            value = getattr(self, name)
            _check_param(name, value, _is_int(value) and value >= 1, "an integer >= 1")
        _check_param("alpha", self.alpha, self.alpha == 0 or _is_pos(self.alpha), "a number >= 0")
        for name in ("bootstrap", "electrode_coupling", "warm_start"):
            value = getattr(self, name)
            _check_param(name, value, isinstance(value, (bool, np.bool_)), "True or False")
        _check_param("loss", self.loss, self.loss in ("squared", "absolute"),
                     "'squared' or 'absolute'")  # fmt: skip
        for name in ("softmin_temperature", "tol"):
            value = getattr(self, name)
            _check_param(name, value, _is_pos(value), "a positive number")
        verbose = self.verbose
        _check_param("verbose", verbose, _is_int(verbose) and verbose >= 0, "an integer >= 0")
        jobs = self.n_jobs
        _check_param(
            "n_jobs",
            jobs,
            jobs is None or (_is_int(jobs) and jobs != 0),
            "None or a nonzero integer",
        )
        return tuple(int(h) for h in hidden)

    def fit(self, X, y, sample_weight=None) -> ConductanceSurrogate:
        """Train the ensemble on structures ``X`` with conductances ``y`` (G/G0).

        Parameters
        ----------
        X : list of ase.Atoms or list of LocalDescriptors
            Training junctions.
        y : array-like, shape (n_structures,)
            Reference conductances, G0.
        sample_weight : array-like, shape (n_structures,), optional
            Weight of each structure in the loss (finite, >= 0, not all 0);
            default equal weights. With ``bootstrap``, multiplied by the resample counts.

        Returns
        -------
        self
        """
        hidden = self._check_params()
        descs = _as_descriptors(X, self.descriptor_settings, "ConductanceSurrogate.fit")
        y = _check_targets(y, len(descs), "ConductanceSurrogate.fit")
        given = _check_weights(sample_weight, len(descs), "ConductanceSurrogate.fit")
        warm = self._warm_members(hidden, descs[0])
        if warm is None:
            features = np.concatenate([d.features for d in descs])
            self.feature_mean_ = features.mean(axis=0)
            scale = features.std(axis=0)
            self.feature_scale_ = np.where(scale > 1e-8 * max(scale.max(), 1e-300), scale, 1.0)
        self.descriptor_settings_ = descs[0].settings
        batch = _slabnet.make_batch(
            descs, self.feature_mean_, self.feature_scale_, ends=self.electrode_coupling
        )
        rng = np.random.default_rng(self.random_state)
        out_bias = self._initial_bias(batch, y)
        starts, n = [], len(y)
        for _ in range(self.n_estimators):
            weight = (
                np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
                if self.bootstrap and n > 1
                else np.ones(n)
            ) * given
            if not weight.sum() > 0:  # a resample of zero-weight structures only
                weight = given.copy()
            params = _slabnet.init_params(batch.x.shape[1], hidden, rng, out_bias)
            head = _INITIAL_HEAD.copy() if self.electrode_coupling else None
            if warm is not None:
                params, head = warm[len(starts)]
            starts.append((params, head, weight))
        options = {
            "hidden": hidden,
            "temperature": self.softmin_temperature,
            "alpha": float(self.alpha),
            "max_iter": self.max_iter,
            "tol": self.tol,
            "loss": self.loss,
        }
        trained = _train_members(starts, batch, y, options, self.n_jobs, self.verbose)
        fitted = zip(*trained, strict=True)
        self.coefs_, self.heads_, self.n_iter_, self.loss_ = map(list, fitted)
        return self

    def _warm_members(self, hidden: tuple[int, ...], desc: LocalDescriptors) -> list | None:
        """(weights, head) copies of the fitted members to start from, or None (cold start)."""
        if not self.warm_start or not hasattr(self, "coefs_"):
            return None
        shapes = [
            w.shape
            for w in _slabnet.init_params(
                desc.features.shape[1], hidden, np.random.default_rng(0), 0.0
            )
        ]
        same = (
            len(self.coefs_) == self.n_estimators
            and desc.settings == self.descriptor_settings_
            and [w.shape for w in self.coefs_[0]] == shapes
            and all((h is not None) == bool(self.electrode_coupling) for h in self.heads_)
        )
        if not same:
            return None
        return [
            ([w.copy() for w in member], None if head is None else head.copy())
            for member, head in zip(self.coefs_, self.heads_, strict=True)
        ]

    @staticmethod
    def _initial_bias(batch, y: np.ndarray) -> float:
        """Output bias that makes the initial slab sums about the mean conductance."""
        per_slab = float(np.median(np.asarray(batch.slabs.sum(axis=1)).ravel()))
        target = max(float(np.mean(y)), 0.05) / max(per_slab, 1.0)
        return float(np.log(np.expm1(target)))

    def predict(self, X, return_std: bool = False):
        """Predicted conductance G/G0 (ensemble mean), and optionally its spread.

        Parameters
        ----------
        X : list of ase.Atoms or list of LocalDescriptors
            Junctions (any size; descriptors must use the training settings).
        return_std : bool
            Also return the standard deviation over the ensemble members, G0.

        Returns
        -------
        mean : ndarray, shape (n_structures,)
        std : ndarray, shape (n_structures,)
            Only if ``return_std``.
        """
        check_is_fitted(self, "coefs_")
        descs = _as_descriptors(X, self.descriptor_settings_, "ConductanceSurrogate.predict")
        preds = self.predict_members(descs)
        mean = preds.mean(axis=0)
        return (mean, preds.std(axis=0)) if return_std else mean

    def predict_members(self, X) -> np.ndarray:
        """Predictions of every ensemble member, shape (n_estimators, n_structures), G0."""
        check_is_fitted(self, "coefs_")
        descs = _as_descriptors(X, self.descriptor_settings_, "ConductanceSurrogate.predict")
        coupled = self.heads_[0] is not None
        batch = _slabnet.make_batch(descs, self.feature_mean_, self.feature_scale_, ends=coupled)
        return _slabnet.forward_ensemble(self.coefs_, batch, self.softmin_temperature, self.heads_)

    # ----------------------------------------------------------------------- save / load
    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted model to ``path`` (``.npz``, format version 2; see the module).

        Returns
        -------
        pathlib.Path
            The file written (``.npz`` is appended if missing).
        """
        check_is_fitted(self, "coefs_")
        params = self.get_params(deep=False)
        params.pop("n_jobs")  # how to train, not part of the model
        params.pop("verbose")
        params["descriptor_settings"] = self.descriptor_settings_.to_dict()
        params["hidden_layer_sizes"] = list(self.hidden_layer_sizes)
        if not (params["random_state"] is None or _is_int(params["random_state"])):
            params["random_state"] = None
        meta = {
            "params": params,
            "descriptor_settings": self.descriptor_settings_.to_dict(),
            "n_members": len(self.coefs_),
            "n_layers": len(self.coefs_[0]) // 2,
            "n_iter": self.n_iter_,
            "loss": self.loss_,
        }
        arrays = {"feature_mean": self.feature_mean_, "feature_scale": self.feature_scale_}
        for k, member in enumerate(self.coefs_):
            for j in range(len(member) // 2):
                arrays[f"m{k}_w{j}"] = member[2 * j]
                arrays[f"m{k}_b{j}"] = member[2 * j + 1]
            if self.heads_[k] is not None:
                arrays[f"m{k}_head"] = self.heads_[k]
        return write_model_file(
            path, model_type=_FORMAT, format_version=FORMAT_VERSION, metadata=meta, arrays=arrays
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> ConductanceSurrogate:
        """Read a model written by :meth:`save`.

        Raises
        ------
        DataFileError
            If the file is missing or is not a saved surrogate.
        IncompatibleVersionError
            If the file has a format version this vlab cannot read (not 1 or 2).
        """
        meta, arrays = read_model_file(
            path,
            model_type=_FORMAT,
            versions=_READABLE_VERSIONS,
            saver="ConductanceSurrogate.save",
            name="ConductanceSurrogate",
        )
        params = dict(meta["params"])
        params["descriptor_settings"] = DescriptorSettings.from_dict(meta["descriptor_settings"])
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        model = cls(**params)
        model.descriptor_settings_ = params["descriptor_settings"]
        model.feature_mean_ = arrays["feature_mean"]
        model.feature_scale_ = arrays["feature_scale"]
        model.coefs_ = [
            [arrays[f"m{k}_{kind}{j}"] for j in range(meta["n_layers"]) for kind in ("w", "b")]
            for k in range(meta["n_members"])
        ]
        model.heads_ = [arrays.get(f"m{k}_head") for k in range(meta["n_members"])]
        model.n_iter_ = list(meta["n_iter"])
        model.loss_ = list(meta["loss"])
        return model


_FORKED: dict = {}  # what forked training processes inherit (set only while they run)


def _train_member(k: int):
    params, head, weight = _FORKED["starts"][k]
    return _slabnet.train(
        params, _FORKED["batch"], _FORKED["y"], weight, head=head, **_FORKED["options"]
    )


def _train_members(
    starts: list, batch, y: np.ndarray, options: dict, n_jobs: int | None, verbose: int = 0
) -> list:
    """(params, head, n_iter, loss) of each member trained from ``starts``, in order; with
    ``verbose``, a progress bar over the members as they finish."""
    from vlab._utils import progress_bar as tqdm

    processes = min(joblib.effective_n_jobs(n_jobs), len(starts))  # scikit-learn's convention
    can_fork = "fork" in multiprocessing.get_all_start_methods()
    bar = tqdm(total=len(starts), desc="training members", unit="member", disable=not verbose)
    with bar:
        if processes <= 1 or not can_fork or multiprocessing.current_process().daemon:
            out = []
            for p, h, w in starts:
                out.append(_slabnet.train(p, batch, y, w, head=h, **options))
                bar.update()
            return out
        _FORKED.update(starts=starts, batch=batch, y=y, options=options)
        try:
            with multiprocessing.get_context("fork").Pool(processes) as pool:
                out = []
                for member in pool.imap(_train_member, range(len(starts)), chunksize=1):
                    out.append(member)  # in order
                    bar.update()
                return out
        finally:
            _FORKED.clear()
