"""EMT implementations for the break-junction MD: ASE's, vlab's vectorised one, asap3's.

Same structures, one process, one BLAS thread, the implementations interleaved in every
repeat; medians of 7 repeats. Two measures: one force call on a slightly moved structure (the
cost per MD step) and one whole short trace (``run_trace``: Langevin steps, constraints,
snapshots and contact checks included). The forces of ASE's and the vectorised EMT are compared
on every structure. asap3 is timed when importable.

    python benchmarks/emt.py    # ~3 min; writes benchmarks/results/emt.json
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from _common import write_result

from vlab.conductance import BreakJunctionProtocol, build_contact, build_wire, run_trace
from vlab.conductance.breakjunction import emt_calculator
from vlab.conductance.structures import perturb
from vlab.workflows.demo import demo_specs

REPEATS = 7

try:
    import asap3  # noqa: F401

    KINDS = ("ase", "numpy", "asap3")
except ImportError:
    KINDS = ("ase", "numpy")

QUICK_DEMO = demo_specs(quick=True)["breakjunction"]["params"]
STRUCTURES = {  # the quick demo's junction, the demo's wire, a 3x3 wire
    "contact_104_atoms": build_contact(
        **{k: v for k, v in QUICK_DEMO["structure"].items() if k != "builder"}
    ),
    "wire_160_atoms": build_wire(cross_section=(2, 2), length=4, electrode_layers=3),
    "wire_360_atoms": build_wire(cross_section=(3, 3), length=4, electrode_layers=3),
}
# the quick demo's protocol at 300 K, stopped after 2 Å or 0.5 Å after rupture
TRACE = BreakJunctionProtocol(
    temperature=300.0,
    seed=1,
    **{**QUICK_DEMO["protocol"], "max_elongation": 2.0, "post_rupture": 0.5},
)


def force_call_seconds(atoms, kind: str, calls: int = 20) -> float:
    work = perturb(atoms, amplitude=0.05, rng=0)
    work.calc = emt_calculator(kind)
    work.get_forces()
    start = time.perf_counter()
    for k in range(calls):
        work.positions[k % len(work), 2] += 1e-4  # a new geometry every call
        work.get_forces()
    return (time.perf_counter() - start) / calls


def main() -> None:
    calls = {name: {k: [] for k in KINDS} for name in STRUCTURES}
    traces = {k: [] for k in KINDS}
    difference = 0.0
    for atoms in STRUCTURES.values():
        forces = []
        for kind in ("ase", "numpy"):
            work = perturb(atoms, amplitude=0.1, rng=1)
            work.calc = emt_calculator(kind)
            forces.append(work.get_forces())
        difference = max(difference, float(np.abs(forces[0] - forces[1]).max()))
    contact = STRUCTURES["contact_104_atoms"]
    for _ in range(REPEATS):
        for name, atoms in STRUCTURES.items():
            for kind in KINDS:
                calls[name][kind].append(force_call_seconds(atoms, kind))
        for kind in KINDS:
            start = time.perf_counter()
            run_trace(contact, TRACE, calculator=kind)
            traces[kind].append(time.perf_counter() - start)

    data: dict = {"implementations": list(KINDS), "repeats": REPEATS}
    data["max_force_difference_ase_numpy_eV_per_A"] = difference
    rows = [("max |F(ase) - F(numpy)|", f"{difference:.1e} eV/Å")]
    for name in STRUCTURES:
        med = {k: statistics.median(v) for k, v in calls[name].items()}
        data[f"force_call_ms_{name}"] = {k: round(v * 1e3, 3) for k, v in med.items()}
        data[f"speedup_numpy_vs_ase_{name}"] = round(med["ase"] / med["numpy"], 1)
        shown = ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in med.items())
        ratio = med["ase"] / med["numpy"]
        rows.append((f"force call, {name}", f"{shown} (numpy/ase {ratio:.1f}x)"))
    med = {k: statistics.median(v) for k, v in traces.items()}
    data["trace_seconds_contact_104_atoms"] = {k: round(v, 3) for k, v in med.items()}
    data["trace_runs_seconds"] = {k: [round(x, 3) for x in v] for k, v in traces.items()}
    data["speedup_trace_numpy_vs_ase"] = round(med["ase"] / med["numpy"], 1)
    shown = ", ".join(f"{k} {v:.2f} s" for k, v in med.items())
    rows.append(("trace (104 atoms, 2 Å)", f"{shown} (numpy/ase {med['ase'] / med['numpy']:.1f}x)"))
    write_result("emt", data, rows)


if __name__ == "__main__":
    main()
