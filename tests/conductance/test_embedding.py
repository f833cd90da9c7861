"""Tests of embed_neck: type-a structures (the same neck between wider electrodes)."""

from __future__ import annotations

import numpy as np
import pytest

from vlab.conductance.breakjunction import BreakJunctionProtocol, run_trace
from vlab.conductance.embedding import embed_neck
from vlab.conductance.structures import build_wire, perturb, validate_structure
from vlab.conductance.transport import SBandTightBinding
from vlab.errors import InvalidStructureError


def _matches(points: np.ndarray, cloud: np.ndarray, tol: float = 1e-6) -> bool:
    dist = np.linalg.norm(points[:, None, :] - cloud[None, :, :], axis=-1)
    return bool((dist.min(axis=1) < tol).all())


@pytest.mark.parametrize(("cells", "layers", "expected"), [((2, 2), 3, 120), ((3, 3), 2, 168)])
def test_atom_counts_and_contract(cells, layers, expected):
    wire = build_wire("Au", cross_section=(1, 1), length=6, electrode_layers=3)
    big = embed_neck(wire, electrode_cross_section=cells, electrode_layers=layers)
    assert len(big) == expected
    assert 2 <= len(big) / len(wire) <= 4
    validate_structure(big)
    assert np.all(np.diff(big.positions[:, 2]) >= -1e-9)  # sorted along z
    assert big.info["embedded_from"] == 48
    assert big.info["lead_period"] == wire.info["lead_period"]


def test_device_kept_and_old_electrode_sites_reused():
    wire = perturb(build_wire("Au", cross_section=(1, 1), length=3), amplitude=0.1, rng=3)
    big = embed_neck(wire, electrode_cross_section=(3, 3))
    old_dev = wire.positions[wire.get_tags() == 0]
    new_dev = big.positions[big.get_tags() == 0]
    shift = new_dev.mean(axis=0) - old_dev.mean(axis=0)
    assert len(new_dev) == len(old_dev)
    assert _matches(old_dev + shift, new_dev)  # rigid lateral translation only
    assert abs(shift[2]) < 1e-9
    for tag in (1, 2):
        old = wire.positions[wire.get_tags() == tag] + shift
        assert _matches(old, big.positions[big.get_tags() == tag])


def test_perfect_wire_in_wider_electrodes_conducts_like_its_neck():
    calc = SBandTightBinding()
    wire = build_wire("Au", cross_section=(2, 2), length=2)
    big = embed_neck(wire, electrode_cross_section=(3, 3))
    g_wire, g_big = calc.conductance(wire), calc.conductance(big)
    assert g_wire == pytest.approx(6.0, abs=0.01)
    assert 3.0 < g_big < g_wire  # the 2x2 neck limits, interfaces scatter a little


def test_break_junction_snapshot_embeds():
    wire = build_wire("Au", cross_section=(1, 1), length=4, electrode_layers=3)
    protocol = BreakJunctionProtocol(temperature=300.0, speed=1.0, snapshot_every=0.5,
                                     equilibration=0.2, max_elongation=3.0, seed=4)  # fmt: skip
    snapshot = run_trace(wire, protocol).snapshot(-1)
    big = embed_neck(snapshot, electrode_cross_section=(2, 2))
    assert len(big) == 16 + 2 * 48
    assert 0.0 <= SBandTightBinding().conductance(big) < 3.0


def test_rejects_narrower_electrodes():
    wire = build_wire("Au", cross_section=(2, 2), length=1)
    with pytest.raises(InvalidStructureError, match=r"'electrode_cross_section'.*at least as wide"):
        embed_neck(wire, electrode_cross_section=(1, 1))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"electrode_layers": 1}, "'electrode_layers' parameter of embed_neck must be an integer"),
        ({"electrode_cross_section": (0, 2)}, "'electrode_cross_section' parameter of embed_neck"),
        ({"vacuum": -1.0}, "'vacuum' parameter of embed_neck"),
    ],
)
def test_rejects_bad_parameters(kwargs, match):
    with pytest.raises(InvalidStructureError, match=match):
        embed_neck(build_wire("Au", cross_section=(1, 1), length=1), **kwargs)


def test_rejects_other_directions():
    wire = build_wire("Au", direction="111", cross_section=(1, 1), length=1)
    with pytest.raises(InvalidStructureError, match=r"fcc \[001\] junctions only"):
        embed_neck(wire)
