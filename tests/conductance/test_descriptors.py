"""Tests of the local descriptors and of the slab / soft-minimum / global pooling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

pytest.importorskip("dscribe")  # the 'descriptors' extra
from ase import Atoms

from vlab.conductance.descriptors import DescriptorSettings, compute_descriptors
from vlab.conductance.pooling import batch_slab_matrix, pool_global, slab_matrix, soft_minimum
from vlab.conductance.structures import build_point_contact, build_wire, perturb
from vlab.errors import InputError, InvalidStructureError


def _perturbed_wire(electrode_layers: int) -> Atoms:
    wire = build_wire("Au", cross_section=(1, 1), length=4, electrode_layers=electrode_layers)
    return perturb(wire, amplitude=0.15, rng=11)  # same device displacements for any PLs


# --------------------------------------------------------------------------- settings
def test_settings_round_trip_and_size():
    settings = DescriptorSettings(r_cut=5.0, n_max=4, l_max=3)
    assert DescriptorSettings.from_dict(settings.to_dict()) == settings
    assert settings.n_features == 4 * 5 // 2 * 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"r_cut": 12.0}, r"'r_cut' parameter of DescriptorSettings must be a number of Å in"),
        ({"n_max": 2.5}, r"'n_max' parameter of DescriptorSettings must be an integer in"),
        ({"species": "Au"}, r"'species' parameter of DescriptorSettings must be a non-empty"),
        ({"slab_edge": 0.0}, r"'slab_edge' parameter of DescriptorSettings"),
        ({"margin_layers": -1}, r"'margin_layers' parameter of DescriptorSettings"),
    ],
)
def test_settings_validation(kwargs, match):
    with pytest.raises(InputError, match=match):
        DescriptorSettings(**kwargs)


def test_settings_from_dict_rejects_unknown_keys():
    with pytest.raises(InputError, match=r"Unknown DescriptorSettings keys \['rcut'\]"):
        DescriptorSettings.from_dict({"rcut": 5.0})


# --------------------------------------------------------------------------- descriptors
def test_window_is_device_plus_margin_layers():
    wire = build_wire("Au", cross_section=(2, 2), length=2, electrode_layers=3)
    device = int((wire.get_tags() == 0).sum())
    for margin in (0, 1, 2):
        [desc] = compute_descriptors([wire], DescriptorSettings(margin_layers=margin))
        assert int(desc.window.sum()) == device + 2 * margin * 16  # 16 atoms per 2x2 PL
        assert desc.features.shape == (len(desc), DescriptorSettings().n_features)
        assert desc.n_atoms == len(wire)


def test_extra_electrode_layers_change_nothing():
    """Size independence: padding makes the descriptors blind to the electrode length."""
    short, long_ = _perturbed_wire(2), _perturbed_wire(5)
    a, b = compute_descriptors([short, long_])
    assert len(a) == len(b)
    order_a, order_b = np.lexsort(a.features.T[:3]), np.lexsort(b.features.T[:3])
    np.testing.assert_allclose(a.features[order_a], b.features[order_b], atol=1e-8)
    np.testing.assert_allclose(np.sort(b.z) - np.sort(a.z), 3 * 4.08, atol=1e-8)
    np.testing.assert_allclose(pool_global([a]), pool_global([b]), atol=1e-8)
    per_atom = np.random.default_rng(0).random(a.features.shape[1])
    sums = [slab_matrix(d) @ (d.features @ per_atom) for d in (a, b)]
    np.testing.assert_allclose(sums[0], sums[1], rtol=1e-9)


def test_batches_give_the_same_descriptors():
    structures = [_perturbed_wire(2), build_wire("Au", cross_section=(1, 1), length=2)]
    one = compute_descriptors(structures, batch_size=1)
    many = compute_descriptors(structures, batch_size=64)
    for x, y in zip(one, many):
        np.testing.assert_array_equal(x.features, y.features)


def test_rejects_bad_inputs():
    wire = build_wire("Au", cross_section=(1, 1), length=1)
    with pytest.raises(InputError, match=r"'structures' parameter of compute_descriptors must"):
        compute_descriptors(wire)
    with pytest.raises(InputError, match=r"item 1 is a str"):
        compute_descriptors([wire, "Au"])
    with pytest.raises(InputError, match=r"'batch_size' parameter of compute_descriptors"):
        compute_descriptors([wire], batch_size=0)
    with pytest.raises(InputError, match=r"contains \['Cu'\], which are not in the descriptor"):
        compute_descriptors([build_wire("Cu", cross_section=(1, 1), length=1)])
    untagged = wire.copy()
    untagged.set_tags(0)
    with pytest.raises(InvalidStructureError, match="tagged 1"):
        compute_descriptors([untagged])


def test_descriptors_are_dscribe_soap_of_the_centre_atoms():
    """Centres handed to dscribe as positions give the SOAP of those atoms, bit for bit."""
    from vlab.conductance.descriptors import centre_atoms

    settings = DescriptorSettings(sigma=0.3, n_max=4, l_max=3)
    atoms = _perturbed_wire(electrode_layers=2)
    [desc] = compute_descriptors([atoms], settings)
    padded, centres = centre_atoms(atoms, settings)
    assert np.array_equal(padded.positions[centres, 2], desc.z)
    from dscribe.descriptors import SOAP

    plain = SOAP(species=["Au"], r_cut=settings.r_cut, n_max=4, l_max=3, sigma=0.3)
    expected = plain.create(padded, centers=centres.tolist())  # dscribe's own checks
    assert np.array_equal(desc.features, expected)
    assert np.array_equal(
        settings._soap().create(padded, centers=padded.positions), plain.create(padded)
    )


def test_soap_generator_checks_centres_it_cannot_take_as_positions():
    """Centres that are not an (n, 3) array of positions go through dscribe's own checks."""
    from vlab.conductance.descriptors import soap_generator

    soap = soap_generator(("Au",), 4.0, 2, 1, 0.5)
    assert soap is soap_generator(("Au",), 4.0, 2, 1, 0.5)
    atoms = _perturbed_wire(electrode_layers=2)
    for bad in ([[0.0, 1.0]], np.zeros((2, 2)), []):
        with pytest.raises(ValueError, match="positions"):
            soap.create(atoms, centers=bad)


# --------------------------------------------------------------------------- pooling
def test_slab_kernel_is_the_clipped_cosine():
    from vlab.conductance.pooling import _kernel

    dz = np.linspace(-4.0, 4.0, 4001)
    x = np.clip((np.abs(dz) - 1.5) / 0.5, 0.0, 1.0)
    assert np.array_equal(_kernel(dz, 1.5, 0.5), 0.5 * (1.0 + np.cos(np.pi * x)))


def test_slab_sums_see_layers_and_gaps():
    wire = build_wire("Au", cross_section=(2, 2), length=2)
    [desc] = compute_descriptors([wire])
    sums = slab_matrix(desc) @ np.ones(len(desc))
    assert sums.min() == pytest.approx(8.0)  # a plane through one (002) layer: 8 atoms
    assert sums.max() == pytest.approx(16.0)  # a plane between two layers sees both
    closed, broken = compute_descriptors(
        [build_point_contact("Au", tip_size=2), build_point_contact("Au", tip_size=2, gap=3.0)]
    )
    low = [float((slab_matrix(d) @ np.ones(len(d))).min()) for d in (closed, broken)]
    assert low[0] > 0.9  # the apex atom's own slab
    assert low[1] < 0.05  # the vacuum gap of a broken contact


def test_batch_slab_matrix_is_the_block_diagonal_of_slab_matrices():
    wire = build_wire("Au", cross_section=(2, 2), length=2)
    descs = compute_descriptors([perturb(wire, amplitude=0.2, rng=k) for k in range(3)])
    matrix, groups = batch_slab_matrix(descs)
    blocks = [slab_matrix(d) for d in descs]
    expected = sparse.block_diag(blocks, format="csr")
    assert matrix.shape == expected.shape
    assert abs(matrix - expected).max() == 0.0
    assert groups.tolist() == [k for k, b in enumerate(blocks) for _ in range(b.shape[0])]


def test_soft_minimum_limits_and_length_independence():
    values = np.array([1.0, 2.0, 3.0, 0.5, 0.5])
    groups = np.array([0, 0, 0, 1, 1])
    np.testing.assert_allclose(soft_minimum(values, groups, 1e-3), [1.0, 0.5])
    np.testing.assert_allclose(soft_minimum(values, groups, 1e6), [2.0, 0.5], rtol=1e-5)
    doubled = soft_minimum(np.tile(values[:3], 2), np.zeros(6, int), 0.3)
    np.testing.assert_allclose(doubled, soft_minimum(values[:3], np.zeros(3, int), 0.3))


def test_pool_global_modes():
    descs = compute_descriptors([_perturbed_wire(2), build_wire("Au", cross_section=(2, 2))])
    n = descs[0].features.shape[1]
    assert pool_global(descs).shape == (2, n)
    assert pool_global(descs, mode="meanmax").shape == (2, 2 * n)
    assert np.all(pool_global(descs, mode="max") >= pool_global(descs, mode="mean") - 1e-12)
    with pytest.raises(InputError, match=r"'mode' parameter of pool_global must be one of"):
        pool_global(descs, mode="sum")


def test_a_missing_dscribe_is_one_clear_error_that_says_how_to_install_it(monkeypatch):
    import sys

    from vlab.conductance import descriptors
    from vlab.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "dscribe.descriptors", None)  # as if not installed
    descriptors.soap_generator.cache_clear()  # as in a process that never had it
    descriptors._fast_soap_class.cache_clear()
    wire = build_wire("Au", direction="001", cross_section=(1, 1), length=4, electrode_layers=2)
    with pytest.raises(MissingDependencyError) as caught:
        compute_descriptors([wire], DescriptorSettings())
    message = str(caught.value)
    assert message.startswith(
        "The Python package 'dscribe', needed for the SOAP descriptors, cannot be imported ("
    )
    assert message.endswith("): pip install 'vlab[descriptors]'.") and "\n" not in message
