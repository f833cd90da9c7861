"""The built-in model of *measured* thermal conductivity, with calibrated intervals.

:func:`build_measured_tc` pretrains the ``md`` network on the MD thermal conductivity of all
of PI1070 (a simulation; the target is the measurement), fits the variant that the
selection of :func:`~vlab.polymers.transfer.nested_compare` chooses on the embedded measured
table (:func:`~vlab.polymers.load_experimental_tc`), with the morphology flag as an input,
and measures what it is worth on data it did not train on:

* the *procedure* (choose among :data:`MEASURED_PROCEDURE` on 5 inner folds, then fit) is
  evaluated by nested leave-one-out, next to the mean predictor on the same folds;
* its predictive standard deviation is calibrated by conformal multipliers for 68 % and
  95 % intervals (:class:`~vlab.polymers.uncertainty.IntervalCalibrator`), fitted on
  out-of-fold predictions of a split by chemical family (Butina clusters of the measured
  polymers, whole clusters held out), where errors are larger than on random folds;
* the deployed variant is the one the inner folds chose most often over the nested
  leave-one-out (as ``sim2real_most_chosen`` of the benchmark), fitted on all the rows.

The candidates are the variants of ``benchmarks/sim2real.py`` that need at most the ``md``
network (the slow fine-tuning and the multi-task networks, which need the Tg and Cp sets, are
left out); network, descriptor columns (finite and varying over PI1070) and seeds are those
of the benchmark.

The model ships with vlab, measured ahead (:data:`SHIPPED_FILE`, written by
:func:`ship_measured_tc`: the choice, the measured errors, the calibration and the network in
one ``.npz`` file, no pickle), so the first prediction on a new machine takes seconds. It is
used while its *settings key* matches: the measured table, the candidates and their settings,
the network, the PI1070 file's checksum and RDKit's descriptor list. Otherwise (or with
``shipped=False``) the model is measured here (several minutes) and stored in
:func:`~vlab.polymers.model_cache_dir` as a file of the same format, reused while the settings
key and the vlab and scikit-learn versions are unchanged; such a record is preferred to the
shipped one, and a damaged one is passed over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vlab.errors import DataFileError, InputError
from vlab.polymers import _mlp
from vlab.polymers.smiles import repeat_units
from vlab.polymers.transfer.features import descriptor_fill, featurize, signed_log1p
from vlab.polymers.transfer.pretrain import PretrainedNet, PretrainOptions, pretrain
from vlab.polymers.transfer.sim2real import MORPHOLOGIES, Sim2RealRegressor, morphology_flags
from vlab.polymers.transfer.sim2real_eval import (
    INNER_REPEATS,
    SCRATCH_VARIANTS,
    SIM2REAL_VARIANTS,
    nested_compare,
    outer_splits,
)

__all__ = [
    "MEASURED_PROCEDURE",
    "SHIPPED_FILE",
    "MeasuredFit",
    "MeasuredTCModel",
    "build_measured_tc",
    "calibration_similarity",
    "measured_settings_key",
    "ship_measured_tc",
]

#: Candidates of the deployed selection: the mean, the learners without a network and the
#: ``md`` network (pretrained on PI1070 MD λ) used as is, corrected by ridge, or as features.
MEASURED_PROCEDURE = (
    "mean", *SCRATCH_VARIANTS, "md_as_is", "md_correction", "md_frozen"
)  # fmt: skip
#: The ``md`` network of ``benchmarks/sim2real.py``.
MD_NET = PretrainOptions(hidden=(256, 64), n_members=2, epochs=150, patience=25)
_BUTINA_CUTOFF = 0.7  # as benchmarks/sim2real.py
_N_FAMILY_FOLDS = 5
#: The built-in model as measured for this release (see :func:`ship_measured_tc`).
SHIPPED_FILE = Path(__file__).resolve().parents[1] / "shipped" / "measured-tc.npz"
_FILE_TYPE, _FILE_VERSION = "measured-tc", 1


@dataclass(frozen=True, kw_only=True)
class MeasuredFit:
    """What :func:`build_measured_tc` measured and chose (JSON in the model cache).

    Attributes
    ----------
    columns : list of int
        Descriptor columns of :func:`~vlab.polymers.transfer.featurize` used.
    variant : str
        Variant chosen most often by the inner folds of the nested leave-one-out.
    n : int
        Measured polymers.
    nested_mae, nested_mae_mean : float
        Nested leave-one-out MAE of the procedure and of the mean predictor (W/(m K)).
    chosen : dict of str to int
        How often each variant was chosen over the leave-one-out folds.
    scale : float
        Factor ``a`` of the calibrated standard deviation ``a σ``.
    z68, z95 : float
        Conformal multipliers: the intervals are ``mean ± z a σ``.
    family_mae : float
        MAE of the out-of-fold predictions on the family split (W/(m K)).
    n_families : int
        Butina clusters of the measured polymers.
    """

    columns: list[int]
    variant: str
    n: int
    nested_mae: float
    nested_mae_mean: float
    chosen: dict[str, int]
    scale: float
    z68: float
    z95: float
    family_mae: float
    n_families: int


class MeasuredTCModel:
    """Thermal conductivity of repeat units from the measured table, with intervals.

    Use :func:`build_measured_tc`; ``predict`` takes repeat-unit SMILES.

    Parameters
    ----------
    fit : MeasuredFit
        Columns, chosen learner and calibration.
    regressor : Sim2RealRegressor
        Fitted on all measured rows (descriptors + morphology flag).
    morphology : str
        Sample morphology assumed for new polymers (one of :data:`MORPHOLOGIES`).
    origin : str, optional
        Where the record and the network come from: the shipped file (with the versions it
        was measured with), the model cache, or measured by this call.
    fill : array_like, optional
        Values of non-finite descriptors: those of the training rows
        (:func:`~vlab.polymers.transfer.features.descriptor_fill`), so that a unit's
        prediction does not depend on the other units predicted with it.
    """

    def __init__(
        self,
        fit: MeasuredFit,
        regressor: Sim2RealRegressor,
        morphology: str,
        origin: str = "",
        fill=None,
    ):
        self.fit = fit
        self.regressor = regressor
        self.morphology = morphology
        self.origin = origin
        self.fill = fill

    def design(self, smiles: Sequence[str]) -> np.ndarray:
        """Input rows ``[signed_log1p(descriptors) | morphology flag]`` of the repeat units,
        each normalised first (``*CC*`` is ``*C*``: one polymer, one prediction)."""
        F = featurize(list(smiles), fill=self.fill)[:, self.fit.columns]
        flags = morphology_flags([self.morphology] * len(F))
        return np.hstack([signed_log1p(F), flags])

    def predict(self, smiles: Sequence[str], return_std: bool = False):
        """Predicted λ (W/(m K)); with ``return_std`` also the *calibrated* σ (``a σ``).

        ``smiles`` is a list of repeat units; an invalid one raises
        :class:`~vlab.errors.InvalidSMILESError` naming it. A repeat unit whose descriptors
        are not all finite gets NaN.
        """
        A = self.design(repeat_units(smiles, "MeasuredTCModel.predict"))
        ok = np.isfinite(A).all(axis=1)
        mean, std = np.full(len(A), np.nan), np.full(len(A), np.nan)
        if ok.any():
            m, s = self.regressor.predict(A[ok], return_std=True)
            mean[ok], std[ok] = m, self.fit.scale * s
        return (mean, std) if return_std else mean

    def interval(self, smiles: Sequence[str], *, level: float = 0.68):
        """Lower and upper ends of the conformal ``level`` (0.68 or 0.95) interval."""
        z = {0.68: self.fit.z68, 0.95: self.fit.z95}.get(level)
        if z is None:
            raise InputError(f"The 'level' must be 0.68 or 0.95. Got {level!r}.")
        mean, std = self.predict(smiles, return_std=True)
        return mean - z * std, mean + z * std


def _pretrain_md(progress) -> tuple[list[int], PretrainedNet]:
    """Descriptor columns finite and varying over PI1070, and the ``md`` network on them."""
    from vlab.polymers.datasets import load_pi1070

    if progress:
        progress("PI1070 descriptors")
    pi = load_pi1070()
    F = featurize(pi.smiles, normalized=True)
    keep = np.isfinite(F).all(axis=0) & (np.nanstd(F, axis=0) > 0)
    X, lam = signed_log1p(F[:, keep]), np.asarray(pi.column("thermal_conductivity"), float)
    ok = np.isfinite(X).all(axis=1) & np.isfinite(lam)
    if progress:
        progress(f"pretraining the MD-λ network on {int(ok.sum())} PI1070 polymers")
    net = pretrain(X[ok], lam[ok, None], options=MD_NET, rng=np.random.default_rng(0))
    return np.flatnonzero(keep).tolist(), net


def _net_arrays(net: PretrainedNet) -> dict[str, np.ndarray]:
    arrays = {"log_tasks": np.asarray(net.log_tasks, dtype=bool)}
    for i, m in enumerate(net.members):
        for j, (w, b) in enumerate(zip(m.coefs, m.intercepts, strict=True)):
            arrays[f"m{i}_w{j}"], arrays[f"m{i}_b{j}"] = w, b
        for name in ("x_mean", "x_scale", "y_mean", "y_scale"):
            arrays[f"m{i}_{name}"] = getattr(m, name)
    return arrays


def _net_from_arrays(z) -> PretrainedNet:
    files = list(z)
    members = []
    for i in range(sum(k.endswith("_x_mean") for k in files)):
        n = sum(k.startswith(f"m{i}_w") for k in files)
        members.append(
            _mlp.MLPWeights(
                coefs=tuple(np.asarray(z[f"m{i}_w{j}"]) for j in range(n)),
                intercepts=tuple(np.asarray(z[f"m{i}_b{j}"]) for j in range(n)),
                **{
                    k: np.asarray(z[f"m{i}_{k}"])
                    for k in ("x_mean", "x_scale", "y_mean", "y_scale")
                },
            )
        )
    return PretrainedNet(
        members=tuple(members), log_tasks=tuple(np.asarray(z["log_tasks"]).tolist())
    )


def _family_folds(smiles, n):
    """Butina-cluster folds drawn as in ``benchmarks/sim2real.py`` (same seeds)."""
    from vlab.polymers.uncertainty import butina_clusters

    groups = butina_clusters(list(smiles), cutoff=_BUTINA_CUTOFF)
    rng = np.random.default_rng(1)
    outer_splits(n, kind="kfold", n_repeats=5, rng=rng)  # the benchmark draws these first
    labels = rng.permutation(np.unique(groups))
    folds = np.array_split(labels, min(_N_FAMILY_FOLDS, len(labels)))
    return [np.flatnonzero(np.isin(groups, g)) for g in folds], int(groups.max() + 1)


def calibration_similarity(smiles) -> np.ndarray:
    """For each repeat unit of the measured table ``smiles`` (rows in table order): its largest
    Tanimoto similarity to the units outside its chemical-family fold, i.e. to the data its
    out-of-fold prediction came from. These are the rows the built-in model's conformal
    intervals were calibrated on, so this is how far from their data those rows were."""
    from vlab.polymers.uncertainty import fingerprints, nearest_similarity

    folds, _ = _family_folds(list(smiles), len(smiles))
    fps = fingerprints(list(smiles))
    out = np.empty(len(fps))
    for fold in folds:
        inside = set(fold.tolist())
        rest = [f for j, f in enumerate(fps) if j not in inside]
        out[fold] = nearest_similarity(rest, [fps[i] for i in fold])
    return out


def _measure(smiles, X, y, morph, columns, nets, progress) -> MeasuredFit:
    from vlab.polymers.uncertainty import IntervalCalibrator

    n = len(y)
    say = progress or (lambda _msg: None)
    say(f"nested leave-one-out over {n} measured polymers")
    loo = nested_compare(
        X, y, morph, nets, splits=outer_splits(n), variants=MEASURED_PROCEDURE,
        rng=np.random.default_rng(2),
    )  # fmt: skip
    say("out-of-fold predictions on the family split")
    folds, n_families = _family_folds(smiles, n)
    fam = nested_compare(
        X, y, morph, nets, splits=folds, variants=MEASURED_PROCEDURE, rng=np.random.default_rng(4)
    )
    calib = IntervalCalibrator.fit(fam.y, fam.pred["best"], fam.std["best"])
    return MeasuredFit(
        columns=list(columns),
        variant=loo.most_chosen(),  # the choice of most outer folds
        n=n,
        nested_mae=loo.metrics("best")["mae"],
        nested_mae_mean=loo.metrics("mean")["mae"],
        chosen=loo.chosen_counts(),
        scale=calib.a,
        z68=calib.z[0.68],
        z95=calib.z[0.95],
        family_mae=fam.metrics("best")["mae"],
        n_families=n_families,
    )


def _table():
    """Repeat units, measured λ and morphology flags of the embedded measured table."""
    from vlab.polymers.datasets import load_experimental_tc

    table = load_experimental_tc()
    y = np.asarray(table.column("thermal_conductivity"), dtype=float)
    return list(table.smiles), y, morphology_flags(table.text["morphology"])


def _settings_key(smiles, y, morph) -> str:
    """Hash of everything a measured record depends on, versions of the libraries aside."""
    from vlab._utils import content_hash
    from vlab.polymers.datasets import SOURCES
    from vlab.polymers.features import DEFAULT_DESCRIPTORS

    return content_hash(
        "measured-tc", "most-chosen", MEASURED_PROCEDURE, INNER_REPEATS, repr(MD_NET),
        _BUTINA_CUTOFF, _N_FAMILY_FOLDS, SOURCES["radonpy_pi1070"].sha256,
        list(DEFAULT_DESCRIPTORS), smiles, y.tolist(), morph.ravel().tolist(),
    )[:20]  # fmt: skip


def measured_settings_key() -> str:
    """A key of everything the built-in model depends on (the embedded table of measured
    values, the procedure and its pretraining data), library versions aside: it changes when
    any of them does."""
    return _settings_key(*_table())


def _versions() -> dict[str, str]:
    import rdkit
    import sklearn

    from vlab import __version__

    return {
        "vlab": __version__,
        "scikit-learn": sklearn.__version__,
        "rdkit": rdkit.__version__,
        "numpy": np.__version__,
    }


def _measure_all(smiles, y, morph, progress) -> tuple[MeasuredFit, PretrainedNet]:
    columns, net = _pretrain_md(progress)
    X = signed_log1p(featurize(smiles, normalized=True)[:, columns])
    return _measure(smiles, X, y, morph, columns, {"md": net}, progress), net


def _write_record(path: Path, settings: str, fit: MeasuredFit, net: PretrainedNet) -> Path:
    """Write the record and the network to one ``.npz`` file (atomically: whole or not at all)."""
    from vlab._utils import write_model_file

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{id(fit)}.npz")
    write_model_file(
        tmp,
        model_type=_FILE_TYPE,
        format_version=_FILE_VERSION,
        metadata={"settings_key": settings, "measured_with": _versions(), "fit": asdict(fit)},
        arrays=_net_arrays(net),
        compress=True,
    )
    tmp.replace(path)
    return path


def _read_record(path: Path, settings: str) -> tuple[MeasuredFit, PretrainedNet, dict] | None:
    """Record, network and metadata of a file written by :func:`_write_record`, if it exists
    and was measured for the settings key ``settings`` (else None).

    Raises
    ------
    DataFileError
        If the file exists but cannot be read as such a record.
    """
    from vlab._utils import read_model_file

    path = Path(path)
    if not path.is_file():
        return None
    meta, arrays = read_model_file(
        path, model_type=_FILE_TYPE, versions=(_FILE_VERSION,), saver="ship_measured_tc"
    )
    if meta.get("settings_key") != settings:
        return None
    return MeasuredFit(**meta["fit"]), _net_from_arrays(arrays), meta


def _read_shipped(path: Path, key: str) -> tuple[MeasuredFit, PretrainedNet, str] | None:
    """The shipped record if its settings key is ``key`` (else None)."""
    record = _read_record(path, key)
    if record is None:
        return None
    fit, net, meta = record
    made = ", ".join(f"{k} {v}" for k, v in meta["measured_with"].items())
    return fit, net, f"shipped (measured with {made})"


def ship_measured_tc(path=None, *, progress=None) -> Path:
    """Measure the built-in model afresh and write it as the file that vlab ships.

    Pretrains the network and runs the nested selection and the calibration (as
    :func:`build_measured_tc` does on a cache miss; no cache is read), then writes the record,
    the network, the settings key and the versions measured with to one ``.npz`` file.

    Parameters
    ----------
    path : path, optional
        Where to write (default :data:`SHIPPED_FILE`, inside the package).
    progress : callable, optional
        Called with a short message before each long step.

    Returns
    -------
    Path
        The file written.
    """
    smiles, y, morph = _table()
    fit, net = _measure_all(smiles, y, morph, progress)
    return _write_record(
        Path(SHIPPED_FILE if path is None else path), _settings_key(smiles, y, morph), fit, net
    )


def build_measured_tc(
    *, morphology: str = "amorphous", cache_dir=None, shipped: bool = True, progress=None
) -> MeasuredTCModel:
    """The selected learner fitted on the whole measured table, with its measured record.

    The record and the network come from the model cache if it holds them for these
    settings and library versions, else from the shipped file (:data:`SHIPPED_FILE`) if its
    settings key matches, else they are measured here (PI1070 descriptors, the network,
    nested leave-one-out, family split: several minutes) and cached. The chosen head is then
    refitted on the measured table (seconds).

    Parameters
    ----------
    morphology : {"amorphous", "semicrystalline"}
        Morphology assumed for the polymers to predict (an input of the model).
    cache_dir : path, optional
        Folder of the cached record and network (default
        :func:`~vlab.polymers.model_cache_dir`).
    shipped : bool, default True
        False ignores the shipped file (measure, or read the cache).
    progress : callable, optional
        Called with a short message before each long step.

    Returns
    -------
    MeasuredTCModel
        Its ``origin`` says where the record came from.
    """
    from vlab._utils import content_hash
    from vlab.polymers.models import model_cache_dir

    if str(morphology).strip().lower() not in MORPHOLOGIES:
        raise InputError(
            f"The morphology must be one of {', '.join(MORPHOLOGIES)}. Got {morphology!r}."
        )
    morphology = str(morphology).strip().lower()
    smiles, y, morph = _table()
    settings = _settings_key(smiles, y, morph)
    versions = _versions()
    key = content_hash(settings, versions["vlab"], versions["scikit-learn"])[:20]
    folder = model_cache_dir() if cache_dir is None else Path(cache_dir)
    path = folder / f"measured-tc-{key}.npz"
    found = None
    try:
        record = _read_record(path, settings)
    except DataFileError:  # a damaged cache file: the shipped record, or measure and replace
        record = None
    if record is not None:
        found = (*record[:2], "read from the model cache")
    elif shipped:
        found = _read_shipped(SHIPPED_FILE, settings)
    if found is None:
        fit, net = _measure_all(smiles, y, morph, progress)
        origin = "measured by this run"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_record(path, settings, fit, net)
        except OSError:  # a read-only cache: measured again next time
            pass
    else:
        fit, net, origin = found
    fill = descriptor_fill(smiles, normalized=True)
    X = signed_log1p(featurize(smiles, normalized=True, fill=fill)[:, fit.columns])
    key_net, learner = SIM2REAL_VARIANTS[fit.variant]
    regressor = Sim2RealRegressor(
        net if key_net else None, learner=learner, n_extra=1, n_boot=8, random_state=0
    )
    regressor.fit(np.hstack([X, morph]), y)
    return MeasuredTCModel(fit, regressor, morphology, origin, fill=fill)
