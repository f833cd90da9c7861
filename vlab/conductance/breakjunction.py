"""Break-junction molecular dynamics: stretch (and compress) metal contacts with EMT.

The protocol mimics a mechanically controllable break junction: the electrode blocks of a
tagged structure (see :mod:`vlab.conductance.structures`) are held rigid, the left one fixed
and the right one pulled along +z at constant speed, while the atoms between them follow
Langevin dynamics with the EMT potential (``asap3.EMT`` if asap3 is importable, else
:class:`vlab.conductance.emt.VectorEMT`, which computes what :class:`ase.calculators.emt.EMT`
computes with array operations; all three implement the same Jacobsen-Stoltze-Nørskov EMT
with the same parameters). A snapshot is stored every ``snapshot_every`` Å of elongation.

Rupture criterion
-----------------
Two atoms are *bonded* when closer than ``bond_cutoff`` (default 1.25 × the nearest-neighbour
distance of the electrode crystal: 3.61 Å for Au at a = 4.08 Å, between the first (2.88 Å)
and second (4.08 Å) neighbour shells). The junction is in *contact* while a chain of bonds
joins the left electrode to the right one (graph connectivity, checked at every snapshot);
it has *ruptured* at the first snapshot without contact. Stretching then goes on for
``post_rupture`` Å to sample the tunnelling regime, and stops; if ``cycles > 1`` the right
electrode is pushed back until contact re-forms and ``compress_depth`` Å further, and the next
stretch starts. Compression stops at ``min_elongation`` (default -5 Å) and never brings the
electrodes closer than half their initial separation, as in an experiment where the tips are
pushed together but not crushed; it also stops once a device atom has been pushed level with an
electrode's inner layer (the electrodes of a cell are finite across the wire, and squeezed
atoms would flow around them). If contact has not re-formed there (a thin wire can recoil
into compact tips far apart), the trace ends: another stretch would pull a broken junction.

Examples
--------
>>> from vlab.conductance.structures import build_wire
>>> from vlab.conductance.breakjunction import BreakJunctionProtocol, run_trace
>>> wire = build_wire("Au", cross_section=(1, 1), length=1)
>>> protocol = BreakJunctionProtocol(temperature=4.0, speed=5.0, equilibration=0.0,
...                                  max_elongation=0.3, seed=1)
>>> trace = run_trace(wire, protocol)
>>> trace.elongation
array([0. , 0.1, 0.2, 0.3])
>>> next(trace.snapshots()).info["lead_period"]
4.08
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms, units
from ase.constraints import FixAtoms
from ase.md.langevin import Langevin
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from vlab.conductance.structures import validate_structure
from vlab.errors import InputError

__all__ = [
    "EMT_CALCULATORS",
    "BreakJunctionProtocol",
    "Trace",
    "emt_calculator",
    "in_contact",
    "run_trace",
]


# --------------------------------------------------------------------------- protocol
def _bad(name: str, rule: str, value: object) -> InputError:
    return InputError(
        f"The {name!r} parameter of BreakJunctionProtocol must be {rule}. Got {value!r}."
    )


# name: (low, high, low excluded, rule in the error message)
_RANGES = {
    "temperature": (0.0, 1000.0, False, "between 0 and 1000 K"),
    "speed": (0.0, np.inf, True, "a positive number of Å/ps"),
    "timestep": (0.0, 20.0, True, "in (0, 20] fs"),
    "friction": (0.0, np.inf, False, "a number >= 0 (1/ps)"),
    "snapshot_every": (0.0, np.inf, True, "a positive number of Å"),
    "equilibration": (0.0, np.inf, False, "a number >= 0 ps"),
    "max_elongation": (0.0, np.inf, True, "a positive number of Å"),
    "post_rupture": (0.0, np.inf, False, "a number >= 0 Å"),
    "compress_depth": (0.0, np.inf, False, "a number >= 0 Å"),
    "min_elongation": (-np.inf, 0.0, False, "a number <= 0 Å"),
    "bond_cutoff": (0.0, np.inf, True, "None or > 0 Å"),
}


@dataclass(frozen=True, kw_only=True)
class BreakJunctionProtocol:
    """Parameters of one break-junction MD trace (validated on creation).

    Parameters
    ----------
    temperature : float
        Langevin bath temperature, K (0-1000; experiments: 4.2, 77, 300 K).
    speed : float
        Pulling speed of the right electrode, Å/ps (1 Å/ps = 100 m/s; the default 0.1 Å/ps =
        10 m/s is the usual MD compromise, still ~1e6 times faster than experiments). The MD
        uses a whole number of steps per snapshot, ``round(snapshot_every / (speed·timestep))``,
        which fixes the effective speed.
    timestep : float
        MD time step, fs (0 < timestep <= 20).
    friction : float
        Langevin friction coefficient, 1/ps (>= 0).
    snapshot_every : float
        Elongation between stored snapshots, Å (> 0, at least one MD step).
    equilibration : float
        Langevin equilibration before pulling, ps (>= 0).
    max_elongation : float
        Largest elongation ever reached, Å (> snapshot_every); a stretch that has not ruptured
        by then stops there.
    post_rupture : float
        Extra elongation after rupture, Å (>= 0), to sample the tunnelling tail.
    bond_cutoff : float or None
        Bond length used by the rupture criterion, Å; None: 1.25 × the nearest-neighbour
        distance of the electrode atoms.
    cycles : int
        Largest number of stretches (>= 1); between two stretches the junction is compressed,
        and a trace whose contact does not re-form under compression ends there.
    compress_depth : float
        Compression beyond the elongation at which contact re-forms, Å (>= 0).
    min_elongation : float
        Compression never goes below this elongation, Å (<= 0), nor brings the electrodes
        closer than half their initial separation, whether or not contact has re-formed.
    seed : int
        Seed of the random velocities and Langevin noise (>= 0); same seed, same trace.

    Examples
    --------
    >>> BreakJunctionProtocol(temperature=77.0).steps_per_snapshot
    200
    >>> BreakJunctionProtocol(temperature=-5)
    Traceback (most recent call last):
    ...
    vlab.errors.InputError: The 'temperature' parameter of BreakJunctionProtocol must be ...
    """

    temperature: float = 300.0
    speed: float = 0.1
    timestep: float = 5.0
    friction: float = 2.0
    snapshot_every: float = 0.1
    equilibration: float = 5.0
    max_elongation: float = 20.0
    post_rupture: float = 1.0
    bond_cutoff: float | None = None
    cycles: int = 1
    compress_depth: float = 1.0
    min_elongation: float = -5.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name, (low, high, open_low, rule) in _RANGES.items():
            if name != "bond_cutoff" or self.bond_cutoff is not None:
                _check_range(self, name, low, high, rule, open_low=open_low)
        for name, minimum in (("cycles", 1), ("seed", 0)):
            value = getattr(self, name)
            integer = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            if not integer or value < minimum:
                raise _bad(name, f"an integer >= {minimum}", value)
        if not self.max_elongation > self.snapshot_every:
            rule = f"larger than snapshot_every ({self.snapshot_every} Å)"
            raise _bad("max_elongation", rule, self.max_elongation)
        if self.speed * self.timestep * 1e-3 > self.snapshot_every:
            rule = "at most snapshot_every / timestep (one step per snapshot)"
            raise _bad("speed", rule, self.speed)

    @property
    def steps_per_snapshot(self) -> int:
        """MD steps between two snapshots."""
        return max(1, round(self.snapshot_every / (self.speed * self.timestep * 1e-3)))

    @property
    def max_snapshots(self) -> int:
        """Upper bound on the number of snapshots of a trace (for preallocating storage).

        >>> BreakJunctionProtocol().max_snapshots, BreakJunctionProtocol(cycles=2).max_snapshots
        (201, 701)
        """
        first = int(np.floor(self.max_elongation / self.snapshot_every + 1e-9))
        leg = int(np.ceil((self.max_elongation - self.min_elongation) / self.snapshot_every))
        return 1 + first + 2 * (self.cycles - 1) * leg


def _check_range(
    protocol: BreakJunctionProtocol,
    name: str,
    low: float,
    high: float,
    rule: str,
    *,
    open_low: bool = False,
) -> None:
    value = getattr(protocol, name)
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    ok = ok and np.isfinite(value) and low <= value <= high and not (open_low and value == low)
    if not ok:
        raise _bad(name, rule, value)


# --------------------------------------------------------------------------- trace
def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, kw_only=True, eq=False)
class Trace:
    """One break-junction MD trace: snapshots and their elongation, as plain arrays.

    Attributes
    ----------
    elongation : ndarray, shape (n_snap,)
        Displacement of the right electrode from the start, Å.
    time : ndarray, shape (n_snap,)
        Time since the end of equilibration, ps.
    cycle : ndarray of int, shape (n_snap,)
        Stretch/compress cycle of each snapshot (0-based).
    direction : ndarray of int, shape (n_snap,)
        +1 while stretching, -1 while compressing (the first snapshot, at rest, is +1).
    contact : ndarray of bool, shape (n_snap,)
        True while a chain of bonds joins the electrodes (see the module's rupture criterion).
    positions : ndarray, shape (n_snap, n_atoms, 3)
        Atomic positions, Å.
    cells : ndarray, shape (n_snap, 3, 3)
        Cell of each snapshot (the initial cell lengthened along z by the elongation), Å.
    numbers, tags : ndarray of int, shape (n_atoms,)
        Atomic numbers and the tags of the geometry contract.
    lead_period : float
        Electrode principal-layer period along z, Å.
    temperature : float
        Bath temperature, K.
    seed : int
        Seed of the trace.
    ruptured : bool
        Whether the first stretch ruptured the junction.
    rupture_index : int
        Index of the first snapshot without contact (-1 if none).
    calculator : str
        EMT implementation used: "asap3", "numpy" (:class:`~vlab.conductance.emt.VectorEMT`)
        or "ase".
    protocol : BreakJunctionProtocol
        The full protocol.
    """

    elongation: np.ndarray
    time: np.ndarray
    cycle: np.ndarray
    direction: np.ndarray
    contact: np.ndarray
    positions: np.ndarray
    cells: np.ndarray
    numbers: np.ndarray
    tags: np.ndarray
    lead_period: float
    temperature: float
    seed: int
    ruptured: bool
    rupture_index: int
    calculator: str
    protocol: BreakJunctionProtocol = field(repr=False)

    def __len__(self) -> int:
        return len(self.elongation)

    def snapshot(self, index: int) -> Atoms:
        """Return snapshot ``index`` as tagged :class:`ase.Atoms` (info: lead_period, ...)."""
        atoms = Atoms(
            numbers=self.numbers,
            positions=self.positions[index],
            cell=self.cells[index],
            pbc=False,
            tags=self.tags,
        )
        atoms.info.update(
            lead_period=self.lead_period,
            elongation=float(self.elongation[index]),
            time=float(self.time[index]),
            cycle=int(self.cycle[index]),
            direction=int(self.direction[index]),
            contact=bool(self.contact[index]),
            snapshot=int(index),
        )
        return atoms

    def snapshots(self) -> Iterator[Atoms]:
        """Yield every snapshot as tagged :class:`ase.Atoms`, in order."""
        for index in range(len(self)):
            yield self.snapshot(index)


# --------------------------------------------------------------------------- physics helpers
EMT_CALCULATORS = ("auto", "asap3", "numpy", "ase")
"""Choices of EMT implementation: ``auto`` is asap3 when importable, else ``numpy``."""


def emt_calculator(kind: str = "auto"):
    """Return an EMT calculator of the kind named in :data:`EMT_CALCULATORS`.

    ``"asap3"``: asap3's compiled EMT; ``"numpy"``: :class:`vlab.conductance.emt.VectorEMT`
    (ASE's EMT with array operations, the same results to rounding); ``"ase"``:
    :class:`ase.calculators.emt.EMT` (a Python loop over the atoms, the slowest); ``"auto"``:
    asap3 if importable, else numpy.

    Examples
    --------
    >>> type(emt_calculator("ase")).__name__, type(emt_calculator("numpy")).__name__
    ('EMT', 'VectorEMT')
    """
    if kind not in EMT_CALCULATORS:
        allowed = ", ".join(repr(k) for k in EMT_CALCULATORS)
        raise InputError(f"The 'calculator' parameter must be one of {allowed}. Got {kind!r}.")
    if kind in ("auto", "asap3"):
        try:
            import asap3
        except ImportError:
            if kind == "asap3":
                raise InputError(
                    "calculator='asap3' needs the asap3 package, which is not importable. "
                    "Install it (pip install --no-build-isolation asap3) or use "
                    "'auto'/'numpy'/'ase'."
                ) from None
        else:
            return asap3.EMT()
    if kind == "ase":
        from ase.calculators.emt import EMT

        return EMT()
    from vlab.conductance.emt import VectorEMT

    return VectorEMT()


def _calculator_name(calc) -> str:
    module = type(calc).__module__
    if module.startswith("asap3"):
        return "asap3"
    return "numpy" if module.startswith("vlab") else "ase"


def in_contact(atoms: Atoms, *, bond_cutoff: float) -> bool:
    """Whether a chain of bonds shorter than ``bond_cutoff`` (Å) joins tag-1 and tag-2 atoms.

    Examples
    --------
    >>> from vlab.conductance.structures import build_point_contact
    >>> in_contact(build_point_contact("Au"), bond_cutoff=3.6)
    True
    >>> in_contact(build_point_contact("Au", gap=1.5), bond_cutoff=3.6)
    False
    """
    return _connected(atoms.positions, atoms.get_tags(), bond_cutoff)


def _connected(positions: np.ndarray, tags: np.ndarray, cutoff: float) -> bool:
    pairs = cKDTree(positions).query_pairs(r=cutoff, output_type="ndarray")
    n = len(positions)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return bool(np.intersect1d(labels[tags == 1], labels[tags == 2]).size)


def _nearest_neighbour(positions: np.ndarray) -> float:
    dist, _ = cKDTree(positions).query(positions, k=2)
    return float(dist[:, 1].min())


class _PulledElectrodes(FixAtoms):
    """Rigid electrodes: tag 1 fixed, tag 2 translated by ``displacement`` Å along z."""

    def __init__(self, atoms: Atoms) -> None:
        tags = atoms.get_tags()
        super().__init__(indices=np.flatnonzero(tags > 0))
        self.left = np.flatnonzero(tags == 1)
        self.right = np.flatnonzero(tags == 2)
        self.reference = atoms.positions.copy()
        self.displacement = 0.0

    def adjust_positions(self, atoms: Atoms, new: np.ndarray) -> None:
        new[self.left] = self.reference[self.left]
        new[self.right] = self.reference[self.right] + [0.0, 0.0, self.displacement]


# --------------------------------------------------------------------------- the MD driver
@dataclass
class _Recorder:
    """Mutable state of one run; turned into a frozen :class:`Trace` at the end."""

    atoms: Atoms
    dynamics: Langevin
    pull: _PulledElectrodes
    protocol: BreakJunctionProtocol
    cutoff: float
    cell: np.ndarray
    floor: float  # largest compression allowed (a positive length), Å
    level: int = 0  # elongation in units of snapshot_every
    time: float = 0.0
    rows: list = dataclasses.field(default_factory=list)
    frames: list = dataclasses.field(default_factory=list)

    def record(self, cycle: int, direction: int) -> bool:
        positions = self.atoms.positions.copy()
        contact = _connected(positions, self.atoms.get_tags(), self.cutoff)
        elongation = round(self.level * self.protocol.snapshot_every, 10)
        self.rows.append((elongation, self.time, cycle, direction, contact))
        self.frames.append(positions)
        return contact

    def crushed(self) -> bool:
        """Whether a device atom has been pushed level with or past an electrode's inner layer
        (the finite electrodes of a cell let squeezed atoms flow around them, which a real,
        laterally infinite electrode would not)."""
        z, tags = self.atoms.positions[:, 2], self.atoms.get_tags()
        device = z[tags == 0]
        return bool(
            device.size
            and (device.min() <= z[tags == 1].max() or device.max() >= z[tags == 2].min())
        )

    def advance(self, direction: int) -> None:
        """Move the right electrode by one snapshot interval, one MD step at a time."""
        n = self.protocol.steps_per_snapshot
        start = self.level * self.protocol.snapshot_every
        step = direction * self.protocol.snapshot_every / n
        for i in range(1, n + 1):
            self.pull.displacement = start + i * step
            self.dynamics.step()
        self.level += direction
        self.time += n * self.protocol.timestep * 1e-3


def _stretch(rec: _Recorder, cycle: int) -> None:
    p = rec.protocol
    top = int(np.floor(p.max_elongation / p.snapshot_every + 1e-9))
    extra = round(p.post_rupture / p.snapshot_every)
    stop = top
    while rec.level < stop:
        rec.advance(+1)
        if not rec.record(cycle, +1) and stop == top:
            stop = min(top, rec.level + extra)


def _compress(rec: _Recorder, cycle: int) -> bool:
    """Push the right electrode back; whether contact re-formed."""
    p = rec.protocol
    depth = round(p.compress_depth / p.snapshot_every)
    lowest = max(p.min_elongation, -rec.floor)
    stop = int(np.ceil(lowest / p.snapshot_every - 1e-9))
    touched = False
    while rec.level > stop and not rec.crushed():
        rec.advance(-1)
        if rec.record(cycle, -1) and not touched:
            touched = True
            stop = max(stop, rec.level - depth)
    return touched


def _setup(atoms: Atoms, protocol: BreakJunctionProtocol, calculator: str) -> _Recorder:
    work = Atoms(
        numbers=atoms.numbers,
        positions=atoms.positions,
        cell=atoms.cell,
        pbc=False,
        tags=atoms.get_tags(),
    )
    pull = _PulledElectrodes(work)
    work.set_constraint(pull)
    work.calc = emt_calculator(calculator)
    rng = np.random.default_rng(protocol.seed)
    masses = work.get_masses()[:, None]
    kt = units.kB * protocol.temperature
    work.set_momenta(rng.standard_normal((len(work), 3)) * np.sqrt(masses * kt))
    dynamics = Langevin(
        work,
        timestep=protocol.timestep * units.fs,
        temperature_K=protocol.temperature,
        friction=protocol.friction / (1000.0 * units.fs),
        fixcm=False,
        rng=rng,
    )
    electrode = atoms.positions[atoms.get_tags() == 1]
    cutoff = protocol.bond_cutoff or 1.25 * _nearest_neighbour(electrode)
    z, tags = atoms.positions[:, 2], atoms.get_tags()
    floor = 0.5 * (z[tags == 2].min() - z[tags == 1].max())
    return _Recorder(work, dynamics, pull, protocol, cutoff, np.array(atoms.cell), floor)


def _to_trace(rec: _Recorder, atoms: Atoms) -> Trace:
    elongation, time, cycle, direction, contact = (np.array(c) for c in zip(*rec.rows))
    cells = np.repeat(rec.cell[None], len(elongation), axis=0)
    cells[:, 2, 2] += elongation
    first = (cycle == 0) & ~contact
    index = int(np.argmax(first)) if first.any() else -1
    return Trace(
        elongation=_frozen(elongation.astype(float)),
        time=_frozen(time.astype(float)),
        cycle=_frozen(cycle.astype(np.int32)),
        direction=_frozen(direction.astype(np.int8)),
        contact=_frozen(contact.astype(bool)),
        positions=_frozen(np.stack(rec.frames)),
        cells=_frozen(cells),
        numbers=_frozen(atoms.numbers.copy()),
        tags=_frozen(atoms.get_tags().copy()),
        lead_period=float(atoms.info["lead_period"]),
        temperature=float(rec.protocol.temperature),
        seed=int(rec.protocol.seed),
        ruptured=index >= 0,
        rupture_index=index,
        calculator=_calculator_name(rec.atoms.calc),
        protocol=rec.protocol,
    )


def run_trace(
    atoms: Atoms,
    protocol: BreakJunctionProtocol | None = None,
    *,
    calculator: str = "auto",
) -> Trace:
    """Run one break-junction MD trace: equilibrate, then stretch (and compress) cycles.

    Parameters
    ----------
    atoms : ase.Atoms
        Tagged structure obeying the geometry contract (validated); not modified.
    protocol : BreakJunctionProtocol, optional
        Temperature, speed, snapshots, rupture criterion, cycles and seed; default:
        ``BreakJunctionProtocol()``.
    calculator : {"auto", "asap3", "numpy", "ase"}
        EMT implementation (see :func:`emt_calculator`); "auto" uses asap3 when importable,
        else vlab's vectorised EMT.

    Returns
    -------
    Trace
        Snapshots every ``protocol.snapshot_every`` Å, starting with the equilibrated
        structure at zero elongation. Deterministic for a given seed and calculator.

    Raises
    ------
    InvalidStructureError
        If ``atoms`` breaks the geometry contract.
    InputError
        If ``calculator`` is unknown or unavailable.
    """
    validate_structure(atoms)
    protocol = BreakJunctionProtocol() if protocol is None else protocol
    if not isinstance(protocol, BreakJunctionProtocol):
        raise InputError(
            "The 'protocol' parameter of run_trace must be a BreakJunctionProtocol. "
            f"Got {type(protocol).__name__}."
        )
    rec = _setup(atoms, protocol, calculator)
    for _ in range(round(protocol.equilibration / (protocol.timestep * 1e-3))):
        rec.dynamics.step()
    rec.record(0, +1)
    for cycle in range(protocol.cycles):
        _stretch(rec, cycle)
        if cycle < protocol.cycles - 1 and not _compress(rec, cycle):
            break  # the tips no longer meet: another stretch would pull a broken junction
    return _to_trace(rec, atoms)
