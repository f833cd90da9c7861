"""Does a physics term at the constriction sharpen the fast model's single-atom plateau?

Run from the repository root (about 6 min on 2 cores)::

    python benchmarks/neck_physics.py   # -> results/neck_physics.json

The point predictions of both shipped models put the histogram peak 0.06-0.11 G0 below the
reference's (docs/conductance.md, "Why the point predictions peak low"). This asks
whether the missing information is electronic structure at the neck that a cheap calculation
could supply, measured on validation traces only (the blind traces are not read).

Protocol
--------
* Training set and validation traces of the shipped models (``train_headline``: 6,295 cells
  of 112-160 atoms; traces 18-23 of ``au-spd-2x2`` and ``au-spd-2x2-more``, 1,555 snapshots).
* The plane of the constriction: ``neck_plane`` with the shipped fast model's settings (the
  cut its features describe: across the device, planes every 0.1 Å; the one crossed by the
  smallest summed link strength exp(-2 (d - 2.88 Å))).
* Neck transmission: the atoms within ``L`` of that plane form a cluster; those within
  ``FACE`` of either face are coupled to a wide-band electrode (self-energy -iγ/2 on each of
  their orbitals), and T(E) = γ² Σ |G_ij|² over orbitals i on the left face and j on the
  right, G = ((E + iη) S - H - Σ)^-1. Two tight-binding levels: s-band
  (``SBandTightBinding.hamiltonian``, E_F = 0; ``SBAND``: L, γ) and spd
  (``ExtendedHuckel.matrices``, energies relative to the electrode Fermi energy of the first
  validation cell; ``SPD``), each at E_F and E_F ± δ (0.5 eV s-band, 0.3 eV spd).
* Models: the shipped ``spd-bottleneck`` recipe (its features and its tree settings, 4 bagged
  members, absolute loss) on its own features, with the neck transmissions added, and on the
  transmissions alone. Reported per model: validation R², MAE, MAE on the 0.8-1.2 G0 plateau,
  the correlation of prediction and reference on 0.5-1.5 G0 (how well a model orders the
  contacts of one or two atoms), histogram peaks (all, 4 K, 300 K) against the reference's.
* ``conditional_reference``: for the shipped recipe, quantiles of the reference among the
  validation snapshots whose prediction falls in each 0.05 G0 bin near 1 G0.
* ``other_kind_280_atoms``: the same models on the 600 spd-labelled 280-atom junctions of the
  virtual experiment (``vlab-results/au-spd-experiment-spd.zarr``; skipped when absent).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import plateau_mae, write_result  # noqa: I001  (pins BLAS threads first)
from train_headline import training_structures, validation_structures

import numpy as np

from vlab import catalog
from vlab.conductance.bottleneck import LOSSES
from vlab.conductance import (
    BottleneckSettings,
    ExtendedHuckel,
    SBandTightBinding,
    bottleneck_features,
    neck_plane,
    shipped_model_info,
)
from vlab.workflows.conductance import labelled_structures, labelled_temperatures
from vlab.workflows.learning import validation_metrics

ROOT = Path(__file__).resolve().parent.parent
OTHER_KIND = ROOT / "vlab-results" / "au-spd-experiment-spd.zarr"
SBAND = ((5.0, 0.5), (5.0, 1.0), (7.0, 1.0), (7.0, 2.0))  # (L in Å, γ in eV)
SPD = ((4.5, 5.0), (6.0, 10.0))
SBAND_DELTA, SPD_DELTA = 0.5, 0.3  # eV
FACE = 2.2  # Å: one [001] layer and a little
ETA = 1e-6


def _wide_band_t(h, s, faces, gamma: float, energies) -> list[float]:
    """Transmission between the two faces of a cluster with wide-band electrodes."""
    left, right = faces
    sigma = -0.5j * gamma * (left | right)
    cols = np.eye(len(h))[:, right]
    out = []
    for e in energies:
        g = np.linalg.solve((e + 1j * ETA) * s - h - np.diag(sigma), cols)
        out.append(float(gamma**2 * np.sum(np.abs(g[left]) ** 2)))
    return out


def _faces(dz: np.ndarray, length: float, per_atom: int):
    return np.repeat(dz < -(length - FACE), per_atom), np.repeat(dz > length - FACE, per_atom)


def neck_transmissions(atoms, e_fermi: float, settings) -> np.ndarray:
    """The s-band then the spd neck transmissions of one structure (``SBAND``, ``SPD``)."""
    z0 = neck_plane(atoms, settings)
    z = atoms.positions[:, 2]
    row = []
    tb = SBandTightBinding()
    for length, gamma in SBAND:
        sel = np.abs(z - z0) < length
        h = tb.hamiltonian(atoms.positions[sel])
        faces = _faces(z[sel] - z0, length, 1)
        row += _wide_band_t(h, np.eye(len(h)), faces, gamma, (0.0, -SBAND_DELTA, SBAND_DELTA))
    widest = max(length for length, _ in SPD)
    sel = np.flatnonzero(np.abs(z - z0) < widest)
    h_all, s_all = ExtendedHuckel().matrices(atoms[sel])
    for length, gamma in SPD:
        inner = np.abs(z[sel] - z0) < length
        orbitals = np.repeat(inner, 9)
        h, s = h_all[np.ix_(orbitals, orbitals)], s_all[np.ix_(orbitals, orbitals)]
        faces = _faces(z[sel][inner] - z0, length, 9)
        energies = e_fermi + np.array([0.0, -SPD_DELTA, SPD_DELTA])
        row += _wide_band_t(h, s, faces, gamma, energies)
    return np.array(row)


def bagged_trees(x, y, params: dict):
    """The shipped fast model's recipe on any feature matrix: members on bootstrap resamples."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(params["random_state"])
    members = []
    for k in range(params["n_estimators"]):
        rows = rng.integers(0, len(y), len(y))
        member = HistGradientBoostingRegressor(
            max_iter=params["max_iter"],
            learning_rate=params["learning_rate"],
            loss=LOSSES[params["loss"]],
            max_leaf_nodes=params["max_leaf_nodes"],
            min_samples_leaf=params["min_samples_leaf"],
            early_stopping=False,
            random_state=k,
        )
        members.append(member.fit(x[rows], y[rows]))
    return lambda x_new: np.maximum(np.mean([m.predict(x_new) for m in members], axis=0), 0.0)


def scores(y, pred, temperature) -> dict:
    near = (y > 0.5) & (y < 1.5)
    return validation_metrics(y, pred, temperature) | {
        "mae_0_8_1_2G0": plateau_mae(y, pred),
        "correlation_0_5_1_5G0": round(float(np.corrcoef(pred[near], y[near])[0, 1]), 4),
    }


def conditional_reference(y, pred) -> dict:
    out = {}
    for low in (0.8, 0.85, 0.9, 0.95, 1.0):
        rows = (pred >= low) & (pred < low + 0.05)
        if rows.sum() >= 10:
            q = np.percentile(y[rows], [10, 25, 50, 75, 90]).round(3).tolist()
            out[f"{low:.2f}-{low + 0.05:.2f}"] = {"n": int(rows.sum()), "q10_25_50_75_90": q}
    return out


def main() -> dict:
    info = shipped_model_info("spd-bottleneck")
    params, settings = info["params"], BottleneckSettings.from_dict(info["settings"])
    cells, y, _ = training_structures()
    val_cells, y_val, t_val, _ = validation_structures()
    e_fermi = ExtendedHuckel().electrode_fermi_energy(val_cells[0])
    start = time.perf_counter()
    physics_val = np.array([neck_transmissions(a, e_fermi, settings) for a in val_cells])
    physics_s = (time.perf_counter() - start) / len(val_cells)
    print(f"neck transmissions: {physics_s * 1e3:.1f} ms per cell", flush=True)
    physics = np.array([neck_transmissions(a, e_fermi, settings) for a in cells])
    base, base_val = bottleneck_features(cells, settings), bottleneck_features(val_cells, settings)
    n_sband = 3 * len(SBAND)
    columns = {
        "shipped features": (base, base_val),
        "shipped + s-band neck T": (np.hstack([base, physics[:, :n_sband]]),
                                    np.hstack([base_val, physics_val[:, :n_sband]])),
        "shipped + spd neck T": (np.hstack([base, physics[:, n_sband:]]),
                                 np.hstack([base_val, physics_val[:, n_sband:]])),
        "shipped + both": (np.hstack([base, physics]), np.hstack([base_val, physics_val])),
        "s-band neck T alone": (physics[:, :n_sband], physics_val[:, :n_sband]),
        "spd neck T alone": (physics[:, n_sband:], physics_val[:, n_sband:]),
    }  # fmt: skip
    other = None
    if catalog.store_exists(OTHER_KIND):
        other_cells, y_other, _, _ = labelled_structures(OTHER_KIND)
        t_other = labelled_temperatures(OTHER_KIND)
        other_x = bottleneck_features(other_cells, settings)
        other_physics = np.array([neck_transmissions(a, e_fermi, settings) for a in other_cells])
        other = {}
    validation, shipped_pred = {}, None
    for name, (x, x_val) in columns.items():
        model = bagged_trees(x, y, params)
        pred = model(x_val)
        shipped_pred = pred if shipped_pred is None else shipped_pred
        validation[name] = scores(y_val, pred, t_val)
        v = validation[name]
        print(f"  {name}: R² {v['r2']:.4f}, plateau MAE {v['mae_0_8_1_2G0']:.3f}, "
              f"peak {v['peak_surrogate_G0']}", flush=True)  # fmt: skip
        if other is not None:
            x_other = {
                "shipped features": other_x,
                "shipped + s-band neck T": np.hstack([other_x, other_physics[:, :n_sband]]),
                "shipped + spd neck T": np.hstack([other_x, other_physics[:, n_sband:]]),
                "shipped + both": np.hstack([other_x, other_physics]),
                "s-band neck T alone": other_physics[:, :n_sband],
                "spd neck T alone": other_physics[:, n_sband:],
            }[name]
            other[name] = validation_metrics(y_other, model(x_other), t_other)
    raw = {
        f"{level} neck T, L {length:g} Å, gamma {gamma:g} eV": round(
            float(np.corrcoef(physics_val[:, col], y_val)[0, 1]), 4
        )
        for level, configs, first in (("s-band", SBAND, 0), ("spd", SPD, n_sband))
        for k, (length, gamma) in enumerate(configs)
        for col in [first + 3 * k]
    }
    near = (y_val > 0.5) & (y_val < 1.5)
    raw_near = {
        key: round(float(np.corrcoef(physics_val[near, 3 * k], y_val[near])[0, 1]), 4)
        for k, key in enumerate(raw)
    }
    best = max(validation, key=lambda k: validation[k]["r2"])
    return {
        "validation": validation,
        "best_validation_r2_model": best,
        "r2_shipped_features": validation["shipped features"]["r2"],
        "r2_best": validation[best]["r2"],
        "peak_shipped_features_G0": validation["shipped features"]["peak_surrogate_G0"],
        "peak_best_r2_model_G0": validation[best]["peak_surrogate_G0"],
        "peak_reference_G0": validation[best]["peak_reference_G0"],
        "correlation_with_reference": raw,
        "correlation_with_reference_0_5_1_5G0": raw_near,
        "conditional_reference": conditional_reference(y_val, shipped_pred),
        "other_kind_280_atoms": other,
        "neck_transmission_s_per_cell": round(physics_s, 5),
        "electrode_fermi_energy_eV": round(e_fermi, 4),
        "settings": {"sband": SBAND, "spd": SPD, "face_A": FACE, "tree_params": params},
        "n_train": len(y),
        "n_validation": len(y_val),
    }


if __name__ == "__main__":
    result = main()
    v = result["validation"]
    rows = [
        (name, f"R² {s['r2']:.4f}, plateau MAE {s['mae_0_8_1_2G0']:.3f} G0, order on 0.5-1.5 G0 "
         f"{s['correlation_0_5_1_5G0']:.2f}, peak {s['peak_surrogate_G0']} G0")
        for name, s in v.items()
    ] + [
        ("reference peak", f"{result['peak_reference_G0']} G0"),
        ("neck transmissions", f"{result['neck_transmission_s_per_cell'] * 1e3:.1f} ms per cell"),
    ]  # fmt: skip
    write_result("neck_physics", result, rows)
