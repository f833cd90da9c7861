"""Tests of the nanowire / point-contact builders and the structure validator."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from scipy.spatial.distance import cdist

from vlab.conductance.structures import (
    build_contact,
    build_point_contact,
    build_wire,
    perturb,
    validate_structure,
)
from vlab.errors import InputError, InvalidStructureError

A_AU = 4.08


def _nearest(atoms: Atoms) -> np.ndarray:
    d = cdist(atoms.positions, atoms.positions)
    np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


def _layer_sizes(atoms: Atoms) -> list[int]:
    _, counts = np.unique(atoms.positions[:, 2].round(3), return_counts=True)
    return counts.tolist()


# ----------------------------------------------------------------------------- build_wire
@pytest.mark.parametrize(
    ("direction", "period", "atoms_per_pl"),
    [("001", A_AU, 16), ("110", A_AU * np.sqrt(2), 16), ("111", A_AU * np.sqrt(3), 24)],
)
def test_wire_geometry(direction, period, atoms_per_pl):
    wire = build_wire("Au", direction=direction, cross_section=(2, 2), length=3)
    tags = wire.get_tags()
    assert wire.info["lead_period"] == pytest.approx(period)
    assert len(wire) == 7 * atoms_per_pl
    assert [(tags == t).sum() for t in (0, 1, 2)] == [3 * atoms_per_pl] + [2 * atoms_per_pl] * 2
    assert np.all(np.diff(wire.positions[:, 2]) >= -1e-9)  # sorted along z
    assert wire.cell.lengths()[2] == pytest.approx(7 * period)
    assert _nearest(wire) == pytest.approx(A_AU / np.sqrt(2))
    validate_structure(wire)


def test_wire_is_centred_with_vacuum():
    wire = build_wire("Au", cross_section=(2, 3), length=1, vacuum=5.0)
    xy = wire.positions[:, :2]
    lengths = wire.cell.lengths()[:2]
    assert xy.min(axis=0) == pytest.approx([5.0, 5.0])
    assert lengths - xy.max(axis=0) == pytest.approx([5.0, 5.0])
    assert np.ptp(xy[:, 1]) > np.ptp(xy[:, 0])  # 3 cells along y, 2 along x


def test_wire_electrode_layers_repeat_with_period():
    wire = build_wire("Au", direction="111", cross_section=(1, 2), length=1, electrode_layers=3)
    left = wire.positions[wire.get_tags() == 1]
    p = wire.info["lead_period"]
    first = left[left[:, 2] < p - 1e-3]
    for k in (1, 2):
        layer = left[(left[:, 2] > k * p - 1e-3) & (left[:, 2] < (k + 1) * p - 1e-3)]
        assert np.allclose(np.sort(layer - [0, 0, k * p], axis=0), np.sort(first, axis=0))


@pytest.mark.parametrize(("element", "a"), [("Cu", 3.61), ("Ag", 4.09), ("Pt", 3.92)])
def test_wire_elements_use_reference_lattice_constants(element, a):
    wire = build_wire(element, cross_section=(1, 1), length=1)
    assert set(wire.get_chemical_symbols()) == {element}
    assert _nearest(wire).min() == pytest.approx(a / np.sqrt(2))


def test_wire_lattice_constant_override():
    wire = build_wire("Au", cross_section=(1, 1), length=1, lattice_constant=4.056)
    assert wire.info["lead_period"] == pytest.approx(4.056)


def _channels(wire: Atoms) -> int:
    """Open channels at E = 0 of the s-band TB model (t ∝ d⁻², cutoff 3.3-3.7 Å) of a PL."""
    p = wire.info["lead_period"]
    pl0 = wire.positions[wire.positions[:, 2] < p - 1e-3]

    def hop(a, b):
        d = cdist(a, b)
        x = np.clip((d - 3.3) / 0.4, 0, 1)
        return np.where(
            d > 1e-6, -((2.885 / np.maximum(d, 1e-6)) ** 2) * 0.5 * (1 + np.cos(np.pi * x)), 0
        )

    h0, h1 = hop(pl0, pl0), hop(pl0, pl0 + np.array([0, 0, p]))
    ks = np.linspace(-np.pi, np.pi, 1201)
    bands = np.array(
        [np.linalg.eigvalsh(h0 + h1 * np.exp(1j * k) + h1.T * np.exp(-1j * k)) for k in ks]
    )
    return int(((bands[:-1] < 0) & (bands[1:] >= 0)).sum())


@pytest.mark.parametrize(("n", "expected"), [(2, 6), (3, 13)])
def test_wire_cross_section_matches_published_channel_counts(n, expected):
    assert _channels(build_wire("Au", cross_section=(n, n), length=1)) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"element": "Xx"},
            "The 'element' parameter of build_wire must be one of Ag, Au, Cu, Pt. Got 'Xx'.",
        ),
        (
            {"direction": "100"},
            "The 'direction' parameter of build_wire must be one of '001', '110', '111'. "
            "Got '100'.",
        ),
        (
            {"cross_section": (0, 2)},
            r"'cross_section' parameter of build_wire must be a pair of positive integers "
            r"\(nx, ny\). Got \(0, 2\)",
        ),
        ({"cross_section": 2}, "'cross_section' parameter of build_wire must be a pair .* Got 2."),
        ({"length": 0}, "The 'length' parameter of build_wire must be an integer >= 1. Got 0."),
        ({"length": 2.5}, "The 'length' parameter of build_wire must be an integer >= 1. Got 2.5."),
        (
            {"electrode_layers": 1},
            "The 'electrode_layers' parameter of build_wire must be an integer >= 2.",
        ),
        (
            {"lattice_constant": -4.0},
            "The 'lattice_constant' parameter of build_wire must be a finite number > 0",
        ),
        ({"vacuum": float("nan")}, "The 'vacuum' parameter of build_wire must be a finite number"),
    ],
)
def test_wire_rejects_invalid_requests(kwargs, message):
    element = kwargs.pop("element", "Au")
    with pytest.raises(InvalidStructureError, match=message):
        build_wire(element, **kwargs)


# ----------------------------------------------------------------------------- contacts
def test_contact_has_narrow_neck():
    junction = build_contact(
        "Au", electrode_cross_section=(3, 3), neck_cross_section=(2, 2), length=2
    )
    validate_structure(junction)
    tags = junction.get_tags()
    assert [(tags == t).sum() for t in (0, 1, 2)] == [2 * 16, 2 * 36, 2 * 36]
    neck, electrode = junction.positions[tags == 0], junction.positions[tags == 1]
    assert np.ptp(neck[:, 0]) == pytest.approx(1.5 * A_AU)
    assert np.ptp(electrode[:, 0]) == pytest.approx(2.5 * A_AU)
    centre = 0.5 * (electrode.min(0) + electrode.max(0))
    assert (0.5 * (neck.min(0) + neck.max(0)))[:2] == pytest.approx(centre[:2])
    assert _nearest(junction) == pytest.approx(A_AU / np.sqrt(2))


def test_contact_rejects_neck_wider_than_electrodes():
    with pytest.raises(
        InvalidStructureError,
        match=r"'neck_cross_section' parameter of build_contact must not exceed",
    ):
        build_contact("Au", electrode_cross_section=(2, 2), neck_cross_section=(3, 2))


def test_point_contact_is_a_double_pyramid_with_one_apex_atom():
    contact = build_point_contact("Au", tip_size=3, electrode_layers=2)
    validate_structure(contact)
    assert _layer_sizes(contact) == [16, 9, 16, 9, 16, 9, 4, 1, 4, 9, 16, 9, 16, 9, 16]
    d = cdist(contact.positions, contact.positions)
    z = contact.positions[:, 2]
    centre = np.flatnonzero(np.abs(z - np.median(np.unique(z.round(3)))) < 1e-3)
    assert len(centre) == 1
    bonds = np.sort(d[centre[0]])[1:9]
    assert bonds == pytest.approx(A_AU / np.sqrt(2))  # 4 + 4 bulk bonds to the tips
    assert contact.info["lead_period"] == pytest.approx(A_AU)


def test_point_contact_gap_opens_the_right_side():
    closed, opened = build_point_contact("Au"), build_point_contact("Au", gap=1.5)
    shift = opened.positions[:, 2] - closed.positions[:, 2]
    assert set(np.round(shift, 6)) == {0.0, 1.5}
    assert (shift > 0).sum() == (len(closed) - 1) // 2  # everything right of the apex


def test_point_contact_rejects_overlapping_gap():
    with pytest.raises(
        InvalidStructureError, match=r"overlap.*Check the 'gap' parameter of build_point_contact"
    ):
        build_point_contact("Au", gap=-3.0)


# ----------------------------------------------------------------------------- perturb
def test_perturb_moves_only_the_scattering_region_reproducibly():
    wire = build_wire("Au", cross_section=(3, 3), length=4)
    a = perturb(wire, amplitude=0.1, rng=np.random.default_rng(7))
    b = perturb(wire, amplitude=0.1, rng=7)
    c = perturb(wire, amplitude=0.1, rng=8)
    mobile = wire.get_tags() == 0
    assert np.array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)
    assert np.array_equal(a.positions[~mobile], wire.positions[~mobile])
    step = (a.positions - wire.positions)[mobile]
    assert step.std() == pytest.approx(0.1, rel=0.1)
    assert np.array_equal(a.get_tags(), wire.get_tags()) and a.info == wire.info


@pytest.mark.parametrize("amplitude", [-0.1, float("nan"), "big"])
def test_perturb_rejects_bad_amplitude(amplitude):
    with pytest.raises(
        InputError, match="The 'amplitude' parameter of perturb must be a finite number >= 0"
    ):
        perturb(build_wire("Au", cross_section=(1, 1), length=1), amplitude=amplitude, rng=0)


# ----------------------------------------------------------------------------- validate_structure
@pytest.fixture
def wire() -> Atoms:
    return build_wire("Au", cross_section=(1, 1), length=2)


def test_validate_rejects_nan(wire):
    wire.positions[3, 1] = np.nan
    with pytest.raises(InvalidStructureError, match=r"positions of atoms \[3\] are not finite"):
        validate_structure(wire)


def test_validate_rejects_overlap(wire):
    wire.positions[10] = wire.positions[11] + [0.3, 0, 0]
    with pytest.raises(
        InvalidStructureError, match=r"Atoms 10 and 11 overlap: they are 0.300 Å apart"
    ):
        validate_structure(wire)


def test_validate_rejects_bad_tags(wire):
    tags = wire.get_tags()
    tags[0] = 3
    wire.set_tags(tags)
    with pytest.raises(
        InvalidStructureError, match=r"tags of the structure must be 1 .* Got tags \[0, 1, 2, 3\]"
    ):
        validate_structure(wire)
    assert validate_structure(wire, require_electrodes=False) is None


def test_validate_rejects_missing_electrode(wire):
    wire.set_tags(np.where(wire.get_tags() == 2, 0, wire.get_tags()))
    with pytest.raises(InvalidStructureError, match="both electrodes present"):
        validate_structure(wire)


def test_validate_rejects_missing_period(wire):
    del wire.info["lead_period"]
    with pytest.raises(
        InvalidStructureError, match=r"info\['lead_period'\], a positive length in Å. Got None"
    ):
        validate_structure(wire)


def test_validate_rejects_single_principal_layer():
    wire = build_wire("Au", cross_section=(1, 1), length=2)
    tags = wire.get_tags()
    tags[wire.positions[:, 2] < wire.info["lead_period"] - 1e-3] = 0  # free the outer PL...
    tags[wire.positions[:, 2] < 1e-3] = 1  # ...but its first layer: no longer a whole PL pair
    wire.set_tags(tags)
    with pytest.raises(InvalidStructureError, match="left electrode"):
        validate_structure(wire)


def test_validate_rejects_non_identical_layers(wire):
    del wire[[int(np.flatnonzero(wire.get_tags() == 2)[-1])]]
    with pytest.raises(
        InvalidStructureError, match=r"right electrode \(tag 2\) must consist of >= 2 identical"
    ):
        validate_structure(wire)


def test_validate_rejects_electrode_inside(wire):
    tags = wire.get_tags()
    wire.set_tags(np.where(tags == 1, 0, np.where(tags == 0, 1, tags)))
    with pytest.raises(
        InvalidStructureError, match=r"left electrode \(tag 1\) must lie entirely below"
    ):
        validate_structure(wire)


def test_validate_rejects_non_atoms():
    with pytest.raises(
        InvalidStructureError, match="must be a non-empty ase.Atoms object. Got list"
    ):
        validate_structure([1, 2])
    with pytest.raises(InvalidStructureError, match="Got Atoms with 0 atoms"):
        validate_structure(Atoms())


def test_a_period_far_too_short_is_refused_at_once():
    """A period of 1e-9 Å once made a loop over billions of layers (validate_structure hung)
    and an error listing millions of layer sizes (the reference)."""
    from vlab.conductance import SBandTightBinding

    wire = build_wire(cross_section=(1, 1), length=2)
    wire.info["lead_period"] = 1e-9
    with pytest.raises(InvalidStructureError, match=r"principal layers, more than its atoms"):
        validate_structure(wire)
    with pytest.raises(InvalidStructureError, match=r"principal layers, more than its atoms") as e:
        SBandTightBinding().conductance(wire)
    assert len(str(e.value)) < 300
