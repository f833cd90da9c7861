"""Break-junction conductance lab: structures, EMT break-junction MD, transport, histograms.

Pure science: takes and returns ase.Atoms, numpy arrays and small frozen dataclasses
(no Dask, no zarr).
"""

from vlab.conductance.breakjunction import (
    BreakJunctionProtocol,
    Trace,
    emt_calculator,
    in_contact,
    run_trace,
)
from vlab.conductance.histogram import (
    conductance_histogram,
    histogram_peak,
    plot_histogram,
    plot_traces,
)
from vlab.conductance.structures import (
    ELEMENTS,
    build_contact,
    build_point_contact,
    build_wire,
    perturb,
    validate_structure,
)
from vlab.conductance.transport import (
    ExtendedHuckel,
    LeadLayers,
    SBandTightBinding,
    lead_layers,
)

__all__ = [
    "ELEMENTS",
    "BreakJunctionProtocol",
    "ExtendedHuckel",
    "LeadLayers",
    "SBandTightBinding",
    "Trace",
    "build_contact",
    "build_point_contact",
    "build_wire",
    "conductance_histogram",
    "emt_calculator",
    "histogram_peak",
    "in_contact",
    "lead_layers",
    "perturb",
    "plot_histogram",
    "plot_traces",
    "run_trace",
    "validate_structure",
]
