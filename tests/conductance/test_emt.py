"""Tests of the vectorised EMT (vlab.conductance.emt) against ASE's EMT."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk, fcc111
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.emt import EMT
from ase.md.verlet import VelocityVerlet

from vlab.conductance.breakjunction import emt_calculator
from vlab.conductance.emt import VectorEMT
from vlab.conductance.structures import build_contact, perturb
from vlab.errors import InputError


def _both(atoms: Atoms) -> tuple[dict, dict]:
    out = []
    for calc in (EMT(), VectorEMT()):
        copy = atoms.copy()
        copy.calc = calc
        res = {
            "energy": copy.get_potential_energy(),
            "energies": copy.get_potential_energies(),
            "forces": copy.get_forces(),
        }
        if atoms.cell.rank == 3:
            res["stress"] = copy.get_stress()
        out.append(res)
    return out[0], out[1]


def _alloy() -> Atoms:
    atoms = perturb(bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 2, 2)), amplitude=0.1, rng=3)
    atoms.numbers[::3] = 79
    atoms.numbers[1::5] = 46
    return atoms


def _small_cell() -> Atoms:
    """Two atoms in a cell smaller than the cutoff: each atom sees its own periodic images."""
    atoms = bulk("Pd", "fcc", a=3.9, orthorhombic=True)
    atoms.numbers[1] = 79
    atoms.positions[1] += [0.07, -0.05, 0.11]
    return atoms


def _slab() -> Atoms:
    slab = fcc111("Ag", (3, 3, 4), vacuum=5.0)
    slab.rattle(0.05, seed=1)
    return slab


STRUCTURES = {
    "open junction": lambda: perturb(
        build_contact("Au", neck_cross_section=(1, 1), electrode_cross_section=(2, 2)),
        amplitude=0.1,
        rng=1,
    ),
    "periodic alloy": _alloy,
    "slab periodic in x and y": _slab,
    "a cell smaller than the cutoff": _small_cell,
    "a far atom without neighbours": lambda: Atoms(
        "Au3", positions=[[0, 0, 0], [0, 0, 2.9], [20, 0, 0]]
    ),
    "one atom": lambda: Atoms("Pt", positions=[[0, 0, 0]]),
    "no atoms": Atoms,
}


@pytest.mark.parametrize("name", STRUCTURES)
def test_same_energies_forces_and_stress_as_ase(name):
    atoms = STRUCTURES[name]()
    ase_result, mine = _both(atoms)
    assert mine["energy"] == pytest.approx(ase_result["energy"], abs=1e-10)
    for key in ("energies", "forces", "stress"):
        if key in ase_result:
            np.testing.assert_allclose(mine[key], ase_result[key], rtol=0, atol=1e-10, err_msg=key)
    assert mine["forces"].dtype == float and mine["forces"].shape == (len(atoms), 3)
    if name == "a far atom without neighbours":  # ASE's convention: an isolated atom has -E0
        assert mine["energies"][2] == pytest.approx(3.80)
    elif not len(atoms):
        empty = Atoms(cell=[5.0, 5.0, 5.0])
        empty.calc = VectorEMT()
        assert empty.get_potential_energy() == 0.0
        empty.calc.reset()  # computed again, from the stored (empty) candidate pairs
        assert empty.get_potential_energy() == 0.0 and empty.get_forces().shape == (0, 3)
    elif len(atoms) > 1:
        assert np.abs(mine["forces"]).max() > 0.05  # the comparison is not of zeros


@pytest.mark.parametrize("name", ["open junction", "periodic alloy"])
def test_forces_stay_exact_while_atoms_move(name):
    """The stored candidate pairs are searched again before an atom can cross the cutoff."""
    atoms = STRUCTURES[name]()
    atoms.calc = VectorEMT()
    atoms.set_momenta(np.random.default_rng(0).normal(0.0, 1.0, (len(atoms), 3)))
    dyn = VelocityVerlet(atoms, timestep=5 * units.fs)
    start = atoms.positions.copy()
    for _ in range(10):
        dyn.run(4)
        reference = atoms.copy()
        reference.calc = EMT()
        assert np.abs(reference.get_forces() - atoms.get_forces()).max() < 1e-10
    assert np.abs(atoms.positions - start).max() > VectorEMT.skin  # the pairs were renewed


def test_unknown_elements_and_missing_stress_are_clear_errors():
    atoms = Atoms("AuFe", positions=[[0, 0, 0], [0, 0, 2.5]])
    atoms.calc = VectorEMT()
    with pytest.raises(InputError, match=r"VectorEMT has no parameters for Fe; it supports Al, "):
        atoms.get_forces()
    atoms = Atoms("Au2", positions=[[0, 0, 0], [0, 0, 2.9]])
    atoms.calc = VectorEMT()
    with pytest.raises(PropertyNotImplementedError, match="a 3D cell"):
        atoms.get_stress()


def test_auto_falls_back_to_the_vectorised_emt_without_asap3(monkeypatch):
    monkeypatch.setitem(sys.modules, "asap3", None)  # import asap3 raises ImportError
    assert isinstance(emt_calculator("auto"), VectorEMT)
    with pytest.raises(InputError, match="calculator='asap3' needs the asap3 package"):
        emt_calculator("asap3")
    assert type(emt_calculator("ase")) is EMT


def test_state_check_sees_every_change_and_keeps_results_without_one():
    atoms = STRUCTURES["open junction"]()
    calc = VectorEMT()
    atoms.calc = calc
    atoms.get_forces()
    first = calc.results["forces"]
    assert calc.check_state(atoms) == []
    atoms.get_forces()
    assert calc.results["forces"] is first  # kept, not computed again
    atoms.positions[3, 0] += 1e-9
    assert calc.check_state(atoms) == ["positions"]
    atoms.numbers[0] = 29
    atoms.pbc = [False, False, True]
    assert calc.check_state(atoms) == ["pbc", "numbers", "positions"]
    reference = atoms.copy()
    reference.calc = EMT()
    np.testing.assert_allclose(atoms.get_forces(), reference.get_forces(), rtol=0, atol=1e-10)
