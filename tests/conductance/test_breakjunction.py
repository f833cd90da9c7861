"""Tests of the break-junction MD driver (tiny wires; asap3 used when importable)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from ase import Atoms

from vlab.conductance.breakjunction import (
    BreakJunctionProtocol,
    Trace,
    emt_calculator,
    in_contact,
    run_trace,
)
from vlab.conductance.structures import (
    build_point_contact,
    build_wire,
    perturb,
    validate_structure,
)
from vlab.errors import InputError, InvalidStructureError

try:
    import asap3  # noqa: F401

    HAVE_ASAP = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_ASAP = False

FAST = {"speed": 2.0, "timestep": 5.0, "equilibration": 0.1}  # 10 MD steps per 0.1 Å


@pytest.fixture(scope="module")
def tiny_wire() -> Atoms:
    return build_wire("Au", cross_section=(1, 1), length=2)  # 24 atoms, 8 mobile


@pytest.fixture(scope="module")
def broken_trace(tiny_wire) -> Trace:
    protocol = BreakJunctionProtocol(
        temperature=300.0, max_elongation=12.0, post_rupture=0.5, seed=3, **FAST
    )
    return run_trace(tiny_wire, protocol)


# ----------------------------------------------------------------------------- protocol
def test_protocol_defaults_follow_physics_notes():
    p = BreakJunctionProtocol()
    assert (p.speed, p.snapshot_every, p.cycles) == (0.1, 0.1, 1)
    assert p.steps_per_snapshot == 200  # 0.1 Å at 0.1 Å/ps with 5 fs steps
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.speed = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"temperature": -1.0},
            "'temperature' parameter of BreakJunctionProtocol must be between 0 and 1000 K. "
            "Got -1.0.",
        ),
        ({"temperature": 1500}, "must be between 0 and 1000 K. Got 1500."),
        ({"temperature": float("nan")}, "'temperature' parameter"),
        (
            {"speed": 0.0},
            "'speed' parameter of BreakJunctionProtocol must be a positive number of Å/ps. "
            "Got 0.0.",
        ),
        ({"speed": -0.1}, "'speed' parameter .* Got -0.1."),
        ({"speed": 100.0}, "'speed' parameter .* at most snapshot_every / timestep"),
        ({"timestep": 0}, r"'timestep' parameter .* in \(0, 20\] fs. Got 0."),
        ({"timestep": 50.0}, r"'timestep' parameter .* in \(0, 20\] fs. Got 50.0."),
        ({"friction": -1.0}, "'friction' parameter"),
        ({"snapshot_every": 0.0}, "'snapshot_every' parameter"),
        ({"equilibration": -1.0}, "'equilibration' parameter"),
        (
            {"max_elongation": 0.05},
            r"'max_elongation' parameter .* larger than snapshot_every \(0.1 Å\). Got 0.05.",
        ),
        ({"post_rupture": -0.5}, "'post_rupture' parameter"),
        ({"bond_cutoff": 0.0}, "'bond_cutoff' parameter .* None or > 0 Å. Got 0.0."),
        (
            {"cycles": 0},
            "'cycles' parameter of BreakJunctionProtocol must be an integer >= 1. Got 0.",
        ),
        ({"cycles": 1.5}, "'cycles' parameter"),
        ({"compress_depth": -1.0}, "'compress_depth' parameter"),
        (
            {"seed": -1},
            "'seed' parameter of BreakJunctionProtocol must be an integer >= 0. Got -1.",
        ),
        ({"seed": "a"}, "'seed' parameter"),
    ],
)
def test_protocol_validation(kwargs, message):
    with pytest.raises(InputError, match=message):
        BreakJunctionProtocol(**kwargs)


# ----------------------------------------------------------------------------- contact / rupture
def test_contact_detection_on_constructed_structures():
    assert in_contact(build_point_contact("Au"), bond_cutoff=3.6)
    assert in_contact(build_point_contact("Au", gap=0.5), bond_cutoff=3.6)
    assert not in_contact(build_point_contact("Au", gap=1.5), bond_cutoff=3.6)
    wire = build_wire("Au", cross_section=(2, 2), length=3)
    assert in_contact(wire, bond_cutoff=3.0)
    z = wire.positions[:, 2]
    broken = wire[(z < 9.0) | (z > 12.5)]  # remove the layers at 10.2 and 12.2 Å
    assert not in_contact(broken, bond_cutoff=3.6)
    assert in_contact(broken, bond_cutoff=6.5)  # the layers at 8.2 and 14.3 Å are 6.45 Å apart


def test_contact_ignores_a_bridge_that_does_not_join_both_electrodes():
    wire = build_wire("Au", cross_section=(1, 1), length=3)
    z = wire.positions[:, 2]
    gap = (z > 8.0) & (z < 10.5)
    side = wire.positions[:, 0] < np.median(wire.positions[:, 0])
    dangling = wire[~gap | side]  # half of the gap layers stays, bonded only to the left
    dangling.positions[dangling.positions[:, 2] > 10.5, 2] += 3.0
    assert not in_contact(dangling, bond_cutoff=3.6)


# ----------------------------------------------------------------------------- run_trace
def test_trace_arrays_and_rigid_electrodes(broken_trace, tiny_wire):
    tr = broken_trace
    n, n_atoms = len(tr), len(tiny_wire)
    assert tr.positions.shape == (n, n_atoms, 3) and tr.cells.shape == (n, 3, 3)
    for name in ("time", "cycle", "direction", "contact"):
        assert getattr(tr, name).shape == (n,)
    assert tr.elongation == pytest.approx(0.1 * np.arange(n))
    assert tr.time == pytest.approx(0.05 * np.arange(n))  # 10 steps of 5 fs per snapshot
    assert tr.cells[:, 2, 2] == pytest.approx(tiny_wire.cell[2, 2] + tr.elongation)
    tags = tr.tags
    assert np.allclose(tr.positions[:, tags == 1], tiny_wire.positions[tags == 1])
    moved = tr.positions[:, tags == 2] - tiny_wire.positions[tags == 2]
    assert np.allclose(moved[..., :2], 0.0)
    assert np.allclose(moved[..., 2], tr.elongation[:, None])
    assert not tr.positions.flags.writeable
    assert tr.calculator == ("asap3" if HAVE_ASAP else "numpy")


def test_trace_ruptures_and_records_tunnelling_tail(broken_trace):
    tr = broken_trace
    assert tr.ruptured and tr.rupture_index > 0
    assert tr.contact[: tr.rupture_index].all()
    assert len(tr) == tr.rupture_index + 1 + 5  # post_rupture = 0.5 Å = 5 snapshots
    assert not tr.contact[-1]
    assert set(tr.direction.tolist()) == {1} and set(tr.cycle.tolist()) == {0}


def test_snapshots_obey_geometry_contract(broken_trace):
    snaps = list(broken_trace.snapshots())
    assert len(snaps) == len(broken_trace)
    last = snaps[-1]
    validate_structure(last)
    assert last.info["lead_period"] == broken_trace.lead_period
    assert last.info["elongation"] == pytest.approx(broken_trace.elongation[-1])
    assert last.info["contact"] is False and last.info["snapshot"] == len(snaps) - 1
    assert np.array_equal(last.get_tags(), broken_trace.tags)


def test_trace_is_deterministic_given_the_seed(tiny_wire):
    protocol = BreakJunctionProtocol(temperature=77.0, max_elongation=0.3, seed=11, **FAST)
    a, b = run_trace(tiny_wire, protocol), run_trace(tiny_wire, protocol)
    c = run_trace(tiny_wire, dataclasses.replace(protocol, seed=12))
    assert np.array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)
    assert (a.seed, a.temperature, a.protocol) == (11, 77.0, protocol)


def test_zero_temperature_has_no_noise_and_heat_moves_atoms():
    wire = build_wire("Au", cross_section=(2, 2), length=1)
    cold = [
        run_trace(wire, BreakJunctionProtocol(temperature=0.0, max_elongation=0.2, seed=s, **FAST))
        for s in (0, 1)
    ]
    hot = run_trace(wire, BreakJunctionProtocol(temperature=300.0, max_elongation=0.2, **FAST))
    assert np.array_equal(cold[0].positions, cold[1].positions)  # the seed only feeds the noise
    mobile = wire.get_tags() == 0
    cold_shift = np.abs(cold[0].positions[-1, mobile] - wire.positions[mobile]).max()
    hot_shift = np.abs(hot.positions[-1, mobile] - cold[0].positions[-1, mobile]).max()
    assert cold_shift < 0.3  # EMT surface relaxation and 0.2 Å of stretching only
    assert hot_shift > 0.05


def test_cycles_compress_until_contact_reforms(tiny_wire):
    protocol = BreakJunctionProtocol(
        temperature=4.0,
        max_elongation=12.0,
        post_rupture=0.5,
        cycles=2,
        compress_depth=0.3,
        seed=5,
        **FAST,
    )
    tr = run_trace(tiny_wire, protocol)
    back = tr.direction == -1
    assert back.any() and set(tr.cycle[back].tolist()) == {0}
    assert np.all(np.diff(tr.elongation[back]) < 0)
    assert tr.contact[back].any()  # contact re-formed while compressing
    first_touch = np.flatnonzero(back & tr.contact)[0]
    last_back = np.flatnonzero(back)[-1]
    assert tr.elongation[first_touch] - tr.elongation[last_back] == pytest.approx(0.3)
    assert (tr.cycle == 1).any() and tr.direction[tr.cycle == 1].min() == 1


def test_compression_stops_at_min_elongation(tiny_wire):
    protocol = BreakJunctionProtocol(
        temperature=4.0,
        max_elongation=12.0,
        post_rupture=0.5,
        cycles=2,
        min_elongation=-0.5,
        seed=5,
        **FAST,
    )
    tr = run_trace(tiny_wire, protocol)
    back = tr.direction == -1
    assert tr.elongation.min() == pytest.approx(-0.5)
    assert not tr.contact[back].any()  # this seed's tips only touch again at -2.4 Å
    assert len(tr) <= protocol.max_snapshots
    # no contact at the deepest compression: the trace ends there, no second stretch
    assert not (tr.cycle == 1).any() and tr.direction[-1] == -1


def test_ase_emt_gives_the_same_physics(tiny_wire):
    protocol = BreakJunctionProtocol(temperature=4.0, max_elongation=0.2, seed=1, **FAST)
    tr = run_trace(tiny_wire, protocol, calculator="ase")
    assert tr.calculator == "ase" and len(tr) == 3
    vector = run_trace(tiny_wire, protocol, calculator="numpy")
    assert vector.calculator == "numpy"
    # the same forces to rounding: the same trajectory over 20 steps, to far below a bond
    assert np.abs(vector.positions - tr.positions).max() < 1e-8
    if HAVE_ASAP:
        other = run_trace(tiny_wire, protocol, calculator="asap3")
        assert np.abs(other.positions - tr.positions).max() < 0.02


@pytest.mark.skipif(not HAVE_ASAP, reason="asap3 is not installed")
def test_asap3_and_ase_emt_agree_on_forces():
    atoms = perturb(build_wire("Au", cross_section=(2, 2), length=1), amplitude=0.1, rng=2)
    forces = []
    for kind in ("asap3", "ase"):
        copy = atoms.copy()
        copy.calc = emt_calculator(kind)
        forces.append(copy.get_forces())
    assert np.abs(forces[0] - forces[1]).max() < 0.02  # eV/Å
    assert np.abs(forces[0]).max() > 0.1


def test_run_trace_rejects_bad_input(tiny_wire):
    with pytest.raises(InvalidStructureError, match="tags of the structure"):
        run_trace(Atoms("Au2", positions=[[0, 0, 0], [0, 0, 2.9]]))
    with pytest.raises(
        InputError, match="The 'protocol' parameter of run_trace must be a BreakJunctionProtocol"
    ):
        run_trace(tiny_wire, {"speed": 1.0})  # type: ignore[arg-type]
    with pytest.raises(
        InputError,
        match="The 'calculator' parameter must be one of 'auto', 'asap3', 'numpy', 'ase'. "
        "Got 'lammps'",
    ):
        run_trace(tiny_wire, calculator="lammps")


@pytest.mark.slow
def test_realistic_wire_thins_to_a_single_atom_before_rupture():
    """The default protocol at 4 K (asap3's EMT if installed, else vlab's: ~20 s or ~60 s)."""
    wire = build_wire("Au", cross_section=(2, 2), length=4)
    tr = run_trace(wire, BreakJunctionProtocol(temperature=4.0, seed=0, max_elongation=30.0))
    assert tr.ruptured and 5.0 < tr.elongation[tr.rupture_index] < 30.0
    before = tr.snapshot(tr.rupture_index - 1)
    mobile = before.positions[before.get_tags() == 0]
    z = np.sort(mobile[:, 2])
    narrowest = min(int(((z > z0 - 1.0) & (z < z0 + 1.0)).sum()) for z0 in z)
    assert narrowest <= 2  # a single atom, or a dimer/chain, carries the last contact


def test_compression_stops_where_a_device_atom_reaches_an_electrode_layer(tiny_wire):
    """Squeezed atoms of a thin cell can flow around its finite electrodes: compression stops
    once a device atom is level with an electrode's inner layer."""
    from vlab.conductance.breakjunction import _compress, _setup

    protocol = BreakJunctionProtocol(temperature=4.0, cycles=2, seed=1, **FAST)
    rec = _setup(tiny_wire, protocol, "numpy")
    assert not rec.crushed()  # the built wire: device atoms between the electrodes
    z, tags = rec.atoms.positions[:, 2], rec.atoms.get_tags()
    moved = rec.atoms.positions.copy()
    moved[np.flatnonzero(tags == 0)[0], 2] = z[tags == 2].min()  # level with the right layer
    rec.atoms.positions = moved
    assert rec.crushed()
    rec.record(0, +1)
    assert _compress(rec, 0) is False and len(rec.rows) == 1  # not a single step further
