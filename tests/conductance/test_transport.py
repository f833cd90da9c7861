"""Tests of the reference conductance calculators (vlab.conductance.transport)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from vlab._utils import content_hash
from vlab.conductance import _junctions as J
from vlab.conductance import _negf
from vlab.conductance._eht import eht_matrices
from vlab.conductance._slater import PARAMETER_SETS, TAPER, huckel_matrices
from vlab.conductance.transport import (
    ExtendedHuckel,
    SBandTightBinding,
    lead_layers,
)
from vlab.errors import CalculationFailed, InputError, InvalidStructureError

GAPS = np.array([1.0, 1.5, 2.0, 2.5, 3.0])  # Å beyond the apex-apex contact distance


def _decay(gaps, g):
    """Slope beta (1/Å) and R² of a straight-line fit of ln G versus gap."""
    slope, intercept = np.polyfit(gaps, np.log(g), 1)
    resid = np.log(g) - (slope * gaps + intercept)
    r2 = 1 - resid.var() / np.log(g).var()
    return -slope, r2


# --- geometry contract ------------------------------------------------------------------


def test_lead_layers_splits_chain():
    layers = lead_layers(J.chain(2, n_lead=3))
    assert [pl.tolist() for pl in layers.left] == [[0], [1], [2]]
    assert [pl.tolist() for pl in layers.right] == [[7], [6], [5]]
    assert layers.device.tolist() == [3, 4]
    assert layers.order.tolist() == list(range(8))
    assert layers.period == pytest.approx(2.885, abs=1e-3)


def test_lead_layers_matches_atoms_by_translation():
    atoms = J.fcc001_wire(2)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(atoms))
    shuffled = atoms[perm]
    layers = lead_layers(shuffled)
    pos = shuffled.positions
    for pls, sign in ((layers.left, 1), (layers.right, -1)):
        assert len(pls) == 2 and all(len(pl) == 16 for pl in pls)
        shift = pos[pls[1]] - pos[pls[0]]
        np.testing.assert_allclose(shift, [[0, 0, sign * 4.08]] * 16, atol=1e-9)


def test_lead_layers_rejects_missing_tags():
    atoms = J.chain(2)
    atoms.set_tags(0)
    with pytest.raises(InvalidStructureError, match=r"tagged 1 \(left electrode\).*Got tags \[0\]"):
        lead_layers(atoms)


def test_lead_layers_rejects_missing_period():
    atoms = J.chain(2)
    del atoms.info["lead_period"]
    with pytest.raises(InvalidStructureError, match=r"lead_period.*Got None"):
        lead_layers(atoms)


def test_lead_layers_rejects_single_layer():
    atoms = J.chain(2, n_lead=1)
    with pytest.raises(InvalidStructureError, match=r">= 2 identical principal layers.*Got 1"):
        lead_layers(atoms)


def test_lead_layers_rejects_non_identical_layers():
    atoms = J.chain(2, n_lead=2)
    atoms.positions[1, 0] += 0.01
    with pytest.raises(InvalidStructureError, match=r"not the outermost layer translated"):
        lead_layers(atoms)


def test_lead_layers_rejects_nan_positions():
    atoms = J.chain(2)
    atoms.positions[3, 2] = np.nan
    with pytest.raises(InvalidStructureError, match=r"NaN or infinite positions \(atoms \[3\]\)"):
        lead_layers(atoms)


def test_lead_layers_rejects_swapped_electrodes():
    atoms = J.chain(2)
    atoms.set_tags([2, 2, 0, 0, 1, 1])
    with pytest.raises(InvalidStructureError, match=r"right electrode \(tag 2\) above"):
        lead_layers(atoms)


def test_lead_layers_reads_the_axis_as_z_with_room_for_thermal_motion():
    from vlab.conductance import build_contact

    contact = build_contact("Au", electrode_cross_section=(2, 2), neck_cross_section=(1, 1))
    lead_layers(contact)
    face = contact.positions[contact.get_tags() == 1, 2].max()
    low = np.flatnonzero(contact.get_tags() == 0)[
        np.argmin(contact.positions[contact.get_tags() == 0, 2])
    ]
    nudged = contact.copy()
    nudged.positions[low, 2] = face - 0.1  # a device atom a little past the face: accepted
    lead_layers(nudged)
    turned = contact.copy()
    turned.rotate(90, "y", rotate_cell=True)  # transport along x: electrodes beside the neck
    with pytest.raises(InvalidStructureError, match=r"the transport axis is \+z"):
        lead_layers(turned)


def test_short_lead_period_is_refused():
    atoms = J.chain(2, spacing=2.0)  # second neighbours (4 Å) still couple: PL too thin
    with pytest.raises(InvalidStructureError, match=r"lead_period=2.0 Å is too short"):
        SBandTightBinding().conductance(atoms)


# --- Green's function machinery -----------------------------------------------------------


def test_surface_green_matches_analytic_chain():
    t, energy, eta = -1.0, 0.7, 1e-9
    z = energy + 1j * eta
    one = np.ones((1, 1))
    g = _negf.surface_green(z * one, -t * one, -t * one)[0, 0]
    exact = (z - np.sqrt(z**2 - 4 * t**2 + 0j)) / (2 * t**2)
    exact = exact if exact.imag < 0 else (z + np.sqrt(z**2 - 4 * t**2 + 0j)) / (2 * t**2)
    assert g == pytest.approx(exact, abs=1e-6)
    assert g.imag < 0  # retarded


def test_surface_green_singular_raises():
    zero = np.zeros((2, 2), dtype=complex)
    with pytest.raises(CalculationFailed, match="singular"):
        _negf.surface_green(zero, zero, zero)


def test_lead_fermi_energy_half_filled_chain():
    one = np.ones((1, 1))
    e_f = _negf.lead_fermi_energy(0 * one, -one, one, 0 * one, 1.0, n_k=64)
    assert e_f == pytest.approx(0.0, abs=1e-12)


# --- s-band tight binding -----------------------------------------------------------------


def test_sband_chain_transmits_one_channel():
    calc = SBandTightBinding()
    assert calc.conductance(J.chain(3)) == pytest.approx(1.0, abs=0.02)
    t = calc.transmission(J.chain(3), [-0.5, 0.0, 0.5, 1.0])  # band is |E| < 2 |t0| = 0.92 eV
    np.testing.assert_allclose(t, [1, 1, 1, 0], atol=0.02)


@pytest.mark.parametrize(("n_cells", "channels"), [(1, 1), (2, 6), (3, 13)])
def test_sband_fcc001_wire_channel_counts(n_cells, channels):
    assert SBandTightBinding().conductance(J.fcc001_wire(n_cells)) == pytest.approx(
        channels, abs=0.02
    )


@pytest.mark.parametrize(
    "atoms",
    [J.single_atom_contact(1), J.single_atom_contact(2), J.tip_gap(0.0, 2)],
    ids=["shared-apex-w1", "shared-apex-w2", "apex-apex-w2"],
)
def test_sband_single_atom_contact(atoms):
    assert 0.7 <= SBandTightBinding().conductance(atoms) <= 1.1


def test_sband_tunnelling_decays_exponentially():
    calc = SBandTightBinding()
    g = np.array([calc.conductance(J.tip_gap(gap)) for gap in GAPS])
    beta, r2 = _decay(GAPS, g)
    assert 1.5 <= beta <= 3.0
    assert r2 > 0.999
    assert g[0] < 0.05


def test_sband_without_tail_is_the_published_nearest_neighbour_model():
    calc = SBandTightBinding(tail_weight=0.0)
    assert calc.conductance(J.tip_gap(1.0)) == 0.0
    assert calc.conductance(J.fcc001_wire(2)) == pytest.approx(6.0, abs=0.02)


def test_sband_hopping_is_smooth_and_decays():
    calc = SBandTightBinding()
    d = np.linspace(2.5, 6.0, 3501)
    t = calc.hopping(d)
    assert t[0] < 0 and np.all(np.diff(np.abs(t)) < 0)
    assert np.max(np.abs(np.diff(t))) < 2e-3  # slope < 2 eV/Å: no jumps on a 1 mÅ grid
    assert calc.hopping(calc.d0) == pytest.approx(calc.t0)


def test_sband_identity_is_hashable_and_changes_with_params():
    a, b = SBandTightBinding().identity, SBandTightBinding(t0=-1.0).identity
    assert a["id"] == "sband-tb" and a["params"]["d0"] == 2.885
    assert content_hash(a) != content_hash(b)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"t0": 1.0}, "t0"), ({"r_on": 4.0}, "r_on"), ({"eta": 0.0}, "eta"), ({"d0": np.nan}, "d0")],
)
def test_sband_rejects_bad_parameters(kwargs, name):
    with pytest.raises(InputError, match=rf"The '{name}' parameter of SBandTightBinding"):
        SBandTightBinding(**kwargs)


def test_transmission_rejects_bad_energies():
    with pytest.raises(InputError, match=r"'energies' parameter of transmission.*Got \[nan\]"):
        SBandTightBinding().transmission(J.chain(2), [np.nan])


# --- extended Hückel (RDKit / YAeHMOP) ----------------------------------------------------


def test_eht_matrices_symmetric_and_pairwise_identical():
    pos = np.array([[0, 0, 0], [2.885, 0, 0], [1.44, 2.5, 0], [1.44, 0.8, 2.3]])
    h, s = eht_matrices(["Au"] * 4, pos)
    hp, sp = eht_matrices(["Au"] * 4, pos, assembly="pairs")
    assert h.shape == (36, 36)
    np.testing.assert_array_equal(h, h.T)
    np.testing.assert_allclose(np.diag(s), 1.0)
    np.testing.assert_allclose(np.diag(h)[:9], [-10.92] + [-5.55] * 3 + [-15.07] * 5, atol=1e-2)
    np.testing.assert_allclose(hp, h, atol=1e-6)
    np.testing.assert_allclose(sp, s, atol=1e-7)
    assert np.linalg.eigvalsh(s).min() > 0


def test_eht_rejects_unsupported_element():
    match = r"supports the elements Ag, Au, Cu, Pt.*\['C'\]"
    with pytest.raises(InvalidStructureError, match=match):
        eht_matrices(["C"], np.zeros((1, 3)))


def test_vlab_engine_reproduces_rdkit_yaehmop_matrices():
    rng = np.random.default_rng(3)
    pos = J.single_atom_contact(1).positions[:12] + rng.normal(0, 0.15, (12, 3))
    h_ref, s_ref = eht_matrices(["Au"] * 12, pos)
    h, s = huckel_matrices(PARAMETER_SETS["yaehmop"], ["Au"] * 12, pos)
    np.testing.assert_allclose(s, s_ref, atol=1e-4)
    np.testing.assert_allclose(h, h_ref, atol=2e-3)
    np.testing.assert_array_equal(s, s.T)


def test_vlab_engine_is_rotation_invariant():
    rng = np.random.default_rng(4)
    pos = rng.normal(0, 2.5, (5, 3))
    pos = pos[np.min(np.linalg.norm(pos[:, None] - pos[None], axis=-1) + 9 * np.eye(5), 1) > 2]
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    table = PARAMETER_SETS["au-tail"]
    h1, s1 = huckel_matrices(table, ["Au"] * len(pos), pos)
    h2, s2 = huckel_matrices(table, ["Au"] * len(pos), pos @ q.T)
    e1 = scipy.linalg.eigh(h1, s1, eigvals_only=True)
    e2 = scipy.linalg.eigh(h2, s2, eigvals_only=True)
    np.testing.assert_allclose(e1, e2, atol=1e-8)


def test_vlab_engine_taper_cuts_interactions_smoothly():
    pos = np.array([[0, 0, 0], [0, 0, 7.0], [0, 0, 15.5]])
    s = huckel_matrices(PARAMETER_SETS["au-tail"], ["Au"] * 3, pos, taper=(6.5, 8.0))[1]
    s_full = huckel_matrices(PARAMETER_SETS["au-tail"], ["Au"] * 3, pos)[1]
    assert 0 < abs(s[0, 9]) < abs(s_full[0, 9])  # 7 Å: inside the taper, reduced
    assert s[0, 18] == 0.0 and s[9, 18] == 0.0  # 8.5 Å and 15.5 Å: cut
    assert s_full[9, 18] != 0.0


@pytest.mark.parametrize("calc", [ExtendedHuckel(), ExtendedHuckel(engine="rdkit-pairs",
                                  parameters="yaehmop")], ids=["au-tail", "yaehmop"])  # fmt: skip
def test_eht_chain_transmits_one_channel(calc):
    t = calc.transmission(J.chain(2), [-0.5, 0.0, 0.5])
    np.testing.assert_allclose(t, 1.0, atol=0.02)


@pytest.mark.parametrize(
    "atoms",
    [
        J.tip_gap(0.0, 1),
        pytest.param(J.tip_gap(0.0, 2), marks=pytest.mark.slow),
        J.single_atom_contact(2),
    ],
    ids=["apex-apex-w1", "apex-apex-w2", "shared-apex-w2"],
)
def test_eht_single_atom_contact(atoms):
    assert 0.6 <= ExtendedHuckel().conductance(atoms) <= 1.2


def test_eht_shared_apex_between_thin_leads_couples_past_the_atom():
    # 5/4-atom leads are not bulk-like: the 4-atom layers on both sides of the shared atom are
    # only 4.08 Å apart and couple directly, adding ~0.6 G0 (documented in ExtendedHuckel).
    assert 1.3 <= ExtendedHuckel().conductance(J.single_atom_contact(1)) <= 2.0


@pytest.fixture(scope="module")
def eht_tunnelling():
    calc = ExtendedHuckel()
    return np.array([calc.conductance(J.tip_gap(gap, 1)) for gap in GAPS])


def test_eht_tunnelling_beta_in_physical_window(eht_tunnelling):
    beta, r2 = _decay(GAPS, eht_tunnelling)
    assert r2 > 0.99
    assert 1.5 <= beta <= 3.0
    assert eht_tunnelling[0] < 0.3


def test_eht_yaehmop_parameters_tunnel_too_steeply():
    # why "au-tail" exists: YAeHMOP's contracted single-zeta 6s gives beta ~ 5 1/Å
    calc = ExtendedHuckel(parameters="yaehmop")
    beta, _ = _decay(GAPS, [calc.conductance(J.tip_gap(gap, 1)) for gap in GAPS])
    assert 3.5 <= beta <= 6.5


def test_eht_identity_and_parameter_checks():
    ident = ExtendedHuckel().identity
    assert ident["id"] == "eht-spd" and ident["params"]["parameters"] == "au-tail"
    assert ident["params"]["values"]["Au"]["shells"][0]["zetas"] == [2.602, 1.2]
    assert ident != ExtendedHuckel(parameters="yaehmop").identity
    rd = ExtendedHuckel(engine="rdkit", parameters="yaehmop").identity
    assert "rdkit" in rd["params"]["backend"]
    with pytest.raises(InputError, match=r"'eta' parameter of ExtendedHuckel"):
        ExtendedHuckel(eta=1.0)
    with pytest.raises(InputError, match=r"'engine' parameter of ExtendedHuckel.*'fast'"):
        ExtendedHuckel(engine="fast")
    with pytest.raises(InputError, match=r"'parameters' parameter.*au-tail, yaehmop.*'x'"):
        ExtendedHuckel(parameters="x")
    with pytest.raises(InputError, match=r"engine='rdkit'.*parameters='yaehmop'"):
        ExtendedHuckel(engine="rdkit")
    with pytest.raises(InputError, match=r"'n_k' parameter"):
        ExtendedHuckel(n_k=2)


def test_eht_vlab_engine_rejects_elements_without_parameters():
    wire = J.chain(2, symbol="Ag")
    with pytest.raises(InvalidStructureError, match=r"'au-tail' covers Au; got \['Ag'\]"):
        ExtendedHuckel().conductance(wire)


def test_eht_explicit_fermi_energy_shifts_energy_axis():
    atoms = J.chain(2)
    calc = ExtendedHuckel(fermi_energy=-11.0)
    auto = ExtendedHuckel()
    # the chain's s band is half filled at ~ -11.30 eV; T is 1 anywhere inside the band
    assert calc.conductance(atoms) == pytest.approx(1.0, abs=0.02)
    assert auto.transmission(atoms, [0.3])[0] == pytest.approx(calc.conductance(atoms), abs=0.02)
    assert calc.transmission(atoms, [-8.0])[0] < 0.02  # below all bands


def test_electrode_fermi_energy_is_the_one_transmission_uses():
    atoms = J.chain(2)
    eht = ExtendedHuckel()
    e_f = eht.electrode_fermi_energy(atoms)
    assert -12.0 < e_f < -8.0
    fixed = ExtendedHuckel(fermi_energy=e_f)
    assert fixed.conductance(atoms) == pytest.approx(eht.conductance(atoms), abs=1e-9)
    assert ExtendedHuckel(fermi_energy=-9.0).electrode_fermi_energy(atoms) == -9.0


def test_cluster_matrices_are_those_of_the_atoms_alone():
    atoms = J.chain(2)
    h, s = ExtendedHuckel().matrices(atoms)
    assert h.shape == s.shape == (9 * len(atoms), 9 * len(atoms))
    expected = huckel_matrices(
        PARAMETER_SETS["au-tail"], atoms.get_chemical_symbols(), atoms.positions, taper=TAPER
    )
    assert np.array_equal(h, expected[0]) and np.array_equal(s, expected[1])
    from ase import Atoms

    with pytest.raises(InvalidStructureError, match="no atoms"):
        ExtendedHuckel().matrices(Atoms())
    with pytest.raises(InvalidStructureError, match="covers Au; got \\['Fe'\\]"):
        ExtendedHuckel().matrices(Atoms("Fe2", positions=[(0, 0, 0), (0, 0, 2.5)]))


@pytest.mark.parametrize(
    ("calculator", "given", "message"),
    [
        ("ExtendedHuckel", {"eta": "x"}, r"^The 'eta' parameter of ExtendedHuckel must be a"),
        ("ExtendedHuckel", {"fermi_energy": "-9"}, r"a number \(eV\) or None\. Got '-9'"),
        ("SBandTightBinding", {"t0": "-0.46"}, r"^The 't0' parameter of SBandTightBinding"),
    ],
)
def test_calculator_parameters_of_the_wrong_type_are_named(calculator, given, message):
    import vlab.conductance
    from vlab.errors import InputError

    with pytest.raises(InputError, match=message):
        getattr(vlab.conductance, calculator)(**given)
