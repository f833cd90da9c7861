"""Landauer transmission through a device between two semi-infinite electrodes (private).

Plain numpy/scipy linear algebra on dense matrices; no ASE and no chemistry here. The caller
passes the Hamiltonian ``h`` and overlap ``s`` (eV, dimensionless) of the *extended device*:
every orbital of the structure, ordered so that the outermost principal layer (PL) of each
electrode and its inner neighbour PL can be addressed by index arrays. The electrodes are the
periodic continuation of the outermost PLs, so their blocks are read from the device matrices:

* left:  ``h00 = h[Lo, Lo]``, the coupling to the next PL deeper into the lead is ``h[Ln, Lo]``;
* right: ``h00 = h[Ro, Ro]``, the coupling deeper into the lead is ``h[Rn, Ro]``,

where ``Lo``/``Ro`` are the outermost PLs and ``Ln``/``Rn`` their inner neighbours (the
orbitals of ``Ln`` must be listed in the same order as the translated orbitals of ``Lo``).
Only couplings between adjacent PLs are kept in the electrodes (nearest-PL approximation).
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from vlab.errors import CalculationFailed

__all__ = ["LeadBlocks", "clear_cache", "lead_fermi_energy", "surface_green", "transmission"]

_MAX_ITER = 200
_CACHE: dict[str, object] = {}
_CACHE_SIZE = 64
_CACHE_MIN_SIZE = 64**2  # blocks smaller than 64 x 64 are cheaper to recompute than to hash


@dataclass(frozen=True, kw_only=True)
class LeadBlocks:
    """Orbital indices of the outermost (``outer``) and next-inner (``inner``) PL of one lead."""

    outer: np.ndarray
    inner: np.ndarray


def surface_green(a: np.ndarray, b: np.ndarray, c: np.ndarray, *, tol: float = 1e-12) -> np.ndarray:
    """Surface block of ``M^-1`` for a semi-infinite block-tridiagonal ``M`` (Lopez Sancho).

    ``M`` has diagonal blocks ``a`` (= z S00 - H00), blocks ``b`` coupling a PL to the next
    deeper one and ``c`` coupling it back. Decimation doubles the effective chain length per
    step, so about log2(bandwidth / eta) iterations are needed.
    """
    eps_s, eps, alpha, beta = a.copy(), a.copy(), b.copy(), c.copy()
    scale = max(np.abs(a).max(), 1.0)
    for _ in range(_MAX_ITER):
        lu = _lu(eps)
        ga = scipy.linalg.lu_solve(lu, alpha)
        gb = scipy.linalg.lu_solve(lu, beta)
        agb = alpha @ gb
        eps_s = eps_s - agb
        eps = eps - agb - beta @ ga
        alpha, beta = alpha @ ga, beta @ gb
        if max(np.abs(alpha).max(), np.abs(beta).max()) < tol * scale:
            return scipy.linalg.lu_solve(_lu(eps_s), np.eye(len(a), dtype=complex))
    raise CalculationFailed(
        f"The Lopez Sancho decimation of the lead did not converge in {_MAX_ITER} iterations. "
        "Increase the broadening eta or check that the lead principal layers couple only to "
        "their nearest neighbours."
    )


def _lu(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():  # a singular matrix is reported below as CalculationFailed
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        lu = scipy.linalg.lu_factor(m, check_finite=False)
    diag = np.abs(np.diag(lu[0]))
    if not np.all(np.isfinite(lu[0])) or diag.min() <= 1e-14 * max(diag.max(), 1.0):
        raise CalculationFailed(
            "A Green's function matrix (z S - H) is singular at this energy. Use a larger "
            "broadening eta or shift the energy slightly."
        )
    return lu


def _key(*arrays: np.ndarray, extra=()) -> str:
    """Hash of arrays rounded to 1e-9 (rigidly moved leads give the same key)."""
    digest = hashlib.sha256(repr(extra).encode())
    for arr in arrays:
        digest.update(np.ascontiguousarray(np.round(arr, 9) + 0.0).tobytes())
        digest.update(repr(arr.shape).encode())
    return digest.hexdigest()


def clear_cache() -> None:
    """Forget the cached lead self-energies and Fermi energies (e.g. to time cold runs)."""
    _CACHE.clear()


def _cached(key: str, compute):
    """Per-process memo of lead quantities: snapshots of one trace share rigid electrodes."""
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = compute()
    return _CACHE[key]


def _self_energy(m: np.ndarray, lead: LeadBlocks) -> np.ndarray:
    o, n = lead.outer, lead.inner
    a = m[np.ix_(o, o)]
    deeper = m[np.ix_(n, o)]  # translated coupling: PL k -> PL k+1 deeper into the lead
    back = m[np.ix_(o, n)]
    if a.size < _CACHE_MIN_SIZE:
        return deeper @ surface_green(a, deeper, back) @ back
    key = _key(a, deeper, back, extra="sigma")
    return _cached(key, lambda: deeper @ surface_green(a, deeper, back) @ back)


def transmission(
    h: np.ndarray,
    s: np.ndarray | None,
    energies: np.ndarray,
    left: LeadBlocks,
    right: LeadBlocks,
    *,
    eta: float,
) -> np.ndarray:
    """Transmission T(E) = Tr[Γ_L G Γ_R G†] at absolute energies (eV).

    Parameters
    ----------
    h, s : ndarray
        Hamiltonian (eV) and overlap of the extended device; ``s=None`` means orthogonal.
    energies : ndarray
        Absolute energies in eV.
    left, right : LeadBlocks
        Orbital indices of the outermost and next PL of each electrode.
    eta : float
        Broadening in eV added as ``z = E + i eta``.
    """
    eye = np.eye(len(h)) if s is None else s
    out = np.empty(len(energies))
    for k, energy in enumerate(energies):
        m = (energy + 1j * eta) * eye - h
        m = m.astype(complex)
        sig_l = _self_energy(m, left)
        sig_r = _self_energy(m, right)
        out[k] = _transmission_at(m, sig_l, sig_r, left.outer, right.outer)
    return out


def _transmission_at(m, sig_l, sig_r, lo, ro) -> float:
    m = m.copy()
    m[np.ix_(lo, lo)] -= sig_l
    m[np.ix_(ro, ro)] -= sig_r
    rhs = np.zeros((len(m), len(ro)), dtype=complex)
    rhs[ro, np.arange(len(ro))] = 1.0
    g_r = scipy.linalg.lu_solve(_lu(m), rhs)  # columns of G = (zS - H - Σ)^-1 at Ro
    g_lr = g_r[lo]
    gam_l = 1j * (sig_l - sig_l.conj().T)
    gam_r = 1j * (sig_r - sig_r.conj().T)
    t = np.trace(gam_l @ g_lr @ gam_r @ g_lr.conj().T).real
    if not np.isfinite(t):
        raise CalculationFailed(f"The transmission is not finite (got {t}).")
    return float(t)


def lead_fermi_energy(
    h00: np.ndarray,
    h01: np.ndarray,
    s00: np.ndarray,
    s01: np.ndarray,
    n_electrons: float,
    *,
    n_k: int = 256,
) -> float:
    """Fermi energy (eV) of a periodic lead from its band structure and electron count.

    ``h01``/``s01`` couple a PL to the next one along +z. The bands E_n(k) of
    ``H(k) = h00 + h01 e^{ik} + h01^T e^{-ik}`` are sampled on ``n_k`` points of the Brillouin
    half zone (0, π) (E(k) = E(-k) for real matrices); spin-degenerate states are filled with
    ``n_electrons`` per PL and the Fermi energy is the midpoint between the highest occupied
    and the lowest empty level.
    """
    key = _key(h00, h01, s00, s01, extra=("fermi", float(n_electrons), n_k))
    return _cached(key, lambda: _fermi(h00, h01, s00, s01, n_electrons, n_k))


def _fermi(h00, h01, s00, s01, n_electrons, n_k) -> float:
    levels = []
    for k in (np.arange(n_k) + 0.5) * (np.pi / n_k):
        phase = np.exp(1j * k)
        hk = h00 + h01 * phase + h01.T * phase.conjugate()
        sk = s00 + s01 * phase + s01.T * phase.conjugate()
        levels.append(scipy.linalg.eigh(hk, sk, eigvals_only=True))
    levels = np.sort(np.concatenate(levels))
    n_occ = round(n_electrons / 2 * n_k)
    if not 0 < n_occ < len(levels):
        raise CalculationFailed(f"Cannot place {n_electrons} electrons in the lead bands.")
    return float(0.5 * (levels[n_occ - 1] + levels[n_occ]))
