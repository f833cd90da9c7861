"""Two-centre overlaps of Slater-type orbitals and extended Hückel matrices (private).

This is vlab's own extended Hückel engine, used by :class:`~vlab.conductance.ExtendedHuckel`
when its parameters are not YAeHMOP's built-in ones. It computes the same quantities as
YAeHMOP (and reproduces RDKit's ``rdEHTTools`` matrices to 1e-6 with YAeHMOP's gold
parameters, tested), but takes the parameters as data, so that the radial extent of the
orbitals, which sets the tunnelling decay, can be chosen.

Method
------
* An orbital is a shell (n, l) with radial part ``sum_k c_k N_k r^(n-1) exp(-zeta_k r)``
  (single or double zeta; ``N_k`` normalises each primitive; the contraction is normalised
  as a whole) times a real spherical harmonic. Orbital order per atom:
  ``s, px, py, pz, dx2-y2, dz2, dxy, dxz, dyz`` (YAeHMOP's order).
* In the bond frame (A at the origin, B on +z) overlaps are diagonal in |m|: sigma, pi and
  delta integrals ``S_{la lb m}(R)``. They are computed by quadrature in prolate spheroidal
  coordinates (Gauss-Laguerre in lambda, Gauss-Legendre in mu; the integrand of one pair of
  primitives is a polynomial times ``exp(-a lambda - b mu)``, so 40 x 48 points are exact to
  rounding) on a grid of distances, and interpolated with cubic splines (error < 1e-9).
* The bond-frame orbitals are rotated into the global frame by the real-spherical-harmonic
  rotation matrices of each bond, obtained by evaluating both sets of harmonics at sample
  directions (exact for any rotation).
* ``H_ii`` are the valence-orbital ionisation energies; ``H_ij = K' S_ij (H_ii + H_jj) / 2``
  with the weighted Wolfsberg-Helmholz constant ``K' = K + D^2 + D^4 (1 - K)``,
  ``D = (H_ii - H_jj) / (H_ii + H_jj)``, ``K = 1.75`` (YAeHMOP's default formula).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from math import factorial

import numpy as np
from scipy.interpolate import CubicSpline

__all__ = [
    "BOHR",
    "PARAMETER_SETS",
    "TAPER",
    "ElementParameters",
    "Shell",
    "huckel_matrices",
    "overlap_table",
]

#: Bohr radius in Å.
BOHR = 0.52917721067
#: Wolfsberg-Helmholz constant.
K_WH = 1.75
_GRID_STEP = 0.02  # Å, spline knots of the overlap tables
_R_MIN = 0.8  # Å, shortest tabulated distance (closer atoms are rejected upstream)
_TOL = 1e-7  # |S| below which a pair is dropped; sets the cutoff distance
_N_LAG, _N_LEG = 40, 48


@dataclass(frozen=True)
class Shell:
    """One valence shell: principal and angular quantum numbers, H_ii (eV), zetas (1/bohr)."""

    n: int
    l: int  # noqa: E741 - the angular quantum number
    energy: float
    zetas: tuple[float, ...]
    coefficients: tuple[float, ...] = (1.0,)


@dataclass(frozen=True)
class ElementParameters:
    """Extended Hückel parameters of one element: its s, p and d shells, in that order."""

    symbol: str
    valence_electrons: int
    shells: tuple[Shell, Shell, Shell]


# --- radial and angular functions --------------------------------------------------------


def _normalised_contraction(shell: Shell) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients with primitive normalisation folded in, contraction normalised to 1."""
    z = np.asarray(shell.zetas, dtype=float)
    c = np.asarray(shell.coefficients, dtype=float)
    n = shell.n
    norm = (2 * z) ** (n + 0.5) / np.sqrt(float(factorial(2 * n)))
    # <k|l> of two normalised primitives with the same n
    cross = (2 * np.sqrt(np.outer(z, z)) / np.add.outer(z, z)) ** (2 * n + 1)
    total = c @ cross @ c
    return z, c * norm / np.sqrt(total)


def _angular(l: int, m: int, cos_t: np.ndarray, sin_t: np.ndarray) -> np.ndarray:  # noqa: E741
    """Real harmonic of (l, |m|), cosine type, at azimuth 0 (the bond-frame integrals)."""
    if l == 0:
        return np.full_like(cos_t, 0.5 / np.sqrt(np.pi))
    if l == 1:
        return np.sqrt(3 / (4 * np.pi)) * (cos_t if m == 0 else sin_t)
    if m == 0:
        return np.sqrt(5 / (16 * np.pi)) * (3 * cos_t**2 - 1)
    if m == 1:
        return np.sqrt(15 / (4 * np.pi)) * sin_t * cos_t
    return np.sqrt(15 / (16 * np.pi)) * sin_t**2


@functools.cache
def _nodes() -> tuple[np.ndarray, ...]:
    t, wt = np.polynomial.laguerre.laggauss(_N_LAG)
    mu, wm = np.polynomial.legendre.leggauss(_N_LEG)
    return t, wt * np.exp(t), mu, wm


def _bond_integrals(sa: Shell, sb: Shell, distances: np.ndarray) -> np.ndarray:
    """Bond-frame overlaps S_{la lb m}(R), shape (len(distances), min(la, lb) + 1)."""
    za, ca = _normalised_contraction(sa)
    zb, cb = _normalised_contraction(sb)
    t, wt, mu, wm = _nodes()
    R = np.asarray(distances, dtype=float)[:, None, None] / BOHR  # bohr
    out = np.zeros((R.shape[0], min(sa.l, sb.l) + 1))
    for zi, ci in zip(za, ca, strict=True):
        for zj, cj in zip(zb, cb, strict=True):
            a = (zi + zj) * R / 2
            lam = 1 + t[None, :, None] / a
            m_ = mu[None, None, :]
            ra, rb = R / 2 * (lam + m_), R / 2 * (lam - m_)
            z = R / 2 * (1 + lam * m_)
            rho = R / 2 * np.sqrt(np.clip((lam**2 - 1) * (1 - m_**2), 0, None))
            radial = ra ** (sa.n - 1) * np.exp(-zi * ra) * rb ** (sb.n - 1) * np.exp(-zj * rb)
            weight = (R / 2) ** 3 * (lam**2 - m_**2) * radial / a
            weight = weight * wt[None, :, None] * wm[None, None, :]
            for m in range(out.shape[1]):
                ang = _angular(sa.l, m, z / ra, rho / ra) * _angular(
                    sb.l, m, (z - R) / rb, rho / rb
                )
                phi = 2 * np.pi if m == 0 else np.pi
                out[:, m] += ci * cj * phi * np.sum(weight * ang, axis=(1, 2))
    return out


@functools.cache
def overlap_table(a: ElementParameters, b: ElementParameters):
    """Splines of the bond-frame overlaps between the shells of ``a`` and ``b``, and cutoff (Å).

    Returns ``(splines, cutoff)`` where ``splines[(i, j)]`` interpolates the array of sigma,
    pi, delta overlaps of shell ``i`` of ``a`` with shell ``j`` of ``b``, and ``cutoff`` is
    the distance beyond which every overlap is below 1e-7.
    """
    grid = np.arange(_R_MIN, 20.0, _GRID_STEP)
    tables = {
        (i, j): _bond_integrals(sa, sb, grid)
        for i, sa in enumerate(a.shells)
        for j, sb in enumerate(b.shells)
    }
    big = np.max([np.abs(v).max(axis=1) for v in tables.values()], axis=0) > _TOL
    cutoff = float(grid[np.nonzero(big)[0].max()] + _GRID_STEP)
    keep = grid <= cutoff + 4 * _GRID_STEP
    splines = {k: CubicSpline(grid[keep], v[keep], axis=0) for k, v in tables.items()}
    return splines, cutoff


# --- rotation into the global frame ------------------------------------------------------

_SAMPLES = np.array(
    [[0.3, 0.5, 0.81], [-0.7, 0.2, 0.4], [0.1, -0.9, 0.3], [0.6, 0.6, -0.5], [-0.2, -0.3, -0.9],
     [0.9, -0.1, 0.2], [-0.5, 0.8, -0.1], [0.4, -0.4, 0.7], [-0.8, -0.5, 0.3]]
)  # fmt: skip
_SAMPLES = _SAMPLES / np.linalg.norm(_SAMPLES, axis=1, keepdims=True)


def _harmonics(u: np.ndarray) -> np.ndarray:
    """Real harmonics (YAeHMOP order) at unit vectors ``u[..., 3]`` -> ``[..., 9]``."""
    x, y, z = u[..., 0], u[..., 1], u[..., 2]
    c1, c2 = np.sqrt(3 / (4 * np.pi)), np.sqrt(15 / (4 * np.pi))
    return np.stack(
        [
            np.full_like(x, 0.5 / np.sqrt(np.pi)),
            c1 * x, c1 * y, c1 * z,
            c2 / 2 * (x**2 - y**2), np.sqrt(5 / (16 * np.pi)) * (3 * z**2 - 1),
            c2 * x * y, c2 * x * z, c2 * y * z,
        ],
        axis=-1,
    )  # fmt: skip


#: For each orbital of the YAeHMOP order, its bond-frame symmetry label: (l, |m|, cos/sin).
_LABELS = [(0, 0, 0), (1, 1, 0), (1, 1, 1), (1, 0, 0), (2, 2, 0), (2, 0, 0), (2, 2, 1), (2, 1, 0),
           (2, 1, 1)]  # fmt: skip
_SHELL_OF = np.array([lab[0] for lab in _LABELS])


@functools.cache
def _sample_inverse() -> tuple[np.ndarray, np.ndarray]:
    g = _harmonics(_SAMPLES)
    return np.linalg.pinv(g[:, 1:4]), np.linalg.pinv(g[:, 4:9])


def _rotations(u: np.ndarray) -> np.ndarray:
    """Per bond direction ``u`` (n, 3): matrices C (n, 9, 9), global = C @ bond-frame."""
    n = len(u)
    helper = np.where(np.abs(u[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    e1 = np.cross(helper, u)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(u, e1)
    frame = np.stack([e1, e2, u], axis=1)  # rows: bond-frame axes in global coordinates
    local = np.einsum("kj,nij->nki", _SAMPLES, frame)  # sample directions in the bond frame
    yl = _harmonics(local)  # (n, k, 9): bond-frame harmonics at the samples
    c = np.zeros((n, 9, 9))
    c[:, 0, 0] = 1.0
    inv_p, inv_d = _sample_inverse()
    c[:, 1:4, 1:4] = np.einsum("ik,nkj->nij", inv_p, yl[:, :, 1:4])
    c[:, 4:9, 4:9] = np.einsum("ik,nkj->nij", inv_d, yl[:, :, 4:9])
    return c


def _bond_frame_matrix(splines, distances: np.ndarray) -> np.ndarray:
    """Bond-frame overlap blocks (n, 9, 9) of pairs at ``distances``."""
    n = len(distances)
    values = {k: s(distances) for k, s in splines.items()}
    out = np.zeros((n, 9, 9))
    for i, (li, mi, ti) in enumerate(_LABELS):
        for j, (lj, mj, tj) in enumerate(_LABELS):
            if mi == mj and ti == tj:
                out[:, i, j] = values[(li, lj)][:, mi]
    return out


def _taper(r: np.ndarray, taper: tuple[float, float] | None) -> np.ndarray:
    """Smooth cutoff: 1 below ``taper[0]``, cos² down to 0 at ``taper[1]`` (Å)."""
    if taper is None:
        return np.ones_like(r)
    on, off = taper
    x = np.clip((r - on) / (off - on), 0.0, 1.0)
    return np.cos(0.5 * np.pi * x) ** 2


def huckel_matrices(
    params: dict[str, ElementParameters],
    symbols: list[str],
    positions: np.ndarray,
    *,
    taper: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Extended Hückel ``H`` (eV) and ``S`` of a cluster (9 orbitals per atom, atom-major).

    ``taper=(r_on, r_off)`` (Å) multiplies every two-centre block by a smooth cutoff that
    vanishes at ``r_off``: a translation-invariant truncation of the interaction range, so
    that electrode principal layers thicker than ``r_off`` couple only to their neighbours.
    Without it, pairs are kept while any overlap exceeds 1e-7.
    """
    elements = [params[s] for s in symbols]
    n = len(symbols)
    s_mat = np.eye(9 * n)
    diag = np.concatenate([[e.shells[k].energy for k in _SHELL_OF] for e in elements])
    for sym_a in set(symbols):
        for sym_b in set(symbols):
            splines, cutoff = overlap_table(params[sym_a], params[sym_b])
            ia = np.array([i for i, s in enumerate(symbols) if s == sym_a])
            ib = np.array([i for i, s in enumerate(symbols) if s == sym_b])
            d = positions[ib][None] - positions[ia][:, None]
            dist = np.linalg.norm(d, axis=-1)
            reach = cutoff if taper is None else min(cutoff, taper[1])
            pa, pb = np.nonzero((dist < reach) & (ia[:, None] < ib[None]))
            if len(pa) == 0:
                continue
            i, j, r = ia[pa], ib[pb], dist[pa, pb]
            c = _rotations(d[pa, pb] / r[:, None])
            blocks = np.einsum("nik,nkl,njl->nij", c, _bond_frame_matrix(splines, r), c)
            blocks *= _taper(r, taper)[:, None, None]
            rows = (9 * i)[:, None, None] + np.arange(9)[None, :, None]
            cols = (9 * j)[:, None, None] + np.arange(9)[None, None, :]
            s_mat[rows, cols] = blocks
            s_mat[cols, rows] = blocks
    hsum = np.add.outer(diag, diag)
    delta = np.subtract.outer(diag, diag) / hsum
    k = K_WH + delta**2 + delta**4 * (1 - K_WH)
    h = k * s_mat * hsum / 2
    h[np.diag_indices_from(h)] = diag
    return h, s_mat


# --- parameter sets ---------------------------------------------------------------------

_AU_P = Shell(6, 1, -5.55, (2.584,))
_AU_D = Shell(5, 2, -15.07, (6.163, 2.794), (0.6851, 0.5696))

#: Named parameter sets: element symbol -> parameters. ``"yaehmop"`` is YAeHMOP's default
#: gold (Hoffmann's values: 6s zeta 2.602, H -10.92 eV; 6p 2.584, -5.55 eV; 5d double zeta
#: 6.163/2.794 with 0.6851/0.5696, -15.07 eV). ``"au-tail"`` adds a diffuse component to the
#: 6s orbital (zeta 1.2 1/bohr, weight 0.04 before normalisation), which carries the tail of
#: the wavefunction into the vacuum: YAeHMOP's contracted 6s decays so fast that tunnelling
#: falls with beta ~ 5 1/Å instead of the ~2.3 1/Å of a 5 eV work function.
#: Å, smooth truncation of the interaction range used by ExtendedHuckel's vlab engine.
TAPER = (6.5, 8.0)

PARAMETER_SETS: dict[str, dict[str, ElementParameters]] = {
    "yaehmop": {"Au": ElementParameters("Au", 11, (Shell(6, 0, -10.92, (2.602,)), _AU_P, _AU_D))},
    "au-tail": {
        "Au": ElementParameters(
            "Au", 11, (Shell(6, 0, -10.92, (2.602, 1.2), (1.0, 0.04)), _AU_P, _AU_D)
        )
    },
}
